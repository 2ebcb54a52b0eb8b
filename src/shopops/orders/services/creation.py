"""Turning an OrderInput into rows: validation, SKU matching, line amounts, discount split, receiver fingerprints.

Amounts: a line's amount defaults to unit price × quantity − its discount share. An order-level
discount (shop + platform discount) given without any line shares is split over the lines pro rata to
their gross (unit price × quantity) in whole cents, the last line taking the remainder (DOMAIN §6);
a share never exceeds its line's gross, so no line amount goes negative. Order defaults: goods =
Σ gross, paid = goods + shipping − discounts (never below 0), merchant received = paid + platform
discount (the platform funds its own discount, as Pinduoduo's 商家实收金额 shows).

A paid amount above goods + shipping − discounts is accepted with a warning on the timeline, not
refused: deposits that count for more (定金膨胀), points and platform adjustments make real exports
disagree with the simple sum, and refusing would lose the order.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django.utils import timezone

from shopops.catalog.models import Sku
from shopops.channels.models import Shop
from shopops.channels.services import ShopSettings
from shopops.core.errors import InvalidInput, required_text
from shopops.core.money import CENT, MONEY_LIMIT, split_pro_rata, to_money
from shopops.customers.services import (
    keyed_hash,
    nick_hash,
    normalize_phone,
    phone_hash,
    phone_last4,
    platform_buyer_id,
)
from shopops.orders.models import OrderStatus, OrderType
from shopops.orders.services.common import aware
from shopops.orders.services.inputs import LineInput, OrderInput
from shopops.orders.services.sku_keys import mapped_sku_ids, mapping_key

ZERO = Decimal("0.00")
SKU_UNMATCHED = "sku_unmatched"
# `Choices.values` builds a new list on every access; an import checks every order against these.
ORDER_STATUSES = frozenset(OrderStatus.values)
ORDER_TYPES = frozenset(OrderType.values)


@dataclass
class PreparedLine:
    line_no: int
    data: LineInput
    sku_id: int | None
    discount: Decimal
    amount: Decimal


@dataclass
class PreparedOrder:
    data: OrderInput
    lines: list[PreparedLine]
    values: dict[str, Any]
    warnings: list[str] = field(default_factory=list)


def split_discount(total: Decimal, grosses: list[Decimal]) -> list[Decimal]:
    """`total` over lines pro rata to `grosses` in cents, last line the remainder, no share above its gross."""
    capacity = sum(grosses, ZERO)
    total = min(total, capacity)
    if total <= ZERO or not grosses:
        return [ZERO for _gross in grosses]
    shares = split_pro_rata(total, grosses)
    # Rounding can push the last share past its gross (or below 0): move the excess to earlier lines.
    excess = ZERO
    for index in range(len(shares)):
        if shares[index] > grosses[index]:
            excess += shares[index] - grosses[index]
            shares[index] = grosses[index]
        elif shares[index] < ZERO:
            excess += shares[index]
            shares[index] = ZERO
    for index in reversed(range(len(shares))):
        if excess == ZERO:
            break
        room = grosses[index] - shares[index] if excess > ZERO else shares[index]
        moved = min(room, abs(excess))
        shares[index] += moved if excess > ZERO else -moved
        excess -= moved if excess > ZERO else -moved
    return shares


def _money(value: Decimal | None, field_name: str) -> Decimal | None:
    if value is None:
        return None
    if type(value) is Decimal and value.is_finite():
        # the common case (an import's parsed amounts): what `to_money` does to a Decimal, inline
        amount = value.quantize(CENT, rounding=ROUND_HALF_UP)
        if ZERO <= amount < MONEY_LIMIT:
            return amount
    amount = to_money(value, field=field_name)
    if amount < ZERO:
        raise InvalidInput("金额不能为负", fields={field_name: "不能为负"})
    return amount


def _line_money(value: Decimal | None, index: int, name: str) -> Decimal | None:
    """`_money` of a line's amount; the field name (`lines.2.unit_price`) is only built for an error."""
    if value is None:
        return None
    if type(value) is Decimal and value.is_finite():
        amount = value.quantize(CENT, rounding=ROUND_HALF_UP)
        if ZERO <= amount < MONEY_LIMIT:
            return amount
    return _money(value, f"lines.{index}.{name}")


