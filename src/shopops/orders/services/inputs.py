"""What callers hand to the order services: a platform-neutral order with its lines.

The API (own web shop), every platform importer and the demo build these; `orders.services` turns them
into rows. Money is Decimal (2 places), times are aware datetimes, ids are strings.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal

ZERO = Decimal("0.00")


@dataclass
class LineInput:
    """One order line as the platform reports it. `merchant_code` finds the SKU (商家编码)."""

    quantity: int
    unit_price: Decimal = ZERO
    merchant_code: str = ""
    sku_id: int | None = None
    title: str = ""
    spec: str = ""
    discount: Decimal = ZERO
    amount: Decimal | None = None  # default: unit_price × quantity − discount
    external_line_id: str = ""
    platform_status: str = ""
    refund_amount: Decimal = ZERO  # what the platform says was refunded on this line (imports)
    is_gift: bool = False


@dataclass
class OrderInput:
    """One order as a platform (or our own web shop) reports it.

    `status` is already normalized (an `OrderStatus` value); `platform_status` keeps the raw text.
    Fields left None mean "not reported": an update leaves the stored value alone.
    """

    external_id: str
    placed_at: dt.datetime
    status: str
    lines: list[LineInput] = field(default_factory=list)
    platform_status: str = ""
    order_type: str = "normal"
    buyer_id: str = ""
    buyer_nick: str = ""
    buyer_email: str = ""
    receiver_name: str = ""
    receiver_phone: str = ""
    receiver_province: str = ""
    receiver_city: str = ""
    receiver_district: str = ""
    receiver_address: str = ""
    receiver_postcode: str = ""
    receiver_country: str = ""
    currency: str = "CNY"
    goods_amount: Decimal | None = None
    shipping_fee: Decimal | None = None
    shop_discount: Decimal | None = None
    platform_discount: Decimal | None = None
    paid_amount: Decimal | None = None
    merchant_received: Decimal | None = None
    refunded_amount: Decimal | None = None  # platform-reported total refunded (imports)
    paid_at: dt.datetime | None = None
    shipped_at: dt.datetime | None = None
    delivered_at: dt.datetime | None = None
    completed_at: dt.datetime | None = None
    cancelled_at: dt.datetime | None = None
    close_reason: str = ""
    buyer_message: str = ""
    seller_memo: str = ""
    flag: int | None = None
    is_test: bool = False
    carrier_name: str = ""  # as written in the file (物流公司); fulfillment maps it to a Carrier
    tracking_number: str = ""
