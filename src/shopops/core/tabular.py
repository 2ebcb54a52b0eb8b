"""The tabular import engine: CSV/XLSX rows streamed, headers matched by alias, cells cleaned, errors per row."""

from __future__ import annotations

import codecs
import contextlib
import copy
import csv
import datetime as dt
import hashlib
import io
import os
import shutil
import tempfile
import time
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from pathlib import Path
from typing import IO, Any

from django.db import DatabaseError, transaction
from python_calamine import CalamineError, CalamineWorkbook

from shopops.core import xlsx
from shopops.core.db import has_single_writer
from shopops.core.errors import DomainError, InvalidInput
from shopops.core.money import to_money

Source = str | os.PathLike[str] | IO[bytes]
Progress = Callable[[int, int | None], None]

CHUNK_SIZE = 2000
PREVIEW_LIMIT = 200
SAMPLE_BYTES = 64 * 1024
EMPTY_MARKERS = frozenset({"", "无"})
CSV_EXTENSIONS = frozenset({".csv", ".txt", ".tsv"})
# .xls, .xlsb and .ods are refused: their readers allocate what the file declares, unmeasured (core.xlsx)
EXCEL_EXTENSIONS = frozenset({".xlsx", ".xlsm"})
INVISIBLE = "\ufeff\u200b\u200c\u200d\u2060"
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r", "'")


class Mode(StrEnum):
    ALL_OR_NOTHING = "all_or_nothing"  # any bad row: nothing is written
    SKIP_BAD_ROWS = "skip_bad_rows"  # good rows are written, bad rows are reported


class Action(StrEnum):
    CREATED = "created"
    UPDATED = "updated"
    UNCHANGED = "unchanged"
    ERROR = "error"


class ImportRefused(InvalidInput):
    """The file as a whole cannot be imported: unreadable, wrong encoding, required columns missing."""

    code = "import_refused"


@dataclass(frozen=True)
class Column:
    """One logical column: `name` is the header we write, `aliases` the other headers we accept.

    `parser` receives the cleaned cell text (never empty: empty cells become None without it) and
    returns the value or raises ValueError / DomainError with a message for the person who fixes the file.
    """

    key: str
    name: str
    aliases: tuple[str, ...] = ()
    required: bool = False
    parser: Callable[[str], Any] | None = None


@dataclass(frozen=True)
class RowError:
    """A problem in one cell: `row` as the user sees it (the header is row 1), `column` as headed in the file."""

    row: int
    column: str
    message: str


@dataclass
class TableRow:
    """One data row: parsed values of the columns present in the file, its problems and its outcome."""

    number: int
    values: dict[str, Any]
    labels: Mapping[str, str]
    errors: list[RowError] = field(default_factory=list)
    warnings: list[RowError] = field(default_factory=list)
    action: Action | None = None
    key: str = ""
    changes: dict[str, Any] = field(default_factory=dict)

    @property
    def is_valid(self) -> bool:
        return not self.errors

    def has(self, key: str) -> bool:
        """Whether the file has this column at all (a column left out means: leave the field alone)."""
        return key in self.values

    def get(self, key: str, default: Any = None) -> Any:
        return self.values.get(key, default)

    def add_error(self, key: str, message: str) -> None:
        self.errors.append(RowError(self.number, self.labels.get(key, key), message))

    def add_warning(self, key: str, message: str) -> None:
        self.warnings.append(RowError(self.number, self.labels.get(key, key), message))


@dataclass(frozen=True)
class RowPreview:
    row: int
    key: str
    action: str
    changes: dict[str, Any]


