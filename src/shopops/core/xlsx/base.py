"""What the XLSX guard's parts share: limits, refusals, cell references, pattern builders, expat set-up."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from xml.parsers import expat

from django.conf import settings

EXCEL_ROWS = 1_048_576
EXCEL_COLUMNS = 16_384
MIB = 1 << 20
CHUNK_BYTES = MIB
MAX_CHUNK_BYTES = 16 * MIB  # a row or cell longer than this goes to the expat scan
MAX_SHEET_XML_BYTES = 2048 * MIB  # calamine streams the sheet's XML: its size costs time, not memory
# calamine 0.9.1 holds ~32 bytes per cell of the rectangle and ~32 more per cell written (measured:
# an empty 1M-cell rectangle costs 31 MB, 5M filled cells 330 MB besides their text)
BYTES_PER_CELL = 64
BYTES_PER_SHARED_STRING = 24

CELL_REFERENCE = re.compile(r"^([A-Za-z]{1,3})([0-9]{1,7})$")
HEX_ESCAPE = re.compile(r"_x([0-9A-Fa-f]{4})_")


class Refused(Exception):
    """The workbook is not read: `message` for the person who uploaded it, `reason` for the file field."""

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.message = message
        self.reason = reason


@dataclass(frozen=True)
class Limits:
    """What one sheet may cost: columns and cells of its rectangle from A1, and calamine's memory for it."""

    max_columns: int
    max_cells: int
    max_memory_bytes: int

    @classmethod
    def from_settings(cls) -> Limits:
        return cls(
            max_columns=settings.IMPORT_XLSX_MAX_COLUMNS,
            max_cells=settings.IMPORT_XLSX_MAX_CELLS,
            max_memory_bytes=settings.IMPORT_XLSX_MAX_MEMORY_MB * MIB,
        )

    def too_much_memory(self, needed: int) -> Refused:
        return Refused(
            f"工作表过大：读取它约需 {needed // MIB + 1:,} MB 内存（上限 {self.max_memory_bytes // MIB:,} MB），"
            "请删除多余的空行空列、拆分文件，或另存为 CSV 再导入",
            "工作表过大",
        )

    def check_range(self, reference: str, rows: int, columns: int, *, declared: bool) -> None:
        """Refuse a rectangle from A1 wider or larger than allowed (as declared by the sheet, or measured)."""
        cells = rows * columns
        if columns <= self.max_columns and cells <= self.max_cells:
            return
        what = "声明的范围" if declared else "的数据范围"
        raise Refused(
            f"工作表{what}过大（{reference}，约 {cells:,} 个单元格；上限 {self.max_columns} 列、"
            f"{self.max_cells:,} 个单元格），请删除多余的空行空列后另存为 CSV 或 XLSX 再导入",
            "工作表范围过大",
        )


@dataclass(frozen=True)
class Measure:
    """An upper bound of what calamine allocates for the sheet; `rows`: the last row written (about)."""

    rows: int
    columns: int
    memory_bytes: int


def malformed(detail: str) -> Refused:
    return Refused(f"无法读取工作簿：{detail}", "文件已损坏或不是有效的 XLSX")


def column_name(number: int) -> str:
    """1 → A, 27 → AA, 16384 → XFD."""
    letters = ""
    while number > 0:
        number, remainder = divmod(number - 1, 26)
        letters = chr(65 + remainder) + letters
    return letters


def column_number(letters: str) -> int:
    number = 0
    for letter in letters.upper():
        number = number * 26 + ord(letter) - 64
    return number


def parse_reference(text: str) -> tuple[int, int]:
    """`B3` → (row 3, column 2), 1-based; refused for what is not a cell of an Excel sheet."""
    match = CELL_REFERENCE.match(text.strip())
    if match is None:
        raise malformed(f"单元格位置“{text[:20]}”无效")
    row, column = int(match[2]), column_number(match[1])
    if not (1 <= row <= EXCEL_ROWS and 1 <= column <= EXCEL_COLUMNS):
        raise malformed(f"单元格位置“{text[:20]}”超出 Excel 的范围")
    return row, column


def row_number(text: str) -> int:
    """A `<row r>` as calamine reads it: its digits (a column part is ignored)."""
    digits = "".join(char for char in text if char.isdigit())
    row = int(digits) if digits and len(digits) <= 7 else 0
    if not 1 <= row <= EXCEL_ROWS:
        raise malformed(f"行号“{text[:20]}”无效")
    return row


def numbers_up_to(limit: int) -> str:
    """A regular expression for the decimal numbers 1…limit (without leading zeros)."""
    digits = str(limit)
    parts = [rf"[1-9][0-9]{{0,{len(digits) - 2}}}"] if len(digits) > 1 else []
    for position, digit in enumerate(digits):
        low, high = (1 if position == 0 else 0), int(digit) - 1
        if high >= low:
            parts.append(rf"{digits[:position]}[{low}-{high}][0-9]{{{len(digits) - position - 1}}}")
    parts.append(digits)
    return "(?:" + "|".join(parts) + ")"


def columns_up_to(limit: int) -> str:
    """A regular expression for the column letters A…column_name(limit)."""
    name = column_name(limit)
    parts = [f"[A-Z]{{{length}}}" for length in range(1, len(name))]
    for position, letter in enumerate(name):
        if letter > "A":
            parts.append(f"{name[:position]}[A-{chr(ord(letter) - 1)}][A-Z]{{{len(name) - position - 1}}}")
    parts.append(name)
    return "(?:" + "|".join(parts) + ")"


def local_name(name: str) -> str:
    """An element or attribute name without its namespace (`{ns}sheet`, `x:c` → sheet, c)."""
    return name.rpartition("}")[2].rpartition(":")[2]


def unescape(text: str) -> str:
    """calamine's `_xHHHH_` escapes (Excel writes control characters so)."""
    return HEX_ESCAPE.sub(lambda match: chr(int(match[1], 16)), text)


def expat_parser(
    start: Callable[[str, dict[str, str]], None], end: Callable[[str], None], text: Callable[[str], None]
) -> Any:
    """An expat parser without namespace processing (calamine matches local names) that refuses a DTD."""
    parser = expat.ParserCreate()
    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = text
    parser.buffer_text = True

    def refuse_dtd(*_arguments: Any) -> None:
        raise malformed("XML 中含有 DTD")

    parser.StartDoctypeDeclHandler = refuse_dtd
    return parser


def feed(parser: Any, block: bytes, *, final: bool = False) -> None:
    try:
        parser.Parse(block, final)
    except expat.ExpatError as error:
        raise malformed(f"XML 格式错误（{error}）") from error
