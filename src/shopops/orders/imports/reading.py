"""Reading platform order files: logical columns, cell parsers, and rows of one order → an OrderInput."""

from __future__ import annotations

import datetime as dt
import functools
import re
import zoneinfo
from collections.abc import Callable
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from shopops.channels.queries import PlatformFormat
from shopops.core import tabular
from shopops.core.errors import InvalidInput
from shopops.core.money import CENT, plain_money
from shopops.core.tabular import Column, TableRow
from shopops.orders.models import OrderStatus
from shopops.orders.services.inputs import LineInput, OrderInput

# Status and refund words repeat on every row of a file: fold each distinct text once (NFKC is slow).
_fold = functools.lru_cache(maxsize=4096)(tabular.normalise_header)

ZERO = Decimal("0.00")
EXCEL_EPOCH = dt.datetime(1899, 12, 30)  # noqa: DTZ001 - serial days are wall-clock time, zone added later
_TIME = re.compile(
    r"^(\d{4})[-/.年](\d{1,2})[-/.月](\d{1,2})日?"
    r"(?:[ T]+(\d{1,2}):(\d{1,2})(?::(\d{1,2})(?:\.\d+)?)?)?"
    r"\s*(Z|[+-]\d{2}:?\d{2})?$"
)
_EXCEL_SERIAL = re.compile(r"^\d{5}(?:\.\d+)?$")
_POSTCODE = re.compile(r"\s*[(（](\d{6})[)）]\s*$")
REFUND_LEVELS = ("none", "pending", "partial", "full")

# Logical column key → what its cells hold. The TOML formats may only use these keys.
ORDER_KINDS: dict[str, str] = {
    "external_id": "id",
    "placed_at": "time",
    "paid_at": "time",
    "shipped_at": "time",
    "delivered_at": "time",
    "completed_at": "time",
    "cancelled_at": "time",
    "status": "text",
    "refund_status": "text",
    "fulfillment_status": "text",
    "order_type": "text",
    "buyer_id": "text100",
    "buyer_nick": "text100",
    "buyer_email": "text200",
    "receiver_name": "text100",
    "receiver_phone": "phone",
    "receiver_landline": "phone",
    "receiver_full_address": "text",
    "receiver_province": "text30",
    "receiver_city": "text30",
    "receiver_district": "text30",
    "receiver_address": "text300",
    "receiver_postcode": "text10",
    "receiver_country": "text40",
    "currency": "currency",
    "goods_amount": "money",
    "shipping_fee": "money",
    "shop_discount": "money",
    "platform_discount": "money",
    "paid_amount": "money",
    "merchant_received": "money",
    "refunded_amount": "refund_money",
    "buyer_message": "text500",
    "seller_memo": "text500",
    "flag": "flag",
    "close_reason": "text200",
    "carrier_name": "text40",
    "tracking_number": "id40",
}
LINE_KINDS: dict[str, str] = {
    "line_id": "id",
    "title": "text200",
    "spec": "text200",
    "merchant_code": "id",
    "outer_code": "id",
    "quantity": "quantity",
    "unit_price": "money",
    "line_discount": "money",
    "line_amount": "money",
    "line_paid": "money",
    "line_status": "text60",
    "line_refund_status": "text",
    "line_refund_amount": "refund_money",
}
COLUMN_KINDS = {**ORDER_KINDS, **LINE_KINDS}
ORDER_TYPES = {"normal": "normal", "普通订单": "normal", "flash_sale": "flash_sale", "秒杀": "flash_sale"}
ORDER_TYPES |= {"秒杀订单": "flash_sale", "presale": "presale", "预售": "presale", "预售订单": "presale"}


def time_parser(zone: dt.tzinfo) -> Callable[[str], dt.datetime]:
    """`2016/5/23 22:02`, `2016-05-23 22:02:11`, `2026-06-01 10:01:00 +0000`, Excel serial `46174.42`;
    times without an offset are the shop's wall clock. Cached: rows of one order repeat the same text."""
    cache: dict[str, dt.datetime] = {}

    def parse(text: str) -> dt.datetime:
        found = cache.get(text)
        if found is None:
            found = _parse_time(text, zone)
            if len(cache) > 50_000:
                cache.clear()
            cache[text] = found
        return found

    return parse


