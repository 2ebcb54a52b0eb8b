"""Order imports: platform export files (Taobao, JD, Pinduoduo, Shopify, Douyin, our template) into orders.

Built on `core.tabular` (files, encodings, header aliases, cell cleaning, per-row errors, modes, dry
run); the platform formats are data (`channels/formats/*.toml`, `channels.queries.load_platform_format`).
What is particular to orders: an order spans several rows (Shopify: one per line item; the Taobao item
report: one per 子订单; our template: one per line), so rows are grouped by order id and a chunk is only
ever cut between two orders; a bad row makes its whole order bad. Rows of one order are expected to be
adjacent, as every platform writes them (rows of one order further apart in the same chunk are still
joined). See docs/imports-orders.md.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

from django.db import DatabaseError, connection, transaction

from shopops.channels.models import Shop
from shopops.channels.queries import (
    PlatformFormat,
    UnknownFormat,
    load_platform_format,
    platform_format_names,
    shop_by_code_or_id,
)
from shopops.core import tabular
from shopops.core.db import has_single_writer
from shopops.core.errors import DomainError, InvalidInput
from shopops.core.permissions import check_permission
from shopops.core.tabular import Column, HeaderMap, ImportRefused, ImportResult, Mode, RowError, TableRow
from shopops.orders.imports.reading import Reading, columns_for, shop_zone
from shopops.orders.imports.writing import OrderWriter
from shopops.orders.services.filters import export_orders_file

CHUNK_SIZE = 2000
INVISIBLE = frozenset(tabular.INVISIBLE)
SPECIAL_STARTS = INVISIBLE | {"=", "'"}
PERMISSIONS = ("orders.add_order", "orders.change_order")
Groups = list[list[TableRow]]


def detect_platform_format(header: list[Any]) -> PlatformFormat:
    """The shipped format whose `detect` headers all appear in `header` (the most specific one wins)."""
    present = {tabular.normalise_header(tabular.clean_cell(cell) or "") for cell in header}
    best: tuple[int, PlatformFormat] | None = None
    for name in platform_format_names():
        candidate = load_platform_format(name)
        wanted = {tabular.normalise_header(text) for text in candidate.detect}
        if wanted and wanted <= present and (best is None or len(wanted) > best[0]):
            best = (len(wanted), candidate)
    if best is None:
        raise ImportRefused(
            "无法从表头识别订单格式，请用 --format 指定",
            fields={"format": f"可选：{'、'.join(platform_format_names())}"},
        )
    return best[1]


def _shop(shop: Shop | int | str, actor: Any) -> Shop:
    return shop_by_code_or_id(actor, shop)


def _check_header(platform_format: PlatformFormat, header: HeaderMap) -> None:
    required = {"external_id": "订单号", "placed_at": "下单时间", "status": "订单状态"}
    missing = [
        platform_format.columns[key][0] if key in platform_format.columns else label
        for key, label in required.items()
        if key not in header.positions
    ]
    if missing:
        raise ImportRefused(
            f"缺少必需的列：{'、'.join(missing)}（格式 {platform_format.name}）",
            fields={"file": f"缺少列：{'、'.join(missing)}"},
        )


def _unknown_columns(platform_format: PlatformFormat, header: HeaderMap) -> list[str]:
    ignored = {tabular.normalise_header(text) for text in platform_format.ignore}
    return [text for text in header.unknown if tabular.normalise_header(text) not in ignored]


def _clean(cell: Any) -> str | None:
    """`tabular.clean_cell` with a fast path for the common case (a plain string cell)."""
    if cell.__class__ is not str:
        return tabular.clean_cell(cell)
    text: str = cell.strip()
    if not text:
        return None
    if text[0] in SPECIAL_STARTS or text[-1] in INVISIBLE:
        if text[0] == "=" and text[1:2] == '"' and text[-1] == '"' and len(text) >= 3:
            # `="123"` (the Excel text trick, every id of a Taobao report): what clean_cell makes of it
            text = text[2:-1].strip()
            return None if text in tabular.EMPTY_MARKERS else text
        return tabular.clean_cell(text)
    return None if text in tabular.EMPTY_MARKERS else text


def non_empty_rows(table: tabular.Table) -> Iterator[tuple[int, list[Any]]]:
    """`Table.rows` (the non-empty rows as (row number, raw cells)) with `_clean` for `clean_cell` and a
    loop for `any(generator)`: the first cell of nearly every row (an id) is not empty."""
    for number, cells in table._rows:
        for cell in cells:
            if _clean(cell) is not None:
                yield number, cells
                break


def row_parser(columns: tuple[Column, ...], header: HeaderMap) -> Any:  # noqa: C901 - one inlined loop, on purpose
    """`tabular.parse_row` for this file's columns, with the positions and parsers looked up once."""
    present = [
        (column.key, header.positions[column.key], column.parser, getattr(column.parser, "memory", None))
        for column in columns
        if column.key in header.positions
    ]
    labels = header.labels
    needed = max((position for _key, position, _parser, _memory in present), default=-1) + 1
    empty = tabular.EMPTY_MARKERS
    clean_cell = tabular.clean_cell

    def parse(number: int, cells: list[Any]) -> TableRow:  # noqa: C901 - per cell cost: no helper calls
        values: dict[str, Any] = {}
        row = TableRow(number=number, values=values, labels=labels)
        if len(cells) < needed:
            cells = [*cells, *[None] * (needed - len(cells))]
        for key, position, parser, memory in present:
            # `_clean`, inlined (a call per cell cost): plain text, empty and `="…"` cells here
            cell = cells[position]
            text: str | None
            if cell.__class__ is str:
                text = cell.strip()
                if not text:
                    values[key] = None
                    continue
                if text[0] in SPECIAL_STARTS or text[-1] in INVISIBLE:
                    if text[0] == "=" and text[1:2] == '"' and text[-1] == '"' and len(text) >= 3:
                        text = text[2:-1].strip()
                        if text in empty:
                            text = None
                    else:
                        text = clean_cell(text)
                elif text in empty:
                    text = None
            else:
                text = _clean(cell)
            if text is None or parser is None:
                values[key] = text
                continue
            if memory is not None:
                # `cached`'s lookup, inlined: a hit is what the parser returned for this text before
                found = memory.get(text)
                if found is not None:
                    values[key] = found
                    continue
            try:
                values[key] = parser(text)
            except DomainError as error:
                row.add_error(key, error.message)
            except ValueError as error:
                row.add_error(key, str(error))
        return row

    return parse


