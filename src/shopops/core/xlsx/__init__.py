"""XLSX guard: a workbook's sheet measured from the zip, in bounded chunks, before calamine reads it.

python-calamine holds a whole sheet in memory: a value for every cell of the rectangle from A1 to the
farthest cell written (a 1.6 KB file with one cell at XFD1048576 asks for 512 GiB), a copy of a shared
string for every cell that uses it, room for as many shared strings as the file announces. Its Rust
code aborts the process when an allocation fails — the web server or the job worker with it — so
nothing reaches it unmeasured. `Workbook` checks the zip (entries, names, sizes, CRCs) and the declared
dimension when it opens; `leading_rows` streams the first rows, so an importer refuses a wrong header
before the rest is read; `measure` streams the shared strings and the cell references (nothing kept)
into an upper bound of what calamine will allocate (`scan`), refused above `settings.IMPORT_XLSX_*`.
Parts are found the way calamine 0.37 finds them.
"""

from __future__ import annotations

import re
import zipfile
import zlib
from collections.abc import Callable, Iterator
from typing import IO, Any
from xml.etree import ElementTree

from shopops.core.xlsx.base import (
    CHUNK_BYTES,
    MAX_SHEET_XML_BYTES,
    MIB,
    Limits,
    Measure,
    Refused,
    local_name,
    malformed,
    parse_reference,
)
from shopops.core.xlsx.rows import RowReader, SharedStrings
from shopops.core.xlsx.scan import Cut, SheetScan, StringLengths, cut_chunks

__all__ = ["Header", "Limits", "Measure", "Refused", "Workbook"]

HEAD_BYTES = 64 * 1024  # the sheet's <dimension> comes before its data
LEADING_BYTES = 16 * MIB  # how far the header is looked for; further, the sheet is measured first
LEADING_PIECE_BYTES = 16 * 1024
MAX_ENTRIES = 10_000
MAX_METADATA_BYTES = 32 * MIB  # relationships and workbook.xml, parsed whole here
# sheets inflate 10-20 times (Excel, WPS, xlsxwriter); past 200 times and 64 MB it is a decompression bomb,
# refused before any time is spent streaming it
MAX_RATIO = 200
RATIO_FLOOR_BYTES = 64 * MIB
OFFICE_DOCUMENT = "/relationships/officeDocument"
OLE_SIGNATURE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
DIMENSION = re.compile(rb"<(?:[\w.\-]+:)?dimension\b[^>]*?\bref\s*=\s*[\"']([^\"']*)[\"']")
SHEET_DATA = re.compile(rb"<(?:[\w.\-]+:)?sheetData[\s/>]")
DAMAGE = (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, RuntimeError, OSError)


class Header:
    """The first non-empty row as read here: its number, its cells from column A, which cells are text."""

    def __init__(self, number: int, cells: list[Any], text_positions: list[int]) -> None:
        self.number = number
        self.cells = cells
        self.text_positions = text_positions