def _parse_time(text: str, zone: dt.tzinfo) -> dt.datetime:
    match = _TIME.match(text.strip())
    if match is None:
        if _EXCEL_SERIAL.match(text):
            wall = EXCEL_EPOCH + dt.timedelta(days=float(text))
            return wall.replace(microsecond=0, tzinfo=zone)
        raise ValueError(f"“{text}”不是有效时间，应为 2026-06-01 10:00:00 或 2026/6/1 10:00")
    year, month, day, hour, minute, second, offset = match.groups()
    try:
        moment = dt.datetime(
            int(year), int(month), int(day), int(hour or 0), int(minute or 0), int(second or 0), tzinfo=zone
        )
    except ValueError:
        raise ValueError(f"“{text}”不是有效时间") from None
    if offset:
        moment = moment.replace(tzinfo=_offset(offset))
    return moment


def _offset(text: str) -> dt.tzinfo:
    if text == "Z":
        return dt.UTC
    sign = -1 if text[0] == "-" else 1
    digits = text[1:].replace(":", "")
    return dt.timezone(sign * dt.timedelta(hours=int(digits[:2]), minutes=int(digits[2:])))


def cached(parse: Callable[[str], Any], size: int = 50_000) -> Callable[[str], Any]:
    """Remember what `parse` made of a text (prices and times repeat across a file's rows)."""
    memory: dict[str, Any] = {}

    def parse_cached(text: str) -> Any:
        found = memory.get(text)
        if found is None:
            found = parse(text)
            if len(memory) >= size:
                memory.clear()
            memory[text] = found
        return found

    # the row parser looks a text up here itself (a hit then costs no call); a miss calls parse_cached
    parse_cached.memory = memory  # type: ignore[attr-defined]
    return parse_cached


def parse_money(text: str) -> Decimal:
    """`tabular.parse_money` with a fast path for plain amounts (`12.34`, `99元`): same Decimal."""
    amount = plain_money(text)
    return tabular.parse_money(text) if amount is None else amount


def refund_money_parser(refund_map: dict[str, str]) -> Callable[[str], Decimal]:
    """退款金额 may hold text such as `无退款申请` (a refund map word meaning none): that is 0."""
    words = {tabular.normalise_header(word) for word, level in refund_map.items() if level == "none"}
    words |= {tabular.normalise_header("无退款申请")}

    def parse(text: str) -> Decimal:
        # a plain amount folds to itself (ASCII digits, '.', 元): no NFKC needed to compare with the words
        amount = plain_money(text)
        if amount is not None and text not in words:
            return amount
        if _fold(text) in words:
            return ZERO
        return tabular.parse_money(text)

    return parse


def identifier_parser(max_length: int) -> Callable[[str], str]:
    """`tabular.identifier_parser` with a fast path for all-digit ids (no exponent to refuse)."""
    full = tabular.identifier_parser(max_length)

    def parse(text: str) -> str:
        if text.isdigit() and len(text) <= max_length:
            return text
        return full(text)

    return parse


def parse_phone(text: str) -> str:
    """Kept as written: a privacy number `13800000000-1234` cannot be resolved to a person."""
    compact = text.replace(" ", "")
    if len(compact) > 40:
        raise ValueError("电话号码过长")
    return compact


def parse_quantity(text: str) -> int:
    quantity = tabular.parse_int(text)
    if quantity <= 0:
        raise ValueError("数量须大于 0")
    return quantity


def parse_flag(text: str) -> int:
    flag = tabular.parse_int(text)
    if not 0 <= flag <= 5:
        raise ValueError("旗帜须为 0–5")
    return flag


def parse_currency(text: str) -> str:
    code = text.strip().upper()
    if len(code) != 3 or not code.isalpha():
        raise ValueError(f"“{text}”不是三位币种代码，如 CNY")
    return code


def _parsers(platform_format: PlatformFormat, zone: dt.tzinfo) -> dict[str, Callable[[str], Any] | None]:
    parsers: dict[str, Callable[[str], Any] | None] = {
        "id": identifier_parser(64),
        "id40": identifier_parser(40),
        "time": time_parser(zone),
        "text": None,
        "money": cached(parse_money),
        "refund_money": cached(refund_money_parser(platform_format.refund)),
        "phone": parse_phone,
        "quantity": cached(parse_quantity, 1000),
        "flag": parse_flag,
        "currency": parse_currency,
    }
    for size in (10, 30, 40, 60, 100, 200, 300, 500):
        parsers[f"text{size}"] = tabular.text_parser(size)
    return parsers


