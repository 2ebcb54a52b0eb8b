"""Conversion and UV价值 divide buyers and visitors of the same shops, and a shop's traffic comes from the source
it has (issue 11 §5). Expected numbers from plain Python over the source rows."""

from __future__ import annotations

import datetime as dt
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import ibis
import pytest

from shopops.analytics.metrics import compute, sample_data
from shopops.analytics.warehouse import rollups, tables

DAY = dt.date(2026, 11, 24)
OWN, TAOBAO, JD = 1, 2, 3


def _dataset() -> dict[str, list[dict[str, Any]]]:
    events = [
        sample_data.event(ts=sample_data.at(DAY, 9, minute), visitor_id=f"v{minute}", shop_id=OWN)
        for minute in range(10)
    ]
    orders = []
    number = 0
    for shop, channel, customers, amount in (
        (OWN, "own", [1, 2], Decimal("80.00")),
        (TAOBAO, "taobao", [11, 12, 13, 14, 15], Decimal("50.00")),
        (JD, "jd", [21, 22, 23, 24], Decimal("30.00")),
    ):
        for customer in customers:
            number += 1
            orders.append(
                sample_data.order(
                    order_id=number,
                    created_at=sample_data.at(DAY, 10),
                    paid_at=sample_data.at(DAY, 10, 5),
                    customer_id=customer,
                    shop_id=shop,
                    channel=channel,
                    goods_amount=amount,
                )
            )
    reports = [
        sample_data.traffic_report(
            day=DAY,
            visitors=200,
            page_views=900,
            paying_buyers=5,
            paid_amount=Decimal("250.00"),
            shop_id=TAOBAO,
        )
    ]
    return {"events": events, "orders": orders, "traffic_reports": reports}


def _ratio(a: Decimal | int, b: Decimal | int, places: str = "0.0001") -> Decimal:
    return (Decimal(a) / Decimal(b)).quantize(Decimal(places), rounding=ROUND_HALF_UP)


@pytest.fixture(params=["definitions", "rollups"])
def source(request: pytest.FixtureRequest, tmp_path: Path, settings: Any) -> dict[str, Any]:
    data = _dataset()
    root = tmp_path / "analytics"
    sample_data.write_dataset(root, data)
    settings.ANALYTICS_DIR = root
    if request.param == "rollups":
        rollups.rebuild(root=root)
        return {"data": data, "tables": None}
    return {"data": data, "tables": tables.ibis_tables(ibis.duckdb.connect(), root=root)}


@pytest.mark.parametrize(
    "shops",
    [None, [OWN], [TAOBAO], [JD], [OWN, JD]],
    ids=["all", "own", "taobao", "jd", "own+jd"],
)
def test_conversion_divides_buyers_and_visitors_of_the_same_shops(source: dict[str, Any], shops: Any) -> None:
    data = source["data"]
    selected = {OWN, TAOBAO, JD} if shops is None else set(shops)
    # plain Python: each shop's visitors from the source it has (events, else its platform report)
    own_visitors = {e["shop_id"]: set() for e in data["events"]}
    for event in data["events"]:
        own_visitors[event["shop_id"]].add(event["visitor_id"])
    visitors_of = {shop: len(ids) for shop, ids in own_visitors.items()}
    for report in data["traffic_reports"]:
        visitors_of.setdefault(report["shop_id"], report["visitors"])
    with_traffic = selected & set(visitors_of)
    visitors = sum(visitors_of[shop] for shop in with_traffic)
    paid = [o for o in data["orders"] if o["shop_id"] in selected]
    matched = [o for o in paid if o["shop_id"] in with_traffic]
    buyers = len({o["customer_id"] for o in matched})
    amount = sum((o["paid_amount"] for o in matched), Decimal("0.00"))
    # when
    result = compute.overview(DAY, DAY, shop_ids=shops, tables=source["tables"])
    # then
    assert result.metrics["visitors"] == visitors
    assert result.metrics["paid_amount"] == sum((o["paid_amount"] for o in paid), Decimal("0.00"))
    if visitors:
        assert result.metrics["payment_conversion"] == _ratio(buyers, visitors)
        assert result.metrics["uv_value"] == _ratio(amount, visitors, "0.01")
    else:
        assert result.metrics["payment_conversion"] is None
        assert result.metrics["uv_value"] is None
    expected_sources = {
        shop: ("events" if shop in own_visitors else "platform_reports") for shop in sorted(with_traffic)
    }
    assert {item.shop_id: item.source for item in result.traffic_shops} == expected_sources


def test_all_shops_no_longer_divide_every_buyer_by_own_visitors(source: dict[str, Any]) -> None:
    # the number the issue saw: 11 buyers of three shops ÷ 10 own-shop visitors = 110 %
    result = compute.overview(DAY, DAY, tables=source["tables"])
    assert result.metrics["payment_conversion"] == _ratio(2 + 5, 10 + 200)
    assert result.metrics["paying_buyers"] == 11  # the buyer count itself still covers every shop


def test_the_tmall_style_shop_shows_its_imported_visitors(source: dict[str, Any]) -> None:
    trend = compute.trend(DAY, DAY, shop_ids=[TAOBAO], tables=source["tables"])
    assert trend.points[0].metrics["visitors"] == 200
    assert trend.points[0].metrics["pv"] == 900
    assert trend.points[0].measures["own_visitors"] == 0