class Workbook:
    """An XLSX file opened as a zip, its parts checked and the sheet calamine will read found.

    Refused when the file is not an XLSX workbook, is damaged, has too many entries or two entries
    calamine would take for one another, or when the sheet declares a range beyond the limits."""

    header: Header | None = None
    _leading = (0, 0)  # bytes of the sheet read and the last row ended when the header was found

    def __init__(self, handle: IO[bytes], *, sheet: str | None, file_size: int, limits: Limits) -> None:
        self.limits = limits
        self.file_size = file_size
        signature = handle.read(len(OLE_SIGNATURE))
        handle.seek(0)
        if signature == OLE_SIGNATURE:
            raise Refused(
                "这是旧版 Excel（.xls）或加密的工作簿，请在 Excel/WPS 中另存为 XLSX（不加密）或 CSV 后导入",
                "不是 XLSX 文件",
            )
        try:
            self.zip = zipfile.ZipFile(handle)
        except (zipfile.BadZipFile, OSError, ValueError) as error:
            raise Refused("无法读取工作簿：不是有效的 XLSX 文件", "不是 XLSX 文件") from error
        try:
            self._index_entries()
            self.base = self._package_base()
            self.sheet_name, self.sheet = self._find_sheet(sheet)
            self.sheet_size = self.entries[self.sheet.lower()].file_size
            self.dimension = self._declared_dimension()
        except BaseException:
            self.zip.close()
            raise

    def close(self) -> None:
        self.zip.close()

    def __enter__(self) -> Workbook:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # Parts.

    def _index_entries(self) -> None:
        entries = self.zip.infolist()
        if len(entries) > MAX_ENTRIES:
            raise malformed(f"zip 包内文件过多（{len(entries):,} 个）")
        # calamine looks parts up case-insensitively (`\` taken for `/`): of two entries that differ only
        # so, it could read another than the one measured here
        self.entries: dict[str, zipfile.ZipInfo] = {}
        for info in entries:
            key = info.filename.replace("\\", "/").lower()
            if key in self.entries:
                raise malformed(f"zip 包内有重名的文件 {info.filename}")
            self.entries[key] = info
        if "xl/workbook.bin" in self.entries:
            raise Refused("不支持 .xlsb 工作簿，请在 Excel/WPS 中另存为 XLSX 或 CSV 后导入", "不是 XLSX 文件")

    def _entry(self, path: str) -> zipfile.ZipInfo | None:
        return self.entries.get(path.lower())

    def _stream(self, info: zipfile.ZipInfo, *, limit: int) -> Iterator[bytes]:
        """The part's bytes in blocks as they are inflated; refused past `limit` bytes (declared or real)
        and when damaged (zipfile checks the size and the CRC at the end)."""
        if info.file_size > limit:
            raise self._too_large(info, info.file_size)
        seen = 0
        try:
            with self.zip.open(info) as part:
                while block := part.read(CHUNK_BYTES):
                    seen += len(block)
                    if seen > limit:
                        raise self._too_large(info, seen)
                    yield block
        except DAMAGE as error:
            raise malformed(f"{info.filename} 已损坏（{error}）") from error

    def _too_large(self, info: zipfile.ZipInfo, size: int) -> Refused:
        if info.filename == getattr(self, "sheet", None) and size > MAX_SHEET_XML_BYTES:
            return Refused(
                f"工作表过大（解压后超过 {MAX_SHEET_XML_BYTES // MIB:,} MB），请拆分文件或另存为 CSV 再导入",
                "工作表过大",
            )
        if size > self.limits.max_memory_bytes:
            return self.limits.too_much_memory(size)
        return malformed(f"{info.filename} 过大（{size // MIB + 1:,} MB）")

    def _sheet_blocks(self) -> Iterator[bytes]:
        return self._stream(self.entries[self.sheet.lower()], limit=MAX_SHEET_XML_BYTES)

    def _xml(self, path: str) -> ElementTree.Element | None:
        info = self._entry(path)
        if info is None:
            return None
        data = b"".join(self._stream(info, limit=MAX_METADATA_BYTES))
        if b"<!DOCTYPE" in data:
            raise malformed(f"{info.filename} 中含有 DTD")
        try:
            return ElementTree.fromstring(data)
        except ElementTree.ParseError as error:
            raise malformed(f"{info.filename} 不是有效的 XML（{error}）") from error

    def _package_base(self) -> str:
        """The folder of the workbook part (`xl/`), from the package relationships."""
        root = self._xml("_rels/.rels")
        if root is None:
            raise Refused(
                "无法读取工作簿：不是 XLSX 文件（.ods 等格式请在 Excel/WPS 中另存为 XLSX 或 CSV 后导入）",
                "不是 XLSX 文件",
            )
        target = None
        for element in root.iter():
            if local_name(element.tag) == "Relationship" and element.get("Type", "").endswith(
                OFFICE_DOCUMENT
            ):
                target = element.get("Target")  # the last one, as calamine takes it
        if target is None:
            raise malformed("找不到工作簿主体")
        return target[: target.rfind("/") + 1].removeprefix("/")

    def _find_sheet(self, wanted: str | None) -> tuple[str, str]:
        """The sheet's name and the zip entry of its XML (the first sheet unless one is named)."""
        rels = self._xml(f"{self.base}_rels/workbook.xml.rels")
        if rels is None:
            raise malformed("缺少工作簿的关系表")
        targets = {
            element.get("Id", ""): element.get("Target", "")
            for element in rels.iter()
            if local_name(element.tag) == "Relationship" and element.get("Id") is not None
        }
        workbook = self._xml(f"{self.base}workbook.xml")
        sheets: list[tuple[str, str]] = []
        for element in workbook.iter() if workbook is not None else ():
            if local_name(element.tag) == "sheet":
                ids = [value for key, value in element.attrib.items() if local_name(key) == "id"]
                target = targets.get(ids[-1], "") if ids else ""
                path = target[1:] if target.startswith("/") else self.base + target
                sheets.append((element.get("name", ""), path))
        names = [name for name, _path in sheets]
        if wanted is not None and wanted not in names:
            shown = "、".join(names) or "无"
            raise Refused(f"工作簿中没有名为“{wanted}”的工作表（有：{shown}）", "工作表不存在")
        if not sheets:
            raise malformed("工作簿中没有工作表")
        name = names[0] if wanted is None else wanted
        info = self._entry(next(path for sheet_name, path in sheets if sheet_name == name))
        if info is None:
            raise malformed(f"找不到工作表“{name}”的内容")
        return name, info.filename

    def _declared_dimension(self) -> tuple[int, int] | None:
        """The sheet's `<dimension ref>` as (last row, last column); refused beyond the limits."""
        head = b""
        for block in self._sheet_blocks():
            head += block
            if len(head) >= HEAD_BYTES or SHEET_DATA.search(head):
                break
        if b"\x00" in head[:200]:
            raise malformed("工作表不是 UTF-8 编码")
        data = SHEET_DATA.search(head)
        match = DIMENSION.search(head, 0, data.start() if data else len(head))
        if match is None:
            return None
        reference = match[1].decode("ascii", "replace").strip()
        try:
            corners = [parse_reference(part) for part in reference.split(":")]
        except Refused:
            return None  # calamine sizes nothing by it either; the cells are measured anyway
        rows, columns = max(row for row, _ in corners), max(column for _, column in corners)
        self.limits.check_range(reference, rows, columns, declared=True)
        return rows, columns

    # The first rows.

    def leading_rows(self, is_empty: Callable[[list[Any]], bool]) -> Iterator[tuple[int, list[Any]]]:
        """The first row `is_empty` says is not (the header), streamed, as calamine will give it with its
        columns counted from A. Nothing when it is not within the first LEADING_BYTES of the sheet."""
        info = self._entry(f"{self.base}sharedStrings.xml")
        shared = SharedStrings(self._stream(info, limit=self.limits.max_memory_bytes) if info else iter(()))
        reader = RowReader(shared.get)
        read = 0
        for block in self._sheet_blocks():
            for offset in range(0, len(block), LEADING_PIECE_BYTES):  # the header is near: parse little
                read += LEADING_PIECE_BYTES
                for number, cells, text_positions in reader.feed(
                    block[offset : offset + LEADING_PIECE_BYTES]
                ):
                    if not is_empty(cells):
                        self.header = Header(number, cells, text_positions)
                        self._leading = (read, reader.last_row)
                        yield number, cells
                        return
                if read >= LEADING_BYTES:
                    return

    def rows_estimate(self) -> int | None:
        """Rows below the header, for a progress total (never a limit): as the declared dimension says, or
        (no dimension, or `A1` as streaming writers declare) as many as the first rows' size makes likely."""
        if self.header is None:
            return None
        if self.dimension is not None and self.dimension[0] > self.header.number:
            return self.dimension[0] - self.header.number
        read, last_row = self._leading
        return max(last_row * self.sheet_size // max(read, 1) - self.header.number, 0)

    def header_matches(self, cells: list[Any]) -> bool:
        """Whether calamine's header row (columns from A) is the one read here: values in the same places,
        the same text where it was text (numbers and dates may come typed differently)."""
        if self.header is None:
            return True
        ours, text = self.header.cells, set(self.header.text_positions)
        for position in range(max(len(ours), len(cells))):
            mine = ours[position] if position < len(ours) else ""
            theirs = cells[position] if position < len(cells) else ""
            if (mine == "") != (theirs == ""):
                return False
            if position in text and (not isinstance(theirs, str) or theirs.split() != str(mine).split()):
                return False
        return True

    # The whole sheet.

    def measure(self) -> Measure:
        """Stream the shared strings and the sheet into an upper bound of what calamine will allocate;
        refused beyond the limits as soon as that is known."""
        for info in (self.entries[self.sheet.lower()], self._entry(f"{self.base}sharedStrings.xml")):
            if info and info.file_size > max(RATIO_FLOOR_BYTES, MAX_RATIO * info.compress_size):
                raise Refused(
                    f"无法读取工作簿：{info.filename} 解压后 {info.file_size // MIB:,} MB，是压缩大小的 "
                    f"{info.file_size // max(info.compress_size, 1):,} 倍，不像正常的表格文件（疑似压缩炸弹）",
                    "文件异常",
                )
        strings = self._measure_shared_strings()
        fixed = self.file_size + strings.memory_bytes
        for name in ("_rels/.rels", f"{self.base}_rels/workbook.xml.rels", f"{self.base}workbook.xml"):
            fixed += getattr(self._entry(name), "file_size", 0)  # read whole (and checked) on opening
        if styles := self._entry(f"{self.base}styles.xml"):
            for block in self._stream(styles, limit=self.limits.max_memory_bytes):
                fixed += len(block)  # calamine keeps a number format per style
        if fixed > self.limits.max_memory_bytes:
            raise self.limits.too_much_memory(fixed)
        header_width = len(self.header.cells) if self.header else 0
        scan = SheetScan(
            chunks=lambda: cut_chunks(self._sheet_blocks(), (b"</row>", b"</c>")),
            blocks=self._sheet_blocks,
            width=max(header_width, self.dimension[1] if self.dimension else 0),
            limits=self.limits,
            strings=strings,
            fixed=fixed,
        )
        return scan.measure()

    def _measure_shared_strings(self) -> StringLengths:
        info = self._entry(f"{self.base}sharedStrings.xml")
        strings = StringLengths()
        if info is None:
            return strings
        limit = self.limits.max_memory_bytes
        try:
            strings.by_patterns(cut_chunks(self._stream(info, limit=limit), (b">",)))
        except Cut:
            strings = StringLengths()
            strings.by_expat(self._stream(info, limit=limit))
        return strings