def columns_for(platform_format: PlatformFormat, zone: dt.tzinfo) -> tuple[Column, ...]:
    unknown = sorted(set(platform_format.columns) - set(COLUMN_KINDS))
    if unknown:
        raise InvalidInput(
            f"格式 {platform_format.name} 含未知的逻辑列：{'、'.join(unknown)}",
            fields={"format": f"可用的列：{'、'.join(COLUMN_KINDS)}"},
        )
    parsers = _parsers(platform_format, zone)
    return tuple(
        Column(
            key,
            aliases[0],
            aliases[1:],
            required=key == "external_id",
            parser=parsers[COLUMN_KINDS[key]],
        )
        for key, aliases in platform_format.columns.items()
    )


def split_address(text: str) -> tuple[str, str, str, str, str]:
    """`浙江省 杭州市 西湖区 文三路 100号(310000)` → province, city, district, detail, postcode.
    Fewer than four parts (or a masked `****` address): everything stays in the detail."""
    postcode = ""
    found = _POSTCODE.search(text)
    if found:
        postcode = found.group(1)
        text = text[: found.start()]
    parts = text.split()
    if len(parts) >= 4:
        return parts[0][:30], parts[1][:30], parts[2][:30], " ".join(parts[3:])[:300], postcode
    return "", "", "", text.strip()[:300], postcode


@dataclass
class Reading:
    """How one format's values turn into order fields: status and refund maps, normalized once."""

    platform_format: PlatformFormat

    def __post_init__(self) -> None:
        key = tabular.normalise_header
        self.status = {key(raw): value for raw, value in self.platform_format.status.items()}
        self.refund = {key(raw): value for raw, value in self.platform_format.refund.items()}
        self.fulfillment = {key(raw): value for raw, value in self.platform_format.fulfillment.items()}
        self.separator = str(self.platform_format.quirk("status_separator", ""))
        self.first_row_only = bool(self.platform_format.quirk("order_columns_on_first_row", False))
        # the order-level columns this format has (looked up once, not once per order)
        self.order_keys = [key for key in self.platform_format.columns if key in ORDER_KINDS]

    def status_of(self, raw: str) -> tuple[str | None, str | None]:
        """Normalized status and refund level of a raw status text (combined texts split on the separator)."""
        parts = [raw, *raw.split(self.separator)] if self.separator and self.separator in raw else [raw]
        status = refund = None
        for part in parts:
            folded = _fold(part)
            status = status or self.status.get(folded)
            refund = refund or self.refund.get(folded)
        return status, refund

    def refund_level(self, raw: str | None) -> str | None:
        if raw is None:
            return None
        return self.refund.get(_fold(raw))


def _first(rows: list[TableRow], key: str, only_first: bool) -> Any:
    if only_first:
        return rows[0].values.get(key)
    for row in rows:
        value = row.values.get(key)
        if value is not None:
            return value
    return None


def _status(reading: Reading, rows: list[TableRow], values: dict[str, Any]) -> tuple[str, str | None]:
    """The normalized status (an unknown text is an error on the status column) and the refund level."""
    raw = values.get("status")
    if raw is None:
        rows[0].add_error("status", "订单状态不能为空")
        return OrderStatus.PENDING_PAYMENT, None
    status, refund = reading.status_of(raw)
    if status is None:
        rows[0].add_error("status", f"未知的订单状态“{raw}”，请在格式文件的 [status] 中补充")
        return OrderStatus.PENDING_PAYMENT, None
    fulfillment = values.get("fulfillment_status")
    if fulfillment is not None and status == OrderStatus.PAID:
        shipped = reading.fulfillment.get(_fold(fulfillment))
        if shipped is None:
            rows[0].add_error("fulfillment_status", f"未知的发货状态“{fulfillment}”")
        else:
            status = shipped
    if values.get("cancelled_at") is not None and status in (OrderStatus.PENDING_PAYMENT, OrderStatus.PAID):
        status = OrderStatus.CANCELLED if status == OrderStatus.PENDING_PAYMENT else OrderStatus.CLOSED
    column_refund = reading.refund_level(values.get("refund_status"))
    if values.get("refund_status") is not None and column_refund is None:
        rows[0].add_error("refund_status", f"未知的退款/售后状态“{values['refund_status']}”")
    return status, _higher(refund, column_refund)