@dataclass
class ImportResult:
    """What an import did (or, for a dry run or a refused file, would have done)."""

    filename: str
    sha256: str
    file_format: str
    encoding: str | None
    mode: str
    dry_run: bool
    total_rows: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped: int = 0
    errors: list[RowError] = field(default_factory=list)
    warnings: list[RowError] = field(default_factory=list)
    # rows left out on purpose (not errors), by reason label: an access log's bots, redirects, assets…
    filtered: dict[str, int] = field(default_factory=dict)
    columns: list[str] = field(default_factory=list)
    unknown_columns: list[str] = field(default_factory=list)
    preview: list[RowPreview] = field(default_factory=list)
    committed: bool = False
    duration_seconds: float = 0.0

    @property
    def is_refused(self) -> bool:
        """All-or-nothing with bad rows: the file was refused and nothing was written."""
        return self.mode == Mode.ALL_OR_NOTHING and bool(self.errors) and not self.committed

    @property
    def is_partial(self) -> bool:
        """All-or-nothing written chunk by chunk (SQLite) that a row refused after the check passed:
        the chunks before it are written, the rest is not (the errors say from which row)."""
        return self.mode == Mode.ALL_OR_NOTHING and bool(self.errors) and self.committed

    def restart(self) -> None:
        """Forget the counts and problems of a checking pass before the writing pass counts again."""
        self.total_rows = self.created = self.updated = self.unchanged = self.skipped = 0
        self.errors, self.warnings, self.preview, self.filtered = [], [], [], {}

    def counts(self) -> dict[str, int]:
        return {
            "total": self.total_rows,
            "created": self.created,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "skipped": self.skipped,
        }

    def tally(self, rows: Iterable[TableRow]) -> None:
        for row in rows:
            self.total_rows += 1
            self.warnings.extend(row.warnings)
            if row.errors:
                self.skipped += 1
                self.errors.extend(row.errors)
                continue
            if row.action == Action.CREATED:
                self.created += 1
            elif row.action == Action.UPDATED:
                self.updated += 1
            else:
                self.unchanged += 1
            if row.action in (Action.CREATED, Action.UPDATED) and len(self.preview) < PREVIEW_LIMIT:
                self.preview.append(RowPreview(row.number, row.key, str(row.action), row.changes))


class RowImporter:
    """What a format plugs into the engine. The engine streams chunks of parsed rows and owns the
    transactions; the importer matches rows to records, validates them and writes the valid ones."""

    columns: Sequence[Column] = ()

    def check_header(self, present: set[str]) -> None:
        """Refuse (raise ImportRefused) when a combination of columns is missing; keys of present columns."""

    def process(self, rows: list[TableRow]) -> None:
        """Validate rows (row.add_error), set row.action/key/changes, and write the valid ones."""
        raise NotImplementedError

    def finish(self, result: ImportResult) -> None:
        """Called once, inside a transaction, when the import is kept (e.g. one audit entry per file)."""

    def discard_state(self) -> None:
        """A chunk's transaction was rolled back: forget records cached from it."""


# Cells.


def normalise_header(text: Any) -> str:
    """Compare headers loosely: NFKC (full-width → half-width), no whitespace or BOM, case-folded."""
    folded = unicodedata.normalize("NFKC", str(text or ""))
    return "".join(char for char in folded if not char.isspace() and char not in INVISIBLE).casefold()


def _number_text(value: float) -> str:
    if value.is_integer():
        return str(int(value))
    return format(Decimal(repr(value)), "f")