def order_chunks(
    rows: Iterator[tuple[int, list[Any]]], columns: tuple[Column, ...], header: HeaderMap, size: int
) -> Iterator[Groups]:
    """Parsed rows grouped by order id, about `size` rows a chunk, never cutting through an order."""
    groups: dict[str, list[TableRow]] = {}
    count = 0
    last_key: str | None = None
    parse = row_parser(columns, header)
    for number, cells in rows:
        row = parse(number, cells)
        key = row.values.get("external_id")
        if key is None:
            if row.is_valid:
                row.add_error("external_id", "订单号不能为空")
            key = f"\x00{number}"
        if count >= size and key != last_key:
            yield list(groups.values())
            groups, count = {}, 0
        groups.setdefault(key, []).append(row)
        count += 1
        last_key = key
    if groups:
        yield list(groups.values())


class _Rollback(Exception):
    pass


def _tally(result: ImportResult, groups: Groups) -> None:
    result.tally(row for rows in groups for row in rows)


def _fail_chunk(groups: Groups, message: str) -> None:
    for rows in groups:
        for row in rows:
            if row.is_valid:
                row.errors.append(RowError(row.number, "", message))
            row.action = None


def _run_chunk_by_chunk(
    writer: OrderWriter, chunks: Iterator[Groups], result: ImportResult, report: Any, format_name: str
) -> None:
    """skip_bad_rows: one transaction per chunk; a database refusal costs that chunk, not the file."""
    for groups in chunks:
        try:
            with transaction.atomic():
                writer.process(groups)
        except (DatabaseError, DomainError) as error:
            writer.discard_state()
            message = error.message if isinstance(error, DomainError) else f"数据库拒绝写入：{error}"
            _fail_chunk(groups, message)
        _tally(result, groups)
        report()
    if result.created or result.updated:
        with transaction.atomic():
            writer.finish(result, format_name)
    result.committed = True


