"""Tracking scans from CSV/XLSX (物流轨迹导入), built on core's import engine.

Columns: 运单号, 快递公司, 时间, 状态, 描述, 地点 (aliases below). Rows are grouped by carrier and
tracking number and recorded through `services.add_tracking_events`, one savepoint per parcel, so a
parcel that cannot be found is a row error and the others stand. Re-importing a file adds nothing: a
scan already known (same parcel, time and state) is `unchanged`.
"""

from __future__ import annotations

import datetime as dt
import os
import zoneinfo
from collections import defaultdict
from typing import IO, Any

from django.conf import settings
from django.db import transaction

from shopops.core import audit, tabular
from shopops.core.errors import DomainError, NotFound
from shopops.core.tabular import Action, Column, ImportResult, TableRow
from shopops.fulfillment import services
from shopops.fulfillment.models import TrackingEvent

TIME_FORMATS = (
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%d %H:%M",
    "%Y/%m/%d %H:%M:%S",
    "%Y/%m/%d %H:%M",
    "%Y.%m.%d %H:%M:%S",
    "%Y%m%d%H%M%S",
)


def parse_time(text: str) -> dt.datetime:
    """A scan time: ISO 8601 with or without offset, 2026/6/1 10:00, 2026-06-01 10:00:00 …; without an
    offset it is Beijing time (the carriers' clocks)."""
    value: dt.datetime | None = None
    try:
        value = dt.datetime.fromisoformat(text.strip())
    except ValueError:
        for pattern in TIME_FORMATS:
            try:
                value = dt.datetime.strptime(text.strip(), pattern)  # noqa: DTZ007 - zone added below
                break
            except ValueError:
                continue
    if value is None:
        raise ValueError(f"“{text}”不是有效时间，例如 2026-06-01 10:00:00")
    if value.tzinfo is None:
        value = value.replace(tzinfo=zoneinfo.ZoneInfo(settings.TIME_ZONE))
    if not 2000 <= value.year < 2100:
        raise ValueError("时间须在 2000 年与 2100 年之间")
    return value


def parse_state(text: str) -> str:
    try:
        return services.parse_tracking_state(text)
    except DomainError as error:
        raise ValueError(error.message) from None


TRACKING_COLUMNS: tuple[Column, ...] = (
    Column(
        "tracking_number",
        "运单号",
        ("快递单号", "物流单号", "单号", "运单编号", "tracking number", "tracking_number", "nu"),
        required=True,
        parser=tabular.identifier_parser(40),
    ),
    Column(
        "carrier",
        "快递公司",
        ("物流公司", "承运商", "快递", "carrier", "com"),
        parser=tabular.text_parser(40),
    ),
    Column(
        "occurred_at",
        "时间",
        ("轨迹时间", "扫描时间", "操作时间", "ftime", "time", "occurred_at"),
        required=True,
        parser=parse_time,
    ),
    Column("state", "状态", ("物流状态", "状态码", "state", "status"), required=True, parser=parse_state),
    Column(
        "description",
        "描述",
        ("轨迹描述", "内容", "轨迹", "context", "description"),
        parser=tabular.text_parser(300),
    ),
    Column(
        "location",
        "地点",
        ("所在地", "城市", "位置", "areaName", "location"),
        parser=tabular.text_parser(100),
    ),
)


class TrackingImporter(tabular.RowImporter):
    """Scans grouped per parcel and recorded through `services.add_tracking_events`."""

    columns = TRACKING_COLUMNS

    def __init__(self, *, actor: Any, filename: str) -> None:
        self.actor = actor
        self.filename = filename

    def process(self, rows: list[TableRow]) -> None:
        parcels: dict[tuple[str, str], list[TableRow]] = defaultdict(list)
        for row in rows:
            for key in ("tracking_number", "occurred_at", "state"):
                if row.has(key) and row.get(key) is None and row.is_valid:
                    row.add_error(key, "必填")
            if row.is_valid:
                parcels[(row.get("carrier") or "", row.get("tracking_number"))].append(row)
        for (carrier, number), members in parcels.items():
            self._record(carrier, number, members)

    def _record(self, carrier: str, number: str, rows: list[TableRow]) -> None:
        try:
            with transaction.atomic():
                shipment = services.find_shipment_by_tracking(carrier, number)
                if shipment is None:
                    raise NotFound(f"找不到运单号 {number} 的包裹")
                known = set(
                    TrackingEvent.objects.filter(shipment=shipment).values_list("occurred_at", "state")
                )
                services.add_tracking_events(
                    actor=self.actor,
                    shipment_id=shipment.pk,
                    events=[
                        services.TrackingEventInput(
                            occurred_at=row.get("occurred_at"),
                            state=row.get("state"),
                            description=row.get("description") or "",
                            location=row.get("location") or "",
                        )
                        for row in rows
                    ],
                    source="import",
                    via="import",
                )
        except DomainError as error:
            for row in rows:
                row.add_error("tracking_number", error.message)
            return
        for row in rows:
            key = (row.get("occurred_at").astimezone(dt.UTC), row.get("state"))
            row.key = f"{number}@{row.get('occurred_at'):%Y-%m-%d %H:%M:%S}"
            if key in known:
                row.action = Action.UNCHANGED
            else:
                known.add(key)
                row.action = Action.CREATED
                row.changes = {"shipment_id": shipment.pk, "state": row.get("state")}

    def finish(self, result: ImportResult) -> None:
        audit.record(
            actor=self.actor,
            action="tracking.imported",
            changes={"file": result.filename, "sha256": result.sha256, **result.counts()},
            object_repr=result.filename,
        )


def import_tracking_events(
    *,
    source: str | os.PathLike[str] | IO[bytes],
    filename: str,
    actor: Any,
    mode: str = tabular.Mode.SKIP_BAD_ROWS,
    dry_run: bool = False,
    file_format: str | None = None,
    sheet: str | None = None,
    progress: tabular.Progress | None = None,
) -> ImportResult:
    """Record tracking scans from a CSV/XLSX file; unknown tracking numbers are row errors."""
    importer = TrackingImporter(actor=actor, filename=filename)
    return tabular.run_import(
        source=source,
        filename=filename,
        importer=importer,
        mode=mode,
        dry_run=dry_run,
        file_format=file_format,
        sheet=sheet,
        progress=progress,
    )


IMPORT_KINDS = {"tracking": import_tracking_events}