def clean_cell(value: Any) -> str | None:
    """One cell as text without spreadsheet and platform noise; None when it is empty or 无.

    `="123"` (Excel text trick) → 123; a leading `'` is dropped; floats never show an exponent, and
    integral floats lose their `.0` so ids read from XLSX stay the digits that were typed."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _number_text(value)
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    text = str(value).strip().strip(INVISIBLE).strip()
    if text.startswith('="') and text.endswith('"') and len(text) >= 3:
        text = text[2:-1].strip()
    elif text.startswith("'"):
        text = text[1:].strip()
    return None if text in EMPTY_MARKERS else text


def _without_money_noise(text: str) -> str:
    return (
        text.replace(",", "").replace("，", "").replace("¥", "").replace("￥", "").removesuffix("元").strip()
    )


def parse_text(text: str) -> str:
    return text


def text_parser(max_length: int) -> Callable[[str], str]:
    def parse(text: str) -> str:
        if len(text) > max_length:
            raise ValueError(f"不能超过 {max_length} 个字符")
        return text

    return parse


def identifier_parser(max_length: int = 64) -> Callable[[str], str]:
    """Codes and ids: kept as text; refuses what Excel already mangled into scientific notation."""

    def parse(text: str) -> str:
        compact = text.replace(" ", "")
        if "E+" in compact.upper() and compact.replace(".", "").upper().split("E+")[0].isdigit():
            raise ValueError(f"“{text}”是科学计数法，编码已丢失精度，请把该列设为文本后重新导出")
        if len(text) > max_length:
            raise ValueError(f"不能超过 {max_length} 个字符")
        return text

    return parse


def parse_money(text: str) -> Decimal:
    """A non-negative amount in yuan, e.g. `¥1,299.00`, `99元`."""
    amount = to_money(text)
    if amount < 0:
        raise ValueError("不能为负数")
    return amount


def parse_decimal(text: str) -> Decimal:
    try:
        number = Decimal(_without_money_noise(text))
    except InvalidOperation:
        raise ValueError(f"“{text}”不是有效数字") from None
    if not number.is_finite():
        raise ValueError(f"“{text}”不是有效数字")
    return number


def parse_int(text: str) -> int:
    number = parse_decimal(text)
    if number != number.to_integral_value():
        raise ValueError(f"“{text}”不是整数")
    return int(number)


TRUE_WORDS = frozenset({"是", "启用", "有效", "true", "yes", "y", "1"})
FALSE_WORDS = frozenset({"否", "停用", "禁用", "无效", "false", "no", "n", "0"})


def parse_bool(text: str) -> bool:
    word = text.strip().casefold()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise ValueError(f"“{text}”应为 是 或 否")


def choice_parser(choices: Mapping[str, str]) -> Callable[[str], str]:
    """Map labels or values (e.g. 在售 / active) to stored values, matched loosely."""
    lookup = {normalise_header(label): value for label, value in choices.items()}

    def parse(text: str) -> str:
        value = lookup.get(normalise_header(text))
        if value is None:
            raise ValueError(f"“{text}”无效，可选：{'、'.join(dict.fromkeys(choices))}")
        return value

    return parse


# Files.


@dataclass
class HeaderMap:
    """Which file column feeds which Column: `positions[key]` and `labels[key]` (the header as written)."""

    positions: dict[str, int]
    labels: dict[str, str]
    unknown: list[str]


def match_header(header: Sequence[Any], columns: Sequence[Column]) -> HeaderMap:
    lookup: dict[str, Column] = {}
    for column in columns:
        for alias in (column.name, *column.aliases):
            lookup.setdefault(normalise_header(alias), column)
    positions: dict[str, int] = {}
    labels = {column.key: column.name for column in columns}
    unknown: list[str] = []
    for position, raw in enumerate(header):
        text = clean_cell(raw) or ""
        matched = lookup.get(normalise_header(text))
        if matched is None or matched.key in positions:
            if text:
                unknown.append(text)
            continue
        positions[matched.key] = position
        labels[matched.key] = text
    missing = [column.name for column in columns if column.required and column.key not in positions]
    if missing:
        raise ImportRefused(
            f"缺少必需的列：{'、'.join(missing)}", fields={"file": f"缺少列：{'、'.join(missing)}"}
        )
    return HeaderMap(positions=positions, labels=labels, unknown=unknown)


def detect_format(filename: str, head: bytes) -> str:
    suffix = Path(filename).suffix.lower()
    if suffix in CSV_EXTENSIONS:
        return "csv"
    if suffix in EXCEL_EXTENSIONS:
        return "xlsx"
    if head.startswith((b"PK\x03\x04", b"\xd0\xcf\x11\xe0")):
        return "xlsx"
    return "csv"


def detect_encoding(sample: bytes, *, is_whole_file: bool) -> str:
    """BOM → utf-8-sig (or utf-16); else UTF-8 if the sample decodes strictly; else GB18030 (⊃ GBK)."""
    if sample.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if sample.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    try:
        codecs.getincrementaldecoder("utf-8")().decode(sample, final=is_whole_file)
    except UnicodeDecodeError:
        return "gb18030"
    return "utf-8"


@dataclass
class OpenedFile:
    handle: IO[bytes]
    sha256: str
    size: int


@contextlib.contextmanager
def open_source(source: Source) -> Iterator[OpenedFile]:
    """A seekable binary handle on a path or file-like object, with its SHA-256 (read once in blocks)."""
    if isinstance(source, str | os.PathLike):
        with open(source, "rb") as handle:
            yield _hashed(handle)
        return
    if source.seekable():
        source.seek(0)
        yield _hashed(source)
        return
    with tempfile.SpooledTemporaryFile(max_size=16 * 1024 * 1024) as spool:
        shutil.copyfileobj(source, spool)
        yield _hashed(spool)


def _hashed(handle: IO[bytes]) -> OpenedFile:
    digest = hashlib.sha256()
    size = 0
    while block := handle.read(1024 * 1024):
        digest.update(block)
        size += len(block)
    handle.seek(0)
    return OpenedFile(handle=handle, sha256=digest.hexdigest(), size=size)


class Table:
    """Rows of a CSV or the chosen sheet of a workbook, numbered as the user sees them."""

    def __init__(
        self, opened: OpenedFile, *, filename: str, file_format: str | None, sheet: str | None
    ) -> None:
        head = opened.handle.read(SAMPLE_BYTES)
        opened.handle.seek(0)
        self.file_format = file_format or detect_format(filename, head)
        if self.file_format not in ("csv", "xlsx"):
            raise ImportRefused(
                f"不支持的文件格式：{self.file_format}", fields={"format": "须为 csv 或 xlsx"}
            )
        self.encoding: str | None = None
        self.total_estimate: int | None = None
        if self.file_format == "csv":
            self.encoding = detect_encoding(head, is_whole_file=len(head) < SAMPLE_BYTES)
            self.total_estimate = self._count_lines(opened.handle)
            self._rows = self._csv_rows(opened.handle, head)
        else:
            self._rows = self._excel_rows(opened.handle, sheet, opened.size)

    @staticmethod
    def _count_lines(handle: IO[bytes]) -> int:
        count = 0
        while block := handle.read(1024 * 1024):
            count += block.count(b"\n")
        handle.seek(0)
        return count

    def _csv_rows(self, handle: IO[bytes], head: bytes) -> Iterator[tuple[int, list[Any]]]:
        assert self.encoding is not None
        first_line = head.split(b"\n", 1)[0]
        delimiter = "\t" if first_line.count(b"\t") > first_line.count(b",") else ","
        text = io.TextIOWrapper(handle, encoding=self.encoding, errors="strict", newline="")
        try:
            yield from enumerate(csv.reader(text, delimiter=delimiter), start=1)
        except UnicodeDecodeError as error:
            raise ImportRefused(
                f"文件编码无法识别（按 {self.encoding} 读取时出错），请另存为 UTF-8 或 GB18030 的 CSV",
                fields={"file": "编码错误"},
            ) from error
        except csv.Error as error:
            raise ImportRefused(f"CSV 格式错误：{error}", fields={"file": "格式错误"}) from error
        finally:
            with contextlib.suppress(ValueError):  # the file may already be closed
                text.detach()

    def _excel_rows(self, handle: IO[bytes], sheet: str | None, size: int) -> Iterator[tuple[int, list[Any]]]:
        """The header row streamed first (so an importer refuses a wrong file before the sheet is read),
        then, once core.xlsx has measured the sheet within the limits, calamine's rows below it."""
        header = 0
        try:
            limits = xlsx.Limits.from_settings()
            with xlsx.Workbook(handle, sheet=sheet, file_size=size, limits=limits) as book:
                for header, cells in book.leading_rows(is_empty_row):
                    self.total_estimate = book.rows_estimate()
                    yield header, cells
                self.total_estimate = max(book.measure().rows - header, 0)
        except xlsx.Refused as error:
            raise ImportRefused(error.message, fields={"file": error.reason}) from error
        handle.seek(0)
        try:
            worksheet = CalamineWorkbook.from_filelike(handle).get_sheet_by_name(book.sheet_name)
        except (CalamineError, ValueError, OSError) as error:
            raise ImportRefused(f"无法读取工作簿：{error}", fields={"file": "无法读取"}) from error
        # iter_rows starts at the sheet's first row even when it is empty, so numbering matches Excel;
        # its columns start at the first one used, ours at A (as the header was read)
        padding = [""] * (worksheet.start[1] if worksheet.start else 0)
        rows = enumerate(worksheet.iter_rows(), start=1)
        for number, cells in rows if header else ():
            # rows out of order could put calamine's first row above the one streamed: never guess
            if number < header and is_empty_row(cells):
                continue
            if number != header or not book.header_matches(padding + cells):
                raise ImportRefused("无法读取工作簿：表头两次读取不一致", fields={"file": "文件结构异常"})
            break
        if not padding:
            yield from rows
            return
        for number, cells in rows:
            yield number, padding + cells

    def close(self) -> None:
        """Stop reading (before the file closes), also when the rows were not read to the end."""
        close = getattr(self._rows, "close", None)
        if close is not None:
            close()

    def rows(self) -> Iterator[tuple[int, list[Any]]]:
        """Non-empty rows as (row number, raw cells)."""
        for number, cells in self._rows:
            if any(clean_cell(cell) is not None for cell in cells):
                yield number, cells