def _higher(first: str | None, second: str | None) -> str | None:
    if first is None or second is None:
        return first or second
    return max(first, second, key=REFUND_LEVELS.index)


def _line(reading: Reading, row: TableRow, order_status_raw: str) -> LineInput:
    values = row.values
    quantity = values.get("quantity") or 1
    unit_price = values.get("unit_price")
    amount = values.get("line_amount")
    if unit_price is None:
        unit_price = (amount / quantity).quantize(CENT, ROUND_HALF_UP) if amount is not None else ZERO
    discount = values.get("line_discount") or ZERO
    # No line amount in the file: leave it to `prepare_order`, which splits order-level discounts over
    # the lines (in cents) when the file gives no line shares, so line amounts add up to what was paid.
    refund_amount = values.get("line_refund_amount")
    refund_raw = values.get("line_refund_status")
    if refund_raw is not None and reading.refund_level(refund_raw) is None:
        row.add_error("line_refund_status", f"未知的退款状态“{refund_raw}”")
    return LineInput(
        quantity=quantity,
        unit_price=unit_price,
        merchant_code=values.get("merchant_code") or values.get("outer_code") or "",
        title=values.get("title") or "",
        spec=values.get("spec") or "",
        discount=discount,
        amount=amount,
        external_line_id=values.get("line_id") or "",
        platform_status=(values.get("line_status") or values.get("line_refund_status") or order_status_raw)[
            :60
        ],
        refund_amount=refund_amount if refund_amount is not None else ZERO,
    )


def _receiver(values: dict[str, Any]) -> dict[str, str]:
    fields = {
        "receiver_province": values.get("receiver_province") or "",
        "receiver_city": values.get("receiver_city") or "",
        "receiver_district": values.get("receiver_district") or "",
        "receiver_address": values.get("receiver_address") or "",
        "receiver_postcode": values.get("receiver_postcode") or "",
    }
    full = values.get("receiver_full_address")
    if full is not None:
        province, city, district, detail, postcode = split_address(full)
        fields = {
            "receiver_province": province or fields["receiver_province"],
            "receiver_city": city or fields["receiver_city"],
            "receiver_district": district or fields["receiver_district"],
            "receiver_address": detail,
            "receiver_postcode": postcode or fields["receiver_postcode"],
        }
    return fields


ORDER_TEXT_FIELDS = (
    "buyer_nick",
    "buyer_email",
    "receiver_name",
    "receiver_country",
    "buyer_message",
    "seller_memo",
    "close_reason",
    "carrier_name",
    "tracking_number",
)
ORDER_MONEY_FIELDS = (
    "goods_amount",
    "shipping_fee",
    "shop_discount",
    "platform_discount",
    "paid_amount",
    "merchant_received",
)
ORDER_TIME_FIELDS = ("paid_at", "shipped_at", "delivered_at", "completed_at", "cancelled_at")


def _refunded_amount(
    values: dict[str, Any], lines: list[LineInput], has_line_refunds: bool, refund: str | None
) -> Decimal | None:
    if values.get("refunded_amount") is not None:
        return values["refunded_amount"]
    if has_line_refunds:
        return sum((line.refund_amount for line in lines), ZERO)
    if refund == "full" and values.get("paid_amount") is not None:
        return values["paid_amount"]
    if refund == "none":
        return ZERO
    return None


def _amounts_from_lines(values: dict[str, Any], rows: list[TableRow], lines: list[LineInput]) -> None:
    """Item-level reports: the order's money is the sum of its lines."""
    values["goods_amount"] = sum((line.unit_price * line.quantity for line in lines), ZERO)
    paid = [row.values.get("line_paid") for row in rows]
    amounts = [
        line.amount if line.amount is not None else line.unit_price * line.quantity - line.discount
        for line in lines
    ]
    values["paid_amount"] = sum(
        (value if value is not None else amount for value, amount in zip(paid, amounts, strict=True)), ZERO
    )


