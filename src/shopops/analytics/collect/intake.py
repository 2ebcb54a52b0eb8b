"""From validated events to spool lines: server time, day, shop and channel, source/medium, device, IP key,
server-made event ids. Shared by the endpoints and the access-log import."""

from __future__ import annotations

import datetime as dt
import time
import uuid
from dataclasses import dataclass
from decimal import Decimal

from shopops.analytics.collect import bots, privacy, sources
from shopops.analytics.collect.schema import (
    TS_MAX_FUTURE,
    TS_MAX_PAST,
    EventError,
    InEvent,
    SpoolEvent,
    spool_encoder,
)
from shopops.analytics.collect.sites import SiteInfo

US = 1_000_000
SHANGHAI_OFFSET_US = 8 * 3600 * US  # Asia/Shanghai has had no DST since 1991
EPOCH = dt.date(1970, 1, 1)
EPOCH_UTC = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
PAST_US = int(TS_MAX_PAST.total_seconds() * US)
FUTURE_US = int(TS_MAX_FUTURE.total_seconds() * US)
_DAYS: dict[int, str] = {}
_CENT = Decimal("0.01")


def day_of(ts_us: int) -> str:
    """The Asia/Shanghai date (ISO) of an epoch-microsecond time."""
    number = (ts_us + SHANGHAI_OFFSET_US) // (86400 * US)
    text = _DAYS.get(number)
    if text is None:
        text = (EPOCH + dt.timedelta(days=number)).isoformat()
        _DAYS[number] = text
    return text


def now_us() -> int:
    """Now in epoch µs, whole milliseconds: event times are kept to the millisecond, so visit
    durations are the same on DuckDB and Spark (whose timestamps Ibis reads in ms)."""
    return time.time_ns() // 1_000_000 * 1000


def client_ts(value: int | float | str | None, received: int) -> int:
    """The client's time in epoch µs when it is sane ([now − 7 d, now + 5 min]), else `received`.

    Numbers are epoch milliseconds (JavaScript's Date.now()); strings are ISO 8601 with an offset."""
    if value is None:
        return received
    if isinstance(value, str):
        try:
            parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise EventError("ts", "时间格式错误：应为毫秒时间戳或带时区的 ISO 8601 时间") from None
        if parsed.tzinfo is None:
            raise EventError("ts", "时间必须带时区（如 2026-11-24T08:00:00+08:00）")
        ts = (parsed - EPOCH_UTC) // dt.timedelta(milliseconds=1) * 1000
    else:
        if value != value or value in (float("inf"), float("-inf")):
            raise EventError("ts", "时间不是有效数字")
        ts = int(value) * 1000
    if received - PAST_US <= ts <= received + FUTURE_US:
        return ts
    return received


@dataclass(frozen=True)
class RequestContext:
    """What every event of one request shares."""

    site: SiteInfo
    ip: str
    user_agent: str
    received: int


def normalise(event: InEvent, context: RequestContext, *, event_id: str = "") -> SpoolEvent:
    """The spool line of one valid event (EventError for what the struct cannot check)."""
    site = context.site
    ts = client_ts(event.ts, context.received)
    user_agent = event.ua or context.user_agent
    ip = event.ip or context.ip
    url = event.url
    source, medium, campaign = sources.normalise(
        url, event.referrer, event.utm_source, event.utm_medium, event.utm_campaign, user_agent
    )
    amount = None
    if event.amount is not None:
        amount = str(event.amount.quantize(_CENT))
    return SpoolEvent(
        event_id=event.event_id or event_id or uuid.uuid4().hex,
        type=event.type,
        ts=ts,
        day=day_of(ts),
        shop_id=site.shop_id,
        channel=site.channel,
        visitor_id=event.visitor_id or privacy.derived_visitor_id(ip, user_agent),
        session_id=event.session_id,
        path=event.path or sources.path_of(url),
        url=url,
        referrer=event.referrer,
        source=source,
        medium=medium,
        campaign=campaign,
        product=event.product,
        sku=event.sku,
        order_id=event.order_id,
        amount=amount,
        device=event.device or bots.device_of(user_agent),
        ip_key=privacy.ip_key(ip, site.ip_mode),
        received_at=context.received,
    )


def encode_lines(events: list[SpoolEvent]) -> bytes:
    """NDJSON: one line per event, newline-terminated (the compactor ignores an unterminated tail)."""
    if not events:
        return b""
    buffer = bytearray()
    for event in events:
        spool_encoder.encode_into(event, buffer, len(buffer))
        buffer.extend(b"\n")
    return bytes(buffer)