def _run_in_one_transaction(
    writer: OrderWriter, chunks: Iterator[Groups], result: ImportResult, report: Any, format_name: str
) -> None:
    """all_or_nothing and dry runs on PostgreSQL: one transaction, rolled back on any bad row (always for
    a dry run). After the first bad row the rest of the file is only validated: it will be rolled back
    anyway."""
    try:
        with transaction.atomic():
            for groups in chunks:
                writer.process(groups)
                _tally(result, groups)
                if result.errors and not result.dry_run:
                    writer.validate_only = True
                report()
            if result.dry_run or result.is_refused:
                raise _Rollback
            if result.created or result.updated:
                writer.finish(result, format_name)
    except _Rollback:
        writer.discard_state()
        return
    except DatabaseError as error:
        writer.discard_state()
        raise ImportRefused(
            f"数据库拒绝写入，未导入任何数据：{error}", fields={"file": "写入失败"}
        ) from error
    result.committed = True


def _check_chunk(writer: OrderWriter, groups: Groups) -> None:
    """Find the chunk's errors without keeping anything. A chunk of new orders is only validated (its
    errors are all known before writing; writing and rolling back would double the import's cost); a
    chunk that updates orders is processed as for real and rolled back, since an update can be refused
    when it is written."""
    if writer.validate_only or not writer.updates_existing_orders(groups):
        validating = writer.validate_only
        writer.validate_only = True
        try:
            writer.process(groups)  # writes nothing: no transaction, so no write lock either
        finally:
            writer.validate_only = validating
        return
    try:
        with transaction.atomic():
            writer.process(groups)
            raise _Rollback
    except _Rollback:
        pass
    except DatabaseError as error:
        raise ImportRefused(
            f"数据库拒绝写入，未导入任何数据：{error}", fields={"file": "写入失败"}
        ) from error
    finally:
        writer.discard_state()  # the chunk's records are gone


def _write_chunk(writer: OrderWriter, groups: Groups) -> str:
    """Write the chunk in its own transaction; '' when it is written, else why nothing of it was."""
    try:
        with transaction.atomic():
            writer.process(groups)
            if not all(row.is_valid for rows in groups for row in rows):
                raise _Rollback
    except _Rollback:
        message = "同一批次中有错误行，本批次未写入"
    except (DatabaseError, DomainError) as error:
        message = error.message if isinstance(error, DomainError) else f"数据库拒绝写入：{error}"
    else:
        return ""
    writer.discard_state()
    return message


def _run_checked_then_written(
    new_writer: Callable[[], OrderWriter],
    chunks: Iterator[Groups],
    reread: Callable[[], Iterator[Groups]],
    result: ImportResult,
    report: Any,
    format_name: str,
) -> None:
    """all_or_nothing and dry runs on SQLite (`tabular._run_checked_then_written`): a check pass with
    every chunk rolled back (after the first bad row only validated: nothing will be written), then, if
    no row is bad, a write pass with a fresh writer, chunk by chunk, so other writers get the database's
    one write lock between two chunks instead of waiting for the whole file."""
    checker = new_writer()
    for groups in chunks:
        _check_chunk(checker, groups)
        _tally(result, groups)
        if result.errors and not result.dry_run:
            checker.validate_only = True
        report()
    if result.dry_run or result.is_refused:
        return
    writer = new_writer()
    checked_rows = result.total_rows
    result.restart()
    for groups in reread():
        reason = _write_chunk(writer, groups)
        if reason:
            _fail_chunk(groups, reason)
            first = groups[0][0].number
            result.errors.append(RowError(first, "", tabular.stop_message(first, reason, result.total_rows)))
            _tally(result, groups)
            break
        result.committed = True
        _tally(result, groups)
        report(checked_rows)
    if result.created or result.updated:
        with transaction.atomic():
            writer.finish(result, format_name)
    result.committed = result.committed or not result.errors


SQLITE_IMPORT_CACHE_KIB = 65536


@contextlib.contextmanager
def _sqlite_page_cache() -> Iterator[None]:
    """On SQLite, a 64 MiB page cache for the import (the orders' indexes stay in memory; −3 % CPU on a
    million lines), the connection's own setting restored after. Never lowers a larger setting."""
    if connection.vendor != "sqlite":
        yield
        return
    with connection.cursor() as cursor:
        previous = cursor.execute("PRAGMA cache_size").fetchone()[0]
        page_size = cursor.execute("PRAGMA page_size").fetchone()[0]
        current_kib = -previous if previous < 0 else previous * page_size // 1024
        if current_kib >= SQLITE_IMPORT_CACHE_KIB:
            yield
            return
        cursor.execute(f"PRAGMA cache_size = -{SQLITE_IMPORT_CACHE_KIB}")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f"PRAGMA cache_size = {int(previous)}")


