"""The first rows of a sheet, streamed with expat, and the shared strings they use, as calamine reads them."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from shopops.core.xlsx.base import expat_parser, feed, parse_reference, row_number, unescape


class SharedStrings:
    """The shared strings, parsed only as far as the rows asked for need."""

    def __init__(self, blocks: Iterator[bytes]) -> None:
        self.blocks: Iterator[bytes] | None = blocks
        self.strings: list[str] = []
        self.parser = expat_parser(self._start, self._end, self._text)
        self.depth = 0  # calamine reads an <si> inside another as part of it
        self.in_phonetic = False
        self.preserve = False
        self.parts: list[str] = []
        self.value: list[str] | None = None

    def get(self, index: int) -> str:
        while len(self.strings) <= index and self.blocks is not None:
            block = next(self.blocks, None)
            feed(self.parser, block or b"", final=block is None)
            if block is None:
                self.blocks = None
        return self.strings[index] if index < len(self.strings) else ""

    def _start(self, name: str, attributes: dict[str, str]) -> None:
        local = name.rpartition(":")[2]
        if local == "si":
            self.parts = self.parts if self.depth else []
            self.depth += 1
        elif local == "rPh":
            self.in_phonetic = True
        elif local == "t" and self.depth and not self.in_phonetic:
            self.value, self.preserve = [], attributes.get("xml:space") == "preserve"

    def _end(self, name: str) -> None:
        local = name.rpartition(":")[2]
        if local == "t" and self.value is not None:
            value = "".join(self.value)
            self.parts.append(unescape(value if self.preserve else value.strip(" \t\r\n")))
            self.value = None
        elif local == "rPh":
            self.in_phonetic = False
        elif local == "si" and self.depth:
            self.depth -= 1
            if not self.depth:
                self.strings.append("".join(self.parts))

    def _text(self, data: str) -> None:
        if self.value is not None:
            self.value.append(data)


class RowReader:
    """Rows of a sheet from its streamed XML, cells placed and valued as calamine does (columns from A)."""

    def __init__(self, shared: Callable[[int], str]) -> None:
        self.shared = shared
        self.parser = expat_parser(self._start, self._end, self._text)
        self.row_index = 1  # where calamine puts a cell without `r`
        self.column_index = 1
        self.rows: dict[int, dict[int, tuple[Any, bool]]] = {}  # row → column → (value, is text)
        self.finished: list[tuple[int, list[Any], list[int]]] = []
        self.last_row = 0  # the last row ended so far
        self.cell: tuple[int, int, str | None] | None = None
        self.value: list[str] | None = None
        self.inline: list[str] | None = None
        self.in_phonetic = False

    def feed(self, block: bytes) -> list[tuple[int, list[Any], list[int]]]:
        """The rows with cells whose `</row>` the block reached, in order: (number, cells from column A,
        positions of the text cells). A cell's row is its reference's, whichever `<row>` holds it."""
        feed(self.parser, block)
        finished, self.finished = self.finished, []
        return finished

    def _finish_rows(self) -> None:
        for number in sorted(self.rows):
            row = self.rows[number]
            cells: list[Any] = [""] * max(row)
            for column, (value, _is_text) in row.items():
                cells[column - 1] = value
            positions = sorted(column - 1 for column, (_value, is_text) in row.items() if is_text)
            self.finished.append((number, cells, positions))
        self.rows = {}

    def _start(self, name: str, attributes: dict[str, str]) -> None:
        local = name.rpartition(":")[2]
        if local == "row" and "r" in attributes:
            self.row_index = row_number(attributes["r"])
        elif local == "c":
            if "r" in attributes:
                row, column = parse_reference(attributes["r"])
                self.column_index = column
            else:
                row, column = self.row_index, self.column_index
            self.cell, self.value, self.inline = (row, column, attributes.get("t")), None, None
        elif self.cell is not None:
            if local == "v":
                self.value = []
            elif local == "is":
                self.inline = []
            elif local == "rPh":
                self.in_phonetic = True

    def _text(self, data: str) -> None:
        if self.value is not None:
            self.value.append(data)
        elif self.inline is not None and not self.in_phonetic:
            self.inline.append(data)

    def _end(self, name: str) -> None:
        local = name.rpartition(":")[2]
        if local == "rPh":
            self.in_phonetic = False
        elif local == "c" and self.cell is not None:
            self._keep()
            self.column_index += 1
        elif local == "row":
            self._finish_rows()
            self.last_row = max(self.last_row, self.row_index)
            self.row_index += 1
            self.column_index = 1

    def _keep(self) -> None:
        assert self.cell is not None
        row, column, kind = self.cell
        value: Any
        if self.inline is not None:
            value, is_text = unescape("".join(self.inline).strip(" \t\r\n")), True
        elif self.value is not None:
            value, is_text = self._value("".join(self.value), kind)
        else:
            value, is_text = "", False
        self.cell = None
        if value != "":
            self.rows.setdefault(row, {})[column] = (value, is_text)

    def _value(self, raw: str, kind: str | None) -> tuple[Any, bool]:
        if kind == "s":
            index = raw.strip()
            return (self.shared(int(index)), True) if index.isdigit() else ("", False)
        if kind == "b":
            return raw.strip() in ("1", "true"), False
        if kind in (None, "n"):
            try:
                return float(raw), False
            except ValueError:
                return raw, False
        return raw, False  # str, d, e: text that calamine may give another type
