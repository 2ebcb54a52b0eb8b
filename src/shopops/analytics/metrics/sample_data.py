"""Rows for the raw analytics tables, by hand or at random, and writing them as the warehouse's Parquet.

Used by the metric tests (known answers, random data checked against an independent computation)
and by benchmarks; never by the application itself.
"""

from __future__ import annotations

import datetime as dt
import random
import uuid
from collections.abc import Mapping, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pyarrow as pa
import pyarrow.parquet as pq

from shopops.analytics.warehouse import tables as warehouse_tables

SHANGHAI = ZoneInfo("Asia/Shanghai")
UTC = dt.UTC
CENT = Decimal("0.01")


def shanghai_day(moment: dt.datetime) -> dt.date:
    return moment.astimezone(SHANGHAI).date()


def at(day: dt.date, hour: int = 12, minute: int = 0, second: int = 0) -> dt.datetime:
    """An aware UTC moment given as Asia/Shanghai wall time."""
    return dt.datetime(day.year, day.month, day.day, hour, minute, second, tzinfo=SHANGHAI).astimezone(UTC)


def event(
    *,
    ts: dt.datetime,
    visitor_id: str = "v1",
    type: str = "page_view",  # noqa: A002 - the column's name
    shop_id: int = 1,
    channel: str = "own",
    source: str = "direct",
    product: str = "",
    ip_key: str | None = None,
    order_id: str = "",
    amount: Decimal | None = None,
    event_id: str | None = None,
) -> dict[str, Any]:
    return {
        "event_id": event_id or uuid.uuid4().hex,
        "type": type,
        "ts": ts,
        "day": shanghai_day(ts),
        "shop_id": shop_id,
        "channel": channel,
        "visitor_id": visitor_id,
        "session_id": "",
        "path": f"/p/{product}" if product else "/",
        "url": "https://shop.example.cn/",
        "referrer": "",
        "source": source,
        "medium": "direct" if source == "direct" else "referral",
        "campaign": "",
        "product": product,
        "sku": "",
        "order_id": order_id,
        "amount": amount,
        "device": "mobile",
        "ip_key": ip_key if ip_key is not None else f"ip-{visitor_id}",
        "received_at": ts,
    }


def order(
    *,
    order_id: int,
    created_at: dt.datetime,
    customer_id: int | None = 1,
    shop_id: int = 1,
    channel: str = "own",
    paid_at: dt.datetime | None = None,
    is_valid: bool | None = None,
    goods_amount: Decimal = Decimal("100.00"),
    shipping_fee: Decimal = Decimal("0.00"),
    discount_amount: Decimal = Decimal("0.00"),
    paid_amount: Decimal | None = None,
    cogs: Decimal = Decimal("40.00"),
    refunded_amount: Decimal = Decimal("0.00"),
    first_refund_at: dt.datetime | None = None,
    units: int = 1,
    source: str = "",
    visitor_id: str = "",
    status: str | None = None,
) -> dict[str, Any]:
    if paid_amount is None:
        paid_amount = goods_amount + shipping_fee - discount_amount if paid_at else Decimal("0.00")
    valid = (paid_at is not None) if is_valid is None else is_valid
    return {
        "order_id": order_id,
        "shop_id": shop_id,
        "channel": channel,
        "external_id": f"E{order_id}",
        "customer_id": customer_id,
        "status": status or ("paid" if paid_at else "pending_payment"),
        "is_valid": valid,
        "created_at": created_at,
        "created_day": shanghai_day(created_at),
        "paid_at": paid_at,
        "paid_day": shanghai_day(paid_at) if paid_at else None,
        "goods_amount": goods_amount,
        "shipping_fee": shipping_fee,
        "discount_amount": discount_amount,
        "paid_amount": paid_amount,
        "net_sales": paid_amount - shipping_fee - refunded_amount,
        "cogs": cogs,
        "refunded_amount": refunded_amount,
        "first_refund_at": first_refund_at,
        "units": units,
        "visitor_id": visitor_id,
        "source": source,
        "updated_at": first_refund_at or paid_at or created_at,
    }