def _match_skus(lines: list[LineInput], shop_id: int | None = None) -> list[int | None]:
    """SKU ids by sku_id, else by merchant code (商家编码), else by the shop's mapping (商品对应, keyed by
    code or title + spec); None when unknown (the order gets an issue)."""
    ids = {line.sku_id for line in lines if line.sku_id}
    codes = {line.merchant_code.strip() for line in lines if not line.sku_id and line.merchant_code.strip()}
    known_ids = set(Sku.objects.filter(pk__in=ids).values_list("pk", flat=True)) if ids else set()
    by_code = (
        dict(Sku.objects.filter(merchant_code__in=codes).values_list("merchant_code", "pk")) if codes else {}
    )
    matched: list[int | None] = []
    for line in lines:
        if line.sku_id:
            matched.append(line.sku_id if line.sku_id in known_ids else None)
        else:
            matched.append(by_code.get(line.merchant_code.strip()))
    if shop_id is not None and None in matched:
        keys = {
            mapping_key(line.merchant_code, line.title, line.spec)
            for line, sku_id in zip(lines, matched, strict=True)
            if sku_id is None and not line.sku_id
        }
        mapped = mapped_sku_ids(shop_id, keys)
        matched = [
            sku_id
            if sku_id is not None or line.sku_id
            else mapped.get(mapping_key(line.merchant_code, line.title, line.spec))
            for line, sku_id in zip(lines, matched, strict=True)
        ]
    return matched


def _check_lines(data: OrderInput) -> tuple[list[Decimal], list[Decimal]]:  # noqa: C901 - inlined, on purpose
    """`_check_lines_in_order` with a fast path: when every quantity is a positive int and every unit
    price and discount a finite Decimal in range (or None: an import's parsed values), the same lists
    in one pass; otherwise `_check_lines_in_order`, whose errors come in their order."""
    grosses: list[Decimal] = []
    discounts: list[Decimal] = []
    for line in data.lines:
        quantity = line.quantity
        if quantity.__class__ is not int or quantity <= 0:
            return _check_lines_in_order(data)
        price = line.unit_price
        if price is None:
            price = ZERO
        elif price.__class__ is Decimal and price.is_finite():
            price = price.quantize(CENT, rounding=ROUND_HALF_UP)
            if not ZERO <= price < MONEY_LIMIT:
                return _check_lines_in_order(data)
            if not price:
                price = ZERO
        else:
            return _check_lines_in_order(data)
        discount = line.discount
        if discount is None:
            discount = ZERO
        elif discount.__class__ is Decimal and discount.is_finite():
            discount = discount.quantize(CENT, rounding=ROUND_HALF_UP)
            if not ZERO <= discount < MONEY_LIMIT:
                return _check_lines_in_order(data)
            if not discount:
                discount = ZERO
        else:
            return _check_lines_in_order(data)
        grosses.append((price * quantity).quantize(CENT))
        discounts.append(discount)
    return grosses, discounts


def _check_lines_in_order(data: OrderInput) -> tuple[list[Decimal], list[Decimal]]:
    """The lines' gross amounts (unit price × quantity) and discounts, validated."""
    grosses: list[Decimal] = []
    for index, line in enumerate(data.lines, start=1):
        if isinstance(line.quantity, bool) or not isinstance(line.quantity, int) or line.quantity <= 0:
            raise InvalidInput(
                f"第 {index} 行数量须为正整数", fields={f"lines.{index}.quantity": "须为正整数"}
            )
        price = _line_money(line.unit_price, index, "unit_price") or ZERO
        grosses.append((price * line.quantity).quantize(CENT))
    discounts = [
        _line_money(line.discount, index, "discount") or ZERO for index, line in enumerate(data.lines, 1)
    ]
    return grosses, discounts


