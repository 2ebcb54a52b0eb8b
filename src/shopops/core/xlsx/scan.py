"""Measuring a sheet for calamine: the shared strings' sizes and the rectangle of the cell references.

Both are streamed in chunks and nothing is kept. The byte patterns hold for cells written `<c r="A1"…`
(every writer we know); a part written otherwise is measured with expat, element by element.
"""

from __future__ import annotations

import re
from array import array
from collections.abc import Callable, Iterator

from shopops.core.xlsx.base import (
    BYTES_PER_CELL,
    BYTES_PER_SHARED_STRING,
    EXCEL_COLUMNS,
    EXCEL_ROWS,
    MAX_CHUNK_BYTES,
    Limits,
    Measure,
    column_name,
    column_number,
    columns_up_to,
    expat_parser,
    feed,
    malformed,
    numbers_up_to,
    parse_reference,
    row_number,
)

# A cell tag the byte patterns can measure: `r` first (calamine takes the last `r` of a tag, and a quoted
# value may hold a `>`, so every attribute is checked), then only the attributes Excel writes.
CELL_ATTRIBUTES = rb'(?: (?:s|t|cm|vm|ph)="[^"<>]*")*/?>'
REFERENCE_TEXT = rb"[A-Z]{1,3}[0-9]{1,7}"
IRREGULAR = re.compile(rb'<c(?! r="' + REFERENCE_TEXT + rb'"' + CELL_ATTRIBUTES + rb")[\s/>]")
# measured row by row: cells without `r` too, and row tags with any plain attributes
NOT_ROW_WISE = re.compile(
    rb'<c(?!(?: r="' + REFERENCE_TEXT + rb'")?' + CELL_ATTRIBUTES + rb")[\s/>]"
    rb'|<row(?!(?: [A-Za-z][\w:.\-]*="[^"<>]*")*/?>)[\s/>]'
)
# calamine matches local names: `<x:c>` is a cell too
PREFIXED_NAME = re.compile(rb":(?:c|v|is|si|t|row)[\s/>]")
TAG_PREFIX = re.compile(rb"</?[A-Za-z_][\w.\-]*")
REFERENCE = re.compile(rb'<c r="([A-Z]{1,3})([0-9]{1,7})"')
ROW_TAG = re.compile(rb"<row\b[^>]*?\br\s*=\s*[\"']([^\"']*)[\"']")
COLUMN_LETTERS = re.compile(rb'<c r="([A-Z]{1,3})')
ROW_DIGITS = re.compile(rb'<c r="[A-Z]{1,3}([0-9]{1,7})')
SHARED_REFERENCE = re.compile(rb'"s"[^<>]*><v>([0-9]{1,10})</v>')
# the fewest bytes a cell copying a shared string takes: <c t="s"><v>0</v></c>
MIN_SHARED_CELL_BYTES = 21
UNIQUE_COUNT = re.compile(rb"<(?:[\w.\-]+:)?sst\b[^>]*?\buniqueCount\s*=\s*[\"']\s*\+?([0-9]+)")


class Cut(Exception):
    """The byte patterns met what they cannot measure: measure with expat instead."""


class Wider(Exception):
    """A cell lies outside the rectangle first assumed: measure the references themselves."""


class Rows(Exception):
    """Cells without `r`: measure row by row."""


def cut_chunks(blocks: Iterator[bytes], cuts: tuple[bytes, ...]) -> Iterator[bytes]:
    """Blocks regrouped into pieces that end just after the last of the first of `cuts` found, so that
    no cell or shared string is split between two pieces."""
    carry = b""
    for block in blocks:
        data = carry + block
        end = -1
        for cut in cuts:
            if (found := data.rfind(cut)) >= 0:
                end = found + len(cut)
                break
        if end < 0:
            if len(data) > MAX_CHUNK_BYTES:
                raise Cut
            carry = data
            continue
        carry = data[end:]
        yield data[:end]
    if carry:
        yield carry


def has_prefixed(chunk: bytes) -> bool:
    """Whether an element that matters (c, v, is, si, t) is written with a namespace prefix."""
    for hit in PREFIXED_NAME.finditer(chunk):
        opening = chunk.rfind(b"<", 0, hit.start())
        if opening >= 0 and TAG_PREFIX.fullmatch(chunk, opening, hit.start()):
            return True
    return False