def is_empty_row(cells: list[Any]) -> bool:
    return not any(clean_cell(cell) is not None for cell in cells)


def parse_row(number: int, cells: list[Any], columns: Sequence[Column], header: HeaderMap) -> TableRow:
    row = TableRow(number=number, values={}, labels=header.labels)
    for column in columns:
        position = header.positions.get(column.key)
        if position is None:
            continue
        text = clean_cell(cells[position]) if position < len(cells) else None
        if text is None:
            row.values[column.key] = None
            continue
        try:
            row.values[column.key] = column.parser(text) if column.parser else text
        except DomainError as error:
            row.add_error(column.key, error.message)
        except ValueError as error:
            row.add_error(column.key, str(error))
    return row


def _chunks(
    rows: Iterator[tuple[int, list[Any]]], columns: Sequence[Column], header: HeaderMap, size: int
) -> Iterator[list[TableRow]]:
    chunk: list[TableRow] = []
    for number, cells in rows:
        chunk.append(parse_row(number, cells, columns, header))
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


# Running an import.


class _Rollback(Exception):
    pass


def _process_chunk_alone(importer: RowImporter, chunk: list[TableRow], result: ImportResult) -> None:
    """skip_bad_rows: one transaction per chunk; a database refusal costs that chunk, not the file."""
    try:
        with transaction.atomic():
            importer.process(chunk)
    except (DatabaseError, DomainError) as error:
        importer.discard_state()
        message = error.message if isinstance(error, DomainError) else f"数据库拒绝写入：{error}"
        _fail_rows(chunk, message)
    result.tally(chunk)