def _check_import_permission(actor: Any) -> None:
    if getattr(actor, "is_authenticated", False):
        for permission in PERMISSIONS:
            check_permission(actor, permission)


def _format(format: str | None, header: list[Any]) -> PlatformFormat:
    if not format:
        return detect_platform_format(header)
    try:
        return load_platform_format(format)
    except UnknownFormat as error:
        raise ImportRefused(error.message, fields=error.fields) from error


def import_orders(
    *,
    source: str | os.PathLike[str] | IO[bytes],
    filename: str | None = None,
    actor: Any,
    shop: Shop | int | str,
    format: str | None = None,  # noqa: A002 - the CLI option's name (`--format taobao`)
    mode: str = Mode.ALL_OR_NOTHING,
    dry_run: bool = False,
    file_format: str | None = None,
    sheet: str | None = None,
    progress: tabular.Progress | None = None,
    chunk_size: int = CHUNK_SIZE,
) -> ImportResult:
    """Import a platform order export into `shop` (code or id). `format`: taobao, taobao_items, jd, pdd,
    shopify, douyin, template or a mapping file path; detected from the header when omitted. `actor`
    is a user (needs orders.add_order and change_order, and the shop in scope) or a name ("cli:root")."""
    _check_import_permission(actor)
    target = _shop(shop, actor)
    mode = Mode(mode)
    name = filename or (Path(os.fspath(source)).name if isinstance(source, str | os.PathLike) else "upload")
    started = time.monotonic()
    with tabular.open_source(source) as opened:
        table = tabular.Table(opened, filename=name, file_format=file_format, sheet=sheet)
        with contextlib.closing(table):
            raw_rows = non_empty_rows(table)
            first = next(raw_rows, None)
            if first is None:
                raise ImportRefused("文件是空的：没有表头", fields={"file": "空文件"})
            platform_format = _format(format, first[1])
            try:
                columns = columns_for(platform_format, shop_zone(target.timezone))
            except InvalidInput as error:
                raise ImportRefused(error.message, fields=error.fields) from error
            header = tabular.match_header(first[1], columns)
            _check_header(platform_format, header)
            result = ImportResult(
                filename=name,
                sha256=opened.sha256,
                file_format=table.file_format,
                encoding=table.encoding,
                mode=str(mode),
                dry_run=dry_run,
                columns=[header.labels[key] for key in header.positions],
                unknown_columns=_unknown_columns(platform_format, header),
            )

            def new_writer() -> OrderWriter:
                return OrderWriter(
                    shop=target,
                    reading=Reading(platform_format),
                    actor=actor,
                    filename=name,
                    sha256=opened.sha256,
                    validate_only=False,
                )

            def reread() -> Iterator[Groups]:
                opened.handle.seek(0)
                again = tabular.Table(opened, filename=name, file_format=table.file_format, sheet=sheet)
                with contextlib.closing(again):
                    rows = non_empty_rows(again)
                    next(rows, None)  # the header
                    yield from order_chunks(rows, columns, header, chunk_size)

            chunk_by_chunk = mode == Mode.SKIP_BAD_ROWS and not dry_run
            checked_then_written = not chunk_by_chunk and has_single_writer()
            passes = 2 if checked_then_written and not dry_run else 1  # read twice: checked, then written

            def report(offset: int = 0) -> None:
                # read each time: an XLSX sheet's rows are known once it is measured, after the header
                total = table.total_estimate
                if progress is not None:
                    progress(offset + result.total_rows, None if total is None else total * passes)

            chunks = order_chunks(raw_rows, columns, header, chunk_size)
            with _sqlite_page_cache():
                if chunk_by_chunk:
                    _run_chunk_by_chunk(new_writer(), chunks, result, report, platform_format.name)
                elif checked_then_written:
                    _run_checked_then_written(
                        new_writer, chunks, reread, result, report, platform_format.name
                    )
                else:
                    _run_in_one_transaction(new_writer(), chunks, result, report, platform_format.name)
    result.duration_seconds = time.monotonic() - started
    return result


IMPORT_KINDS = {"orders": import_orders}
EXPORT_KINDS = {"orders": export_orders_file}