def line(
    *,
    line_id: int,
    of: Mapping[str, Any],
    product_code: str,
    quantity: int = 1,
    amount: Decimal = Decimal("100.00"),
    cogs: Decimal = Decimal("40.00"),
    refunded_quantity: int = 0,
    refunded_amount: Decimal = Decimal("0.00"),
) -> dict[str, Any]:
    return {
        "line_id": line_id,
        "order_id": of["order_id"],
        "shop_id": of["shop_id"],
        "channel": of["channel"],
        "created_day": of["created_day"],
        "paid_day": of["paid_day"],
        "is_valid": of["is_valid"],
        "product_code": product_code,
        "sku_code": f"{product_code}-1",
        "quantity": quantity,
        "amount": amount,
        "cogs": cogs,
        "refunded_quantity": refunded_quantity,
        "refunded_amount": refunded_amount,
    }


def ad_spend(
    *,
    day: dt.date,
    spend: Decimal,
    campaign: str = "c1",
    ad_channel: str = "直通车",
    shop_id: int = 1,
    channel: str = "taobao",
    attributed_revenue: Decimal | None = None,
    attributed_orders: int | None = None,
) -> dict[str, Any]:
    return {
        "day": day,
        "shop_id": shop_id,
        "channel": channel,
        "ad_channel": ad_channel,
        "campaign": campaign,
        "spend": spend,
        "impressions": 1000,
        "clicks": 50,
        "attributed_orders": attributed_orders,
        "attributed_revenue": attributed_revenue,
    }


def traffic_report(
    *,
    day: dt.date,
    visitors: int,
    page_views: int,
    paying_buyers: int,
    paid_amount: Decimal,
    product_code: str = "",
    shop_id: int = 2,
    channel: str = "taobao",
    paid_orders: int | None = None,
    add_to_cart_buyers: int | None = None,
) -> dict[str, Any]:
    return {
        "day": day,
        "shop_id": shop_id,
        "channel": channel,
        "product_code": product_code,
        "visitors": visitors,
        "page_views": page_views,
        "paying_buyers": paying_buyers,
        "paid_orders": paid_orders,
        "paid_amount": paid_amount,
        "add_to_cart_buyers": add_to_cart_buyers,
    }


def write_dataset(root: Path, data: Mapping[str, Sequence[Mapping[str, Any]]]) -> None:
    """Write rows as the warehouse lays them out: one Parquet file per dataset and day folder."""
    for name, schema in warehouse_tables.SCHEMAS.items():
        rows = list(data.get(name, ()))
        partition = warehouse_tables.PARTITION_COLUMN[name]
        by_day: dict[dt.date, list[Mapping[str, Any]]] = {}
        for row in rows:
            by_day.setdefault(row[partition], []).append(row)
        folder = warehouse_tables.dataset_dir(name, root)
        for day, day_rows in sorted(by_day.items()):
            path = folder / f"day={day.isoformat()}" / "part-0.parquet"
            path.parent.mkdir(parents=True, exist_ok=True)
            columns = {field.name: [row[field.name] for row in day_rows] for field in schema}
            pq.write_table(pa.table(columns, schema=schema), path)