def _fail_rows(chunk: list[TableRow], message: str) -> None:
    """The chunk's transaction rolled back: its rows that were fine are not written either."""
    for row in chunk:
        if row.is_valid:
            row.errors.append(RowError(row.number, "", message))


def run_import(
    *,
    source: Source,
    filename: str,
    importer: RowImporter,
    mode: str = Mode.ALL_OR_NOTHING,
    dry_run: bool = False,
    file_format: str | None = None,
    sheet: str | None = None,
    progress: Progress | None = None,
    chunk_size: int = CHUNK_SIZE,
) -> ImportResult:
    """Stream `source` through `importer` in chunks. skip_bad_rows commits chunk by chunk. all_or_nothing
    and dry runs use one transaction, rolled back on any bad row (or always, for a dry run) — except on
    SQLite, where one transaction would lock every other writer out for the whole file: there the file
    is checked chunk by chunk (each rolled back), then written chunk by chunk if no row is bad."""
    mode = Mode(mode)
    started = time.monotonic()
    with open_source(source) as opened:
        table = Table(opened, filename=filename, file_format=file_format, sheet=sheet)
        with contextlib.closing(table):
            raw_rows = table.rows()
            first = next(raw_rows, None)
            if first is None:
                raise ImportRefused("文件是空的：没有表头", fields={"file": "空文件"})
            header = match_header(first[1], importer.columns)
            importer.check_header(set(header.positions))
            result = ImportResult(
                filename=filename,
                sha256=opened.sha256,
                file_format=table.file_format,
                encoding=table.encoding,
                mode=str(mode),
                dry_run=dry_run,
                columns=[header.labels[key] for key in header.positions],
                unknown_columns=header.unknown,
            )
            chunks = _chunks(raw_rows, importer.columns, header, chunk_size)
            total = table.total_estimate
            if mode == Mode.SKIP_BAD_ROWS and not dry_run:
                for chunk in chunks:
                    _process_chunk_alone(importer, chunk, result)
                    _report(progress, result, total)
                if result.created or result.updated:
                    with transaction.atomic():
                        importer.finish(result)
                result.committed = True
            elif has_single_writer():

                def reread() -> Iterator[list[TableRow]]:
                    opened.handle.seek(0)
                    again = Table(opened, filename=filename, file_format=table.file_format, sheet=sheet)
                    with contextlib.closing(again):
                        rows = again.rows()
                        next(rows, None)  # the header
                        yield from _chunks(rows, importer.columns, header, chunk_size)

                _run_checked_then_written(importer, chunks, reread, result, progress, total)
            else:
                _run_in_one_transaction(importer, chunks, result, progress, total)
    result.duration_seconds = time.monotonic() - started
    return result