def outside(rows: int, columns: int) -> re.Pattern[bytes]:
    """A cell that is not `<c r="…"` with a reference inside columns × rows."""
    inside = (columns_up_to(columns) + numbers_up_to(rows)).encode()
    return re.compile(rb'<c(?! r="' + inside + rb'"' + CELL_ATTRIBUTES + rb")[\s/>]")


class StringLengths:
    """Upper bounds of the shared strings' sizes in bytes, by index, and what calamine holds for them."""

    def __init__(self) -> None:
        self.lengths = array("I")
        self.longest = 0
        self.xml_bytes = 0
        self.declared = 0  # the table's uniqueCount: calamine reserves room for that many up front

    @property
    def memory_bytes(self) -> int:
        return self.xml_bytes + BYTES_PER_SHARED_STRING * max(len(self.lengths), self.declared)

    def by_patterns(self, chunks: Iterator[bytes]) -> None:
        """Each `<si>` measured as its bytes up to the next one: no fewer than its text's."""
        current: int | None = None
        for chunk in chunks:
            self.xml_bytes += len(chunk)
            if b"<!" in chunk or has_prefixed(chunk) or chunk.count(b"<si") != chunk.count(b"<si>"):
                raise Cut
            if not self.declared and (match := UNIQUE_COUNT.search(chunk)):
                self.declared = int(match[1])
            pieces = chunk.split(b"<si>")
            if current is not None:
                current += len(pieces[0])
            if len(pieces) > 1:
                if current is not None:
                    self.lengths.append(current)
                self.lengths.extend(map(len, pieces[1:-1]))
                current = len(pieces[-1])
        if current is not None:
            self.lengths.append(current)
        self.longest = max(self.lengths, default=0)

    def by_expat(self, blocks: Iterator[bytes]) -> None:
        depth = 0  # calamine reads an <si> inside another as part of it
        length = 0

        def start(name: str, attributes: dict[str, str]) -> None:
            nonlocal depth, length
            local = name.rpartition(":")[2]
            if local == "sst" and not self.declared:
                count = attributes.get("uniqueCount", "").strip().lstrip("+")
                self.declared = int(count) if count.isdigit() else 0
            elif local == "si":
                length = length if depth else 0
                depth += 1

        def end(name: str) -> None:
            nonlocal depth
            if name.rpartition(":")[2] == "si" and depth:
                depth -= 1
                if not depth:
                    self.lengths.append(length)

        def text(data: str) -> None:
            nonlocal length
            if depth:
                length += len(data.encode())

        parser = expat_parser(start, end, text)
        for block in blocks:
            self.xml_bytes += len(block)
            feed(parser, block)
        feed(parser, b"", final=True)
        self.longest = max(self.lengths, default=0)