def _lines(reading: Reading, rows: list[TableRow], values: dict[str, Any]) -> list[LineInput]:
    raw_status = values.get("status") or ""
    if reading.platform_format.line_level:
        return [_line(reading, row, raw_status) for row in rows]
    # order-level report: one line from 宝贝标题 / 宝贝总数量, priced from the goods amount
    line_values = {**rows[0].values, "line_amount": values.get("goods_amount")}
    return [_line(reading, TableRow(rows[0].number, line_values, rows[0].labels), raw_status)]


def order_values(reading: Reading, rows: list[TableRow]) -> dict[str, Any]:
    """The order-level cells of an order's rows (Shopify: first row only; else first non-empty)."""
    return {key: _first(rows, key, reading.first_row_only) for key in reading.order_keys}


def _has_error(rows: list[TableRow], key: str) -> bool:
    label = rows[0].labels.get(key, key)
    return any(error.column == label for row in rows for error in row.errors)


def build_order(reading: Reading, rows: list[TableRow]) -> OrderInput | None:
    """One order from its rows; None when a row has an error (the caller reports the whole order)."""
    values = order_values(reading, rows)
    if values.get("placed_at") is None and not _has_error(rows, "placed_at"):
        rows[0].add_error("placed_at", "下单时间不能为空")
    status, refund = _status(reading, rows, values)
    lines = _lines(reading, rows, values)
    line_refunds = [reading.refund_level(row.values.get("line_refund_status")) for row in rows]
    if reading.platform_format.line_level and any(level for level in line_refunds):
        whole = all(level == "full" for level in line_refunds)
        refund = _higher(refund, "full" if whole else "partial" if "full" in line_refunds else None)
    if any(not row.is_valid for row in rows):
        return None
    if reading.platform_format.quirk("order_amounts_from_lines", False):
        _amounts_from_lines(values, rows, lines)
    if status == OrderStatus.CLOSED and values.get("paid_at") is None and not values.get("paid_amount"):
        status = OrderStatus.CANCELLED  # closed before payment: nothing to refund
    if refund == "full" and status not in (OrderStatus.CANCELLED, OrderStatus.PENDING_PAYMENT):
        status = OrderStatus.CLOSED
    has_line_refunds = "line_refund_amount" in reading.platform_format.columns
    refunded = _refunded_amount(values, lines, has_line_refunds, refund)
    closed_refund = reading.platform_format.quirk("closed_means_refunded", False)
    if refunded is None and closed_refund and status == OrderStatus.CLOSED:
        refunded = values.get("paid_amount")
    return _order_input(reading, values, status, lines, refunded)


def _order_input(
    reading: Reading,
    values: dict[str, Any],
    status: str,
    lines: list[LineInput],
    refunded: Decimal | None,
) -> OrderInput:
    phone = values.get("receiver_phone") or values.get("receiver_landline") or ""
    buyer_id = values.get("buyer_id") or ""
    if not buyer_id and reading.platform_format.quirk("buyer_id_from_email", False):
        buyer_id = values.get("buyer_email") or ""
    data = OrderInput(
        external_id=values["external_id"],
        placed_at=values["placed_at"],
        status=status,
        lines=lines,
        platform_status=(values.get("status") or "")[:60],
        order_type=ORDER_TYPES.get(values.get("order_type") or "normal", "normal"),
        buyer_id=buyer_id[:100],
        receiver_phone=phone,
        currency=values.get("currency") or "CNY",
        refunded_amount=refunded,
        flag=values.get("flag"),
    )
    for name, text in _receiver(values).items():
        setattr(data, name, text)
    for name in ORDER_TEXT_FIELDS:
        setattr(data, name, values.get(name) or "")
    for name in ORDER_MONEY_FIELDS:
        setattr(data, name, values.get(name))
    for name in ORDER_TIME_FIELDS:
        setattr(data, name, values.get(name))
    return data


def shop_zone(name: str) -> dt.tzinfo:
    try:
        return zoneinfo.ZoneInfo(name or "Asia/Shanghai")
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return zoneinfo.ZoneInfo("Asia/Shanghai")