def _report(progress: Progress | None, result: ImportResult, total: int | None, offset: int = 0) -> None:
    if progress is not None:
        progress(offset + result.total_rows, total)


def _run_in_one_transaction(
    importer: RowImporter,
    chunks: Iterator[list[TableRow]],
    result: ImportResult,
    progress: Progress | None,
    total: int | None,
) -> None:
    try:
        with transaction.atomic():
            for chunk in chunks:
                importer.process(chunk)
                result.tally(chunk)
                _report(progress, result, total)
            if result.dry_run or result.is_refused:
                raise _Rollback
            if result.created or result.updated:
                importer.finish(result)
    except _Rollback:
        importer.discard_state()
        return
    except DatabaseError as error:
        importer.discard_state()
        raise ImportRefused(
            f"数据库拒绝写入，未导入任何数据：{error}", fields={"file": "写入失败"}
        ) from error
    result.committed = True


def _check_chunk(importer: RowImporter, chunk: list[TableRow]) -> None:
    """Process the chunk as for real, then roll it back: its rows' errors without keeping anything."""
    try:
        with transaction.atomic():
            importer.process(chunk)
            raise _Rollback
    except _Rollback:
        pass
    except DatabaseError as error:
        raise ImportRefused(
            f"数据库拒绝写入，未导入任何数据：{error}", fields={"file": "写入失败"}
        ) from error
    finally:
        importer.discard_state()  # the chunk's records are gone


def _write_chunk(importer: RowImporter, chunk: list[TableRow]) -> str:
    """Write the chunk in its own transaction; '' when it is written, else why nothing of it was."""
    try:
        with transaction.atomic():
            importer.process(chunk)
            if not all(row.is_valid for row in chunk):
                raise _Rollback
    except _Rollback:
        message = "同一批次中有错误行，本批次未写入"
    except (DatabaseError, DomainError) as error:
        message = error.message if isinstance(error, DomainError) else f"数据库拒绝写入：{error}"
    else:
        return ""
    importer.discard_state()
    return message


def stop_message(row: int, reason: str, written_rows: int) -> str:
    """The file-level error of a write pass that stopped at `row` (the check had passed)."""
    if not written_rows:
        return f"写入时第 {row} 行起被拒绝（检查时没有这个错误）：{reason}。未导入任何数据"
    return (
        f"写入时第 {row} 行起被拒绝（检查时没有这个错误）：{reason}。此前的 {written_rows} 行已写入，"
        "之后的行未导入；改正后重新导入同一文件即可补全（已写入的行不会重复写入）"
    )