def _prepare_lines(
    data: OrderInput,
    sku_ids: list[int | None],
    order_discount: Decimal,
    line_checks: tuple[list[Decimal], list[Decimal]],
) -> list[PreparedLine]:
    """The lines' amounts; `order_discount`: shop + platform discount, `line_checks`: `_check_lines`."""
    grosses, discounts = line_checks
    no_line_shares = all(value == ZERO for value in discounts) and all(
        line.amount is None for line in data.lines
    )
    if order_discount > ZERO and no_line_shares:
        discounts = split_discount(order_discount, grosses)
    prepared = []
    for index, (line, sku_id, gross, discount) in enumerate(
        zip(data.lines, sku_ids, grosses, discounts, strict=True), start=1
    ):
        amount = line.amount
        if amount is not None:
            if amount.__class__ is Decimal and amount.is_finite():
                # `_line_money`'s fast path, inline
                amount = amount.quantize(CENT, rounding=ROUND_HALF_UP)
                if not ZERO <= amount < MONEY_LIMIT:
                    amount = _line_money(line.amount, index, "amount")
            else:
                amount = _line_money(amount, index, "amount")
        if amount is None:
            amount = gross - discount
            if amount < ZERO:
                raise InvalidInput(
                    f"第 {index} 行优惠超过商品金额", fields={f"lines.{index}.discount": "超过商品金额"}
                )
        prepared.append(
            PreparedLine(line_no=index, data=line, sku_id=sku_id, discount=discount, amount=amount)
        )
    return prepared


def receiver_fingerprint(data: OrderInput) -> str:
    """Same receiver = same name, phone and full address (for merging parcels); '' if incomplete."""
    phone = normalize_phone(data.receiver_phone) or data.receiver_phone.strip()
    parts = [
        data.receiver_name,
        phone,
        data.receiver_province,
        data.receiver_city,
        data.receiver_district,
        data.receiver_address,
    ]
    cleaned = ["".join(part.split()).lower() for part in parts]
    if not cleaned[0] or not cleaned[1] or not cleaned[5]:
        return ""
    return keyed_hash("receiver:" + "|".join(cleaned))


def _pay_deadline(data: OrderInput, settings: ShopSettings) -> dt.datetime | None:
    if data.status != OrderStatus.PENDING_PAYMENT:
        return None
    minutes = (
        settings.flash_sale_unpaid_timeout_minutes
        if data.order_type == OrderType.FLASH_SALE
        else settings.unpaid_timeout_minutes
    )
    return data.placed_at + dt.timedelta(minutes=minutes)


def _check_header(data: OrderInput) -> None:
    required_text(data.external_id, field="external_id", label="平台订单号", max_length=64)
    if data.status not in ORDER_STATUSES:
        raise InvalidInput(
            f"未知订单状态：{data.status}", fields={"status": f"可选：{', '.join(OrderStatus.values)}"}
        )
    if data.order_type not in ORDER_TYPES:
        raise InvalidInput(f"未知订单类型：{data.order_type}", fields={"order_type": "未知"})
    if aware(data.placed_at, field="placed_at") is None:
        raise InvalidInput("下单时间必填", fields={"placed_at": "必填"})
    for name in ("paid_at", "shipped_at", "delivered_at", "completed_at", "cancelled_at"):
        aware(getattr(data, name), field=name)
    if data.flag is not None and not 0 <= data.flag <= 5:
        raise InvalidInput("旗帜须为 0–5", fields={"flag": "须为 0–5"})