def random_dataset(
    *, seed: int, start: dt.date, days: int, visitors: int = 200, customers: int = 60, shops: int = 2
) -> dict[str, list[dict[str, Any]]]:
    """A random but realistic mix: visits across the 30-minute boundary and midnight, repeat buyers,
    anonymous buyers, invalid and unpaid orders, late and early refunds, spend and platform reports."""
    generator = random.Random(seed)
    channels = {shop: ("own" if shop == 1 else "taobao") for shop in range(1, shops + 1)}
    sources = ["direct", "baidu", "wechat", "douyin", "google"]
    products = ["P1", "P2", "P3", "P4"]
    events: list[dict[str, Any]] = []
    for number in range(visitors):
        visitor = f"v{number}"
        shop = generator.randint(1, shops)
        moment = at(start, 0) + dt.timedelta(minutes=generator.randint(0, days * 24 * 60 - 1))
        for _event in range(generator.randint(1, 12)):
            kind = generator.choice(
                ["page_view", "page_view", "product_view", "add_to_cart", "checkout_start"]
            )
            events.append(
                event(
                    ts=moment,
                    visitor_id=visitor,
                    type=kind,
                    shop_id=shop,
                    channel=channels[shop],
                    source=generator.choice(sources),
                    product="" if kind == "page_view" else generator.choice(products),
                    ip_key=f"ip{generator.randint(0, visitors // 2)}",
                )
            )
            moment += dt.timedelta(
                seconds=generator.choice([5, 61, 600, 1799, 1800, 1801, 1805, 3600, 5 * 3600, 26 * 3600])
                + generator.randint(0, 999) / 1000
            )
    orders: list[dict[str, Any]] = []
    lines: list[dict[str, Any]] = []
    history_start = start - dt.timedelta(days=400)
    total_days = days + 400
    for number in range(1, customers * 4 + 1):
        shop = generator.randint(1, shops)
        customer = generator.choice([None, *range(1, customers + 1)])
        created = at(history_start, 0) + dt.timedelta(minutes=generator.randint(0, total_days * 24 * 60 - 1))
        paid = created + dt.timedelta(minutes=generator.randint(1, 120)) if generator.random() < 0.8 else None
        goods = Decimal(generator.randint(1000, 50000)) / 100
        shipping = Decimal(generator.choice([0, 800, 1200])) / 100
        discount = Decimal(generator.randint(0, 900)) / 100
        refund_at = None
        refunded = Decimal("0.00")
        if paid and generator.random() < 0.25:
            refund_at = paid + dt.timedelta(
                days=generator.choice([1, 29, 30, 31, 45]), hours=generator.randint(-2, 2)
            )
            refunded = (goods / 2).quantize(CENT)
        row = order(
            order_id=number,
            created_at=created,
            customer_id=customer,
            shop_id=shop,
            channel=channels[shop],
            paid_at=paid,
            is_valid=bool(paid) and generator.random() < 0.9,
            goods_amount=goods,
            shipping_fee=shipping,
            discount_amount=discount,
            cogs=(goods * Decimal("0.4")).quantize(CENT),
            refunded_amount=refunded,
            first_refund_at=refund_at,
            units=generator.randint(1, 4),
            source=generator.choice(sources) if shop == 1 else "",
        )
        orders.append(row)
        for index in range(generator.randint(1, 3)):
            quantity = generator.randint(1, 3)
            lines.append(
                line(
                    line_id=number * 10 + index,
                    of=row,
                    product_code=generator.choice(products),
                    quantity=quantity,
                    amount=(goods / 3).quantize(CENT),
                    cogs=(goods / 8).quantize(CENT),
                    refunded_quantity=quantity if refunded and index == 0 else 0,
                    refunded_amount=(goods / 3).quantize(CENT)
                    if refunded and index == 0
                    else Decimal("0.00"),
                )
            )
    spend = [
        ad_spend(
            day=start + dt.timedelta(days=offset),
            spend=Decimal(generator.randint(0, 50000)) / 100,
            campaign=generator.choice(["c1", "c2"]),
            ad_channel=generator.choice(["直通车", "万相台"]),
            shop_id=2,
            attributed_revenue=generator.choice([None, Decimal(generator.randint(0, 90000)) / 100]),
        )
        for offset in range(days)
        for _campaign in range(2)
    ]
    reports = [
        traffic_report(
            day=start + dt.timedelta(days=offset),
            product_code=product,
            visitors=generator.randint(10, 500),
            page_views=generator.randint(500, 2000),
            paying_buyers=generator.randint(0, 10),
            paid_amount=Decimal(generator.randint(0, 100000)) / 100,
        )
        for offset in range(days)
        for product in ["", "P1", "P2"]
    ]
    return {
        "events": events,
        "orders": orders,
        "order_lines": lines,
        "ad_spend": _unique_spend(spend),
        "traffic_reports": reports,
    }


def _unique_spend(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    seen: dict[tuple[Any, ...], dict[str, Any]] = {}
    for row in rows:
        seen.setdefault((row["day"], row["shop_id"], row["ad_channel"], row["campaign"]), row)
    return list(seen.values())