class SheetScan:
    """calamine's bound for a sheet added up over its XML: the rectangle of its cell references, the
    shared strings its cells copy, the text it keeps from the XML itself (inline strings, `str` and `d`
    values, values that are no number: no longer than the XML), and `fixed` (the file and the parts
    calamine holds). Refused beyond the limits as soon as that is known."""

    def __init__(
        self,
        *,
        chunks: Callable[[], Iterator[bytes]],
        blocks: Callable[[], Iterator[bytes]],
        width: int,
        limits: Limits,
        strings: StringLengths,
        fixed: int,
    ) -> None:
        self.chunks = chunks
        self.blocks = blocks
        self.width = max(width, 1)
        self.limits = limits
        self.strings = strings
        self.fixed = fixed
        self.rows = self.columns = self.text = 0

    def memory(self) -> int:
        return self.fixed + BYTES_PER_CELL * self.rows * self.columns + self.text

    def check(self) -> None:
        if self.rows * self.columns > self.limits.max_cells or self.columns > self.limits.max_columns:
            reference = f"A1:{column_name(self.columns)}{self.rows}"
            self.limits.check_range(reference, self.rows, self.columns, declared=False)
        if self.memory() > self.limits.max_memory_bytes:
            raise self.limits.too_much_memory(self.memory())

    def measure(self) -> Measure:
        mode = self._bounded
        while True:
            try:
                return mode()
            except Wider:
                mode = self._exact
            except Rows:
                mode = self._by_rows
            except Cut:
                mode = self._by_expat

    def _bounded(self) -> Measure:
        """The usual sheet, cheaply: every cell `<c r="…"` inside a rectangle as wide as its header (or
        declared dimension) and as high as the cell limit lets it be, which then bounds calamine's; each
        chunk copies at most one longest shared string per MIN_SHARED_CELL_BYTES. One pattern search per
        chunk, no reference taken apart. Wider when that bound is over the limit: measure exactly."""
        height = min(EXCEL_ROWS, self.limits.max_cells // self.width)
        beyond = outside(height, self.width)
        longest = self.strings.longest
        last_row = text = 0
        for chunk in self.chunks():
            if beyond.search(chunk) or has_prefixed(chunk):
                raise Cut if has_prefixed(chunk) else Rows if IRREGULAR.search(chunk) else Wider
            text += len(chunk) + len(chunk) // MIN_SHARED_CELL_BYTES * longest
            last_row = max(last_row, _last_cell_row(chunk))
        self.rows, self.columns, self.text = height, self.width, text
        if self.memory() > self.limits.max_memory_bytes:
            raise Wider
        return Measure(rows=last_row, columns=self.width, memory_bytes=self.memory())

    def _exact(self) -> Measure:
        """Every cell `<c r="…"`: the largest column and row named (from each chunk's distinct ones) and
        the shared string each reference copies."""
        self.rows = self.columns = self.text = 0
        for chunk in self.chunks():
            if has_prefixed(chunk):
                raise Cut
            if IRREGULAR.search(chunk):
                raise Rows
            if letters := set(COLUMN_LETTERS.findall(chunk)):
                self.columns = max(self.columns, *(column_number(name.decode()) for name in letters))
            if rows := set(ROW_DIGITS.findall(chunk)):
                self.rows = max(self.rows, *map(int, rows))
            if self.rows > EXCEL_ROWS or self.columns > EXCEL_COLUMNS:
                raise malformed("单元格位置超出 Excel 的范围")
            self.text += len(chunk) + self._shared_text(chunk)
            self.check()
        return Measure(rows=self.rows, columns=self.columns, memory_bytes=self.memory())

    def _by_rows(self) -> Measure:
        """Cells without `r` too (calamine puts one after the previous cell of its row): a row is at most
        as wide as its last reference plus its cells, and its cells without `r` are on the row calamine
        is on. Some pattern work per row, none per cell."""
        self.rows = self.columns = self.text = 0
        row_index, carry = 1, b""
        for chunk in self.chunks():
            if has_prefixed(chunk) or NOT_ROW_WISE.search(chunk):
                raise Cut
            *pieces, carry = (carry + chunk).split(b"</row>")
            if len(carry) > MAX_CHUNK_BYTES:
                raise Cut
            for piece in pieces:
                row_index = self._row(piece, row_index) + 1
            self.text += len(chunk) + self._shared_text(chunk)
            self.check()
        self._row(carry, row_index)
        self.check()
        return Measure(rows=self.rows, columns=self.columns, memory_bytes=self.memory())

    def _row(self, piece: bytes, row_index: int) -> int:
        """Take in the cells of one row's XML; the row calamine is on at its end."""
        tag = _row_tag(piece)
        if cells := piece.count(b"<c"):
            references = REFERENCE.findall(piece) if b'<c r="' in piece else []
            column = max((column_number(letters.decode()) for letters, _ in references), default=0)
            row = max((int(digits) for _, digits in references), default=0)
            if cells > len(references):
                row = max(row, row_index, tag[1] if tag else 0)
                column += cells - len(references)
            if row > EXCEL_ROWS or column > EXCEL_COLUMNS:
                raise malformed("单元格位置超出 Excel 的范围")
            self.rows, self.columns = max(self.rows, row), max(self.columns, column)
        return tag[0] if tag else row_index

    def _shared_text(self, chunk: bytes) -> int:
        """The shared strings the chunk's cells copy: the longest one per MIN_SHARED_CELL_BYTES while the
        total stays within the limit with it, else each reference's own (the longest for any other "s",
        a t="s" not written so)."""
        longest = self.strings.longest
        rough = len(chunk) // MIN_SHARED_CELL_BYTES * longest
        if not rough or self.memory() + len(chunk) + rough <= self.limits.max_memory_bytes:
            return rough
        candidates = chunk.count(b'"s"') + chunk.count(b"'s'")
        found = SHARED_REFERENCE.findall(chunk)
        try:
            exact = sum(map(self.strings.lengths.__getitem__, map(int, found)))
        except IndexError:  # calamine refuses such a reference; bound it as the others
            exact = len(found) * longest
        return exact + max(candidates - len(found), 0) * longest

    def _by_expat(self) -> Measure:
        self.rows = self.columns = self.text = 0
        cells = _PlacedCells(self)
        parser = expat_parser(cells.start, cells.end, cells.text)
        for block in self.blocks():
            feed(parser, block)
        feed(parser, b"", final=True)
        self.check()
        return Measure(rows=self.rows, columns=self.columns, memory_bytes=self.memory())


class _PlacedCells:
    """expat handlers placing every cell as calamine does: at its `r`, else after the previous one of its
    row (at the row's `r`, else the row after the previous row)."""

    def __init__(self, scan: SheetScan) -> None:
        self.scan = scan
        self.row = 1
        self.column = 1
        self.shared: list[str] | None = None  # the text of a t="s" cell being read
        self.in_cell = False
        self.count = 0

    def start(self, name: str, attributes: dict[str, str]) -> None:
        local = name.rpartition(":")[2]
        if local == "row" and "r" in attributes:
            self.row = row_number(attributes["r"])
        elif local == "c":
            row = self.row
            if "r" in attributes:
                row, self.column = parse_reference(attributes["r"])
            if row > EXCEL_ROWS or self.column > EXCEL_COLUMNS:
                raise malformed(f"单元格位置（第 {row} 行第 {self.column} 列）超出 Excel 的范围")
            scan = self.scan
            scan.rows, scan.columns = max(scan.rows, row), max(scan.columns, self.column)
            self.shared, self.in_cell = ([] if attributes.get("t") == "s" else None), True
            self.count += 1
            if self.count % 4096 == 0:
                scan.check()

    def end(self, name: str) -> None:
        local = name.rpartition(":")[2]
        if local == "c":
            if self.shared is not None:
                strings = self.scan.strings
                index = "".join(self.shared).strip()
                number = int(index) if index.isdigit() else -1
                self.scan.text += (
                    strings.lengths[number] if 0 <= number < len(strings.lengths) else strings.longest
                )
            self.shared, self.in_cell = None, False
            self.column += 1
        elif local == "row":
            self.row += 1
            self.column = 1

    def text(self, data: str) -> None:
        if self.shared is not None:
            self.shared.append(data)
        elif self.in_cell:
            self.scan.text += len(data.encode())


def _row_tag(piece: bytes) -> tuple[int, int] | None:
    """The last and the largest `<row r>` in a row's XML (None without one): one `<row r="…"` read
    directly, anything else by pattern."""
    start = piece.find(b"<row")
    if start < 0:
        return None
    if piece.find(b"<row", start + 4) < 0 and piece.startswith(b'<row r="', start):
        digits = piece[start + 8 : piece.find(b'"', start + 8)]
        if digits.isdigit() and len(digits) <= 7 and 1 <= (number := int(digits)) <= EXCEL_ROWS:
            return number, number
    numbers = [row_number(value.decode("ascii", "replace")) for value in ROW_TAG.findall(piece)]
    return (numbers[-1], max(numbers)) if numbers else None


def _last_cell_row(chunk: bytes) -> int:
    """The row of the chunk's last cell reference (0 without one)."""
    found = chunk.rfind(b'<c r="')
    if found < 0:
        return 0
    reference = chunk[found + 6 : chunk.find(b'"', found + 6)]
    digits = reference.lstrip(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ")
    return int(digits) if digits.isdigit() and len(digits) <= 7 else EXCEL_ROWS