def prepare_order(
    shop: Shop, data: OrderInput, settings: ShopSettings, *, sku_ids: list[int | None] | None = None
) -> PreparedOrder:
    """Validate `data` and compute every stored value of the order (no writes). `sku_ids`: the lines'
    SKUs already resolved by the caller (an import resolves a chunk's merchant codes in one query),
    one per line; when omitted they are matched here."""
    _check_header(data)
    if sku_ids is None:
        sku_ids = _match_skus(data.lines, shop.pk)
    elif len(sku_ids) != len(data.lines):
        raise ValueError("sku_ids must give one SKU (or None) per line")
    # The line checks come first (their errors win, as before), then the order's amounts, each parsed once.
    line_checks = _check_lines(data)
    shop_discount = _money(data.shop_discount, "shop_discount") or ZERO
    platform_discount = _money(data.platform_discount, "platform_discount") or ZERO
    lines = _prepare_lines(data, sku_ids, shop_discount + platform_discount, line_checks)
    gross = sum(((line.data.unit_price or ZERO) * line.data.quantity for line in lines), ZERO).quantize(CENT)
    goods = _money(data.goods_amount, "goods_amount")
    goods = gross if goods is None else goods
    shipping = _money(data.shipping_fee, "shipping_fee") or ZERO
    expected = max(goods + shipping - shop_discount - platform_discount, ZERO)
    paid = _money(data.paid_amount, "paid_amount")
    paid = expected if paid is None else paid
    warnings = []
    if paid > expected:
        warnings.append(f"实付 {paid} 高于 商品+运费−优惠 = {expected}")
    received = _money(data.merchant_received, "merchant_received")
    refunded = _money(data.refunded_amount, "refunded_amount") or ZERO
    if refunded > paid:
        raise InvalidInput("已退款金额超过实付金额", fields={"refunded_amount": f"最多 {paid}"})
    paid_at = data.paid_at
    if paid_at is None and data.status not in (OrderStatus.PENDING_PAYMENT, OrderStatus.CANCELLED):
        paid_at = data.placed_at  # a paid order without a payment time: the export left it out
    tracked = data.placed_at >= (settings.stock_effects_since or timezone.now())
    values: dict[str, Any] = {
        "shop": shop,
        "external_id": data.external_id.strip(),
        "order_type": data.order_type,
        "is_test": data.is_test,
        "buyer_id": platform_buyer_id(data.buyer_id),  # an e-mail or phone as buyer id: its keyed hash
        "buyer_nick": data.buyer_nick[:100],
        "buyer_nick_hash": nick_hash(data.buyer_nick[:100]),
        "buyer_email": data.buyer_email[:200],
        "receiver_name": data.receiver_name[:100],
        "receiver_phone": data.receiver_phone[:40],
        "receiver_phone_hash": phone_hash(data.receiver_phone),
        "receiver_phone_last4": phone_last4(data.receiver_phone),
        "receiver_province": data.receiver_province[:30],
        "receiver_city": data.receiver_city[:30],
        "receiver_district": data.receiver_district[:30],
        "receiver_address": data.receiver_address[:300],
        "receiver_postcode": data.receiver_postcode[:10],
        "receiver_country": data.receiver_country[:40],
        "receiver_hash": receiver_fingerprint(data),
        "currency": (data.currency or "CNY")[:3],
        "goods_amount": goods,
        "shipping_fee": shipping,
        "shop_discount": shop_discount,
        "platform_discount": platform_discount,
        "paid_amount": paid,
        "merchant_received": paid + platform_discount if received is None else received,
        "refunded_amount": refunded,
        "status": data.status,
        "platform_status": data.platform_status[:60],
        "placed_at": data.placed_at,
        "paid_at": paid_at,
        "shipped_at": data.shipped_at,
        "delivered_at": data.delivered_at,
        "completed_at": data.completed_at,
        "cancelled_at": data.cancelled_at,
        "close_reason": data.close_reason[:200],
        "pay_deadline": _pay_deadline(data, settings),
        "carrier_name": data.carrier_name[:40],
        "tracking_number": data.tracking_number[:40],
        "buyer_message": data.buyer_message[:500],
        "seller_memo": data.seller_memo[:500],
        "flag": data.flag or 0,
        "stock_state": "none" if tracked else "untracked",
    }
    return PreparedOrder(data=data, lines=lines, values=values, warnings=warnings)
