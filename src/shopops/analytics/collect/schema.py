"""What a client may send (msgspec structs, decoded and validated in one pass), the limits, the spool line.

An incoming event is a JSON object; unknown keys are ignored (a newer snippet keeps working against an
older server). Errors name the line (1-based; a single event is line 1) and the field, in Chinese.
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from typing import TYPE_CHECKING, Annotated, Any, Literal

import msgspec

from shopops.core.lazy import lazy_module

if TYPE_CHECKING:
    import pyarrow as pa
else:
    pa = lazy_module("pyarrow")  # the collect endpoint (imported with the URLconf) never touches Arrow

EVENT_TYPES = ("page_view", "product_view", "add_to_cart", "checkout_start", "order_placed", "payment")
EventType = Literal["page_view", "product_view", "add_to_cart", "checkout_start", "order_placed", "payment"]

# Limits (bytes are of the decompressed body).
MAX_EVENT_BYTES = 16 * 1024  # POST /collect/e
MAX_BATCH_BYTES = 8 * 1024 * 1024  # POST /collect/batch, after gunzip
MAX_BATCH_EVENTS = 5000
MAX_URL = 2048
MAX_PATH = 1024
MAX_ID = 128
MAX_CODE = 64
MAX_CAMPAIGN = 200
MAX_UA = 1024
MAX_ERRORS_REPORTED = 100

# The client's `ts` is kept when it lies in [now - 7 days, now + 5 minutes]; otherwise the server's time.
TS_MAX_PAST = dt.timedelta(days=7)
TS_MAX_FUTURE = dt.timedelta(minutes=5)
MAX_AMOUNT = Decimal("9999999999999999.99")

Url = Annotated[str, msgspec.Meta(max_length=MAX_URL)]
Id = Annotated[str, msgspec.Meta(max_length=MAX_ID)]
Code = Annotated[str, msgspec.Meta(max_length=MAX_CODE)]
Campaign = Annotated[str, msgspec.Meta(max_length=MAX_CAMPAIGN)]

FIELD_LABELS = {
    "type": "事件类型",
    "event_id": "事件 ID",
    "ts": "时间",
    "visitor_id": "访客 ID",
    "session_id": "会话 ID",
    "url": "页面地址",
    "path": "页面路径",
    "referrer": "来源页",
    "utm_source": "utm_source",
    "utm_medium": "utm_medium",
    "utm_campaign": "utm_campaign",
    "product": "商品编码",
    "sku": "SKU 编码",
    "order_id": "订单号",
    "amount": "金额",
    "device": "设备",
    "consent": "同意标记",
    "ua": "User-Agent",
    "ip": "IP",
}


class InEvent(msgspec.Struct, kw_only=True):
    """One event as a client sends it. `ts`: epoch milliseconds or an ISO 8601 time with offset."""

    type: EventType
    event_id: Id = ""
    ts: int | float | str | None = None
    visitor_id: Id = ""
    session_id: Id = ""
    url: Url = ""
    path: Annotated[str, msgspec.Meta(max_length=MAX_PATH)] = ""
    referrer: Url = ""
    utm_source: Campaign = ""
    utm_medium: Campaign = ""
    utm_campaign: Campaign = ""
    product: Code = ""
    sku: Code = ""
    order_id: Code = ""
    amount: Decimal | None = None
    device: Literal["", "mobile", "desktop", "tablet", "other"] = ""
    consent: bool | None = None
    # server-side senders (batch) forward the visitor's user agent and address
    ua: Annotated[str, msgspec.Meta(max_length=MAX_UA)] = ""
    ip: Annotated[str, msgspec.Meta(max_length=64)] = ""


class SpoolEvent(msgspec.Struct, array_like=False):
    """One normalised line of a spool segment (collect's own format; the compactor reads it).

    `ts`/`received_at` are epoch microseconds, `day` the Asia/Shanghai date (ISO), `amount` a string.
    """

    event_id: str
    type: str
    ts: int
    day: str
    shop_id: int
    channel: str
    visitor_id: str
    session_id: str
    path: str
    url: str
    referrer: str
    source: str
    medium: str
    campaign: str
    product: str
    sku: str
    order_id: str
    amount: str | None
    device: str
    ip_key: str
    received_at: int


def _events_schema() -> pa.Schema:
    return pa.schema(
        [
            ("event_id", pa.string()),
            ("type", pa.string()),
            ("ts", pa.timestamp("us", tz="UTC")),
            ("day", pa.date32()),
            ("shop_id", pa.int64()),
            ("channel", pa.string()),
            ("visitor_id", pa.string()),
            ("session_id", pa.string()),
            ("path", pa.string()),
            ("url", pa.string()),
            ("referrer", pa.string()),
            ("source", pa.string()),
            ("medium", pa.string()),
            ("campaign", pa.string()),
            ("product", pa.string()),
            ("sku", pa.string()),
            ("order_id", pa.string()),
            ("amount", pa.decimal128(18, 2)),
            ("device", pa.string()),
            ("ip_key", pa.string()),
            ("received_at", pa.timestamp("us", tz="UTC")),
        ]
    )


if TYPE_CHECKING:
    EVENTS_SCHEMA: pa.Schema
else:

    def __getattr__(name: str) -> Any:
        # EVENTS_SCHEMA is built on first use, so importing this module does not import PyArrow
        if name == "EVENTS_SCHEMA":
            globals()[name] = schema = _events_schema()
            return schema
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


event_decoder = msgspec.json.Decoder(InEvent)
spool_encoder = msgspec.json.Encoder()

_AT_FIELD = re.compile(r" - at `\$\.([A-Za-z_]+)`")
_TRANSLATIONS = (
    (re.compile(r"Object missing required field `(\w+)`"), "缺少必填字段 {0}"),
    (re.compile(r"Invalid enum value '([^']*)'"), "不支持的值 “{0}”"),
    (re.compile(r"Expected `str` of length <= (\d+)"), "太长：最多 {0} 个字符"),
    (re.compile(r"Expected `(\w+)`, got `(\w+)`"), "类型错误：应为 {0}，实际为 {1}"),
    (re.compile(r"Invalid decimal string"), "不是有效的金额"),
    (re.compile(r"JSON is malformed"), "不是有效的 JSON"),
    (re.compile(r"Input data was truncated"), "JSON 不完整"),
)


class EventError(Exception):
    """One bad event: the field and a message for the developer who fixes the sender."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


def describe(error: msgspec.MsgspecError) -> EventError:
    """A msgspec error as (field, Chinese message); the English original is kept in brackets."""
    text = str(error)
    match = _AT_FIELD.search(text)
    field = match.group(1) if match else ""
    core = _AT_FIELD.sub("", text)
    message = core
    for pattern, template in _TRANSLATIONS:
        found = pattern.search(core)
        if found:
            message = template.format(*found.groups())
            if not field and pattern.pattern.startswith("Object missing"):
                field = found.group(1)
            break
    return EventError(field, f"{message}（{core}）" if message != core else core)


def decode_event(line: bytes) -> InEvent:
    """Decode and validate one JSON event; EventError on any problem."""
    try:
        event = event_decoder.decode(line)
    except msgspec.MsgspecError as error:
        raise describe(error) from None
    if event.amount is not None and (abs(event.amount) > MAX_AMOUNT or event.amount.is_nan()):
        raise EventError("amount", "金额超出范围")
    if event.type in ("order_placed", "payment") and not event.order_id:
        raise EventError("order_id", f"{event.type} 事件必须带订单号 order_id")
    if event.type in ("product_view", "add_to_cart") and not event.product:
        raise EventError("product", f"{event.type} 事件必须带商品编码 product")
    return event


def error_entry(line: int, error: EventError) -> dict[str, Any]:
    return {"line": line, "field": error.field, "message": error.message}