def _run_checked_then_written(
    importer: RowImporter,
    chunks: Iterator[list[TableRow]],
    reread: Callable[[], Iterator[list[TableRow]]],
    result: ImportResult,
    progress: Progress | None,
    total: int | None,
) -> None:
    """all_or_nothing and dry runs on SQLite, where a transaction holds the only write lock there is:
    other writers get it between two chunks instead of waiting for the whole file.

    The check pass processes every chunk and rolls it back, so a bad row is found before anything is
    written (a dry run ends here). The write pass — a fresh copy of the importer, the check filled the
    original's caches and counters — writes chunk by chunk. Should a row be refused there (the data
    changed since its check), the chunks before it stay written, the rest is not: `is_partial`."""
    writer = None if result.dry_run else copy.deepcopy(importer)
    passes_total = total * 2 if total is not None and writer is not None else total
    for chunk in chunks:
        _check_chunk(importer, chunk)
        result.tally(chunk)
        _report(progress, result, passes_total)
    if writer is None or result.is_refused:
        return
    checked_rows = result.total_rows
    result.restart()
    for chunk in reread():
        reason = _write_chunk(writer, chunk)
        if reason:
            _fail_rows(chunk, reason)
            first = chunk[0].number
            result.errors.append(RowError(first, "", stop_message(first, reason, result.total_rows)))
            result.tally(chunk)
            break
        result.committed = True
        result.tally(chunk)
        _report(progress, result, passes_total, offset=checked_rows)
    if result.created or result.updated:
        with transaction.atomic():
            writer.finish(result)
    result.committed = result.committed or not result.errors


# Writing.


def _csv_safe(value: Any) -> str:
    """Text as a CSV cell; a leading = + - @ is escaped with ' so Excel never runs it as a formula
    (the import engine drops that ' again, so exports re-import unchanged)."""
    if value is None:
        return ""
    text = str(value)
    if isinstance(value, str) and text.startswith(FORMULA_PREFIXES):
        return "'" + text
    return text


def write_table(
    destination: str | os.PathLike[str] | IO[bytes],
    *,
    headers: Sequence[str],
    rows: Iterable[Sequence[Any]],
    file_format: str,
    sheet_name: str = "Sheet1",
) -> int:
    """Write rows as CSV (UTF-8 with BOM, so Excel opens Chinese correctly) or XLSX (constant memory).
    Strings stay strings (codes never turn into numbers); Decimals and ints are numbers in XLSX."""
    if file_format == "csv":
        return _write_csv(destination, headers, rows)
    if file_format == "xlsx":
        return _write_xlsx(destination, headers, rows, sheet_name)
    raise InvalidInput(f"不支持的导出格式：{file_format}", fields={"format": "须为 csv 或 xlsx"})


def _write_csv(
    destination: str | os.PathLike[str] | IO[bytes], headers: Sequence[str], rows: Iterable[Sequence[Any]]
) -> int:
    with contextlib.ExitStack() as stack:
        if isinstance(destination, str | os.PathLike):
            binary: IO[bytes] = stack.enter_context(open(destination, "wb"))
        else:
            binary = destination
        text = io.TextIOWrapper(binary, encoding="utf-8-sig", newline="")
        try:
            writer = csv.writer(text)
            writer.writerow(headers)
            count = 0
            for row in rows:
                writer.writerow([_csv_safe(value) for value in row])
                count += 1
            text.flush()
        finally:
            text.detach()
    return count


def _write_xlsx(
    destination: str | os.PathLike[str] | IO[bytes],
    headers: Sequence[str],
    rows: Iterable[Sequence[Any]],
    sheet_name: str,
) -> int:
    import xlsxwriter

    target = os.fspath(destination) if isinstance(destination, str | os.PathLike) else destination
    options = {"constant_memory": True, "strings_to_numbers": False, "strings_to_formulas": False}
    workbook = xlsxwriter.Workbook(target, options)
    try:
        sheet = workbook.add_worksheet(sheet_name)
        bold = workbook.add_format({"bold": True})
        sheet.write_row(0, 0, list(headers), bold)
        count = 0
        for count, row in enumerate(rows, start=1):
            for position, value in enumerate(row):
                if value is None:
                    continue
                if isinstance(value, str):
                    sheet.write_string(count, position, value)
                elif isinstance(value, bool):
                    sheet.write_boolean(count, position, value)
                else:
                    sheet.write_number(count, position, value)
    finally:
        workbook.close()
    return count
