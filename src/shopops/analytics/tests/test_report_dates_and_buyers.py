"""Reports accept every date the data has (a 1997 order), and an order without a customer is no buyer (issue 11 §5:
docs and code agree). Expected numbers from plain Python over the source rows."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path
from typing import Any

import ibis
import pytest
import time_machine

from shopops.analytics.metrics import compute, definitions, sample_data
from shopops.analytics.warehouse import facts, rollups, tables
from shopops.channels.models import Platform
from shopops.orders.tests.factories import create_order, create_shop

DAY = dt.date(2026, 11, 24)


@pytest.mark.django_db
def test_a_1997_order_is_reported_through_the_api(
    settings: Any, tmp_path: Path, make_user, api_client_for
) -> None:
    settings.ANALYTICS_DIR = tmp_path / "analytics"
    with time_machine.travel(dt.datetime(2026, 12, 1, 2, 0, tzinfo=dt.UTC), tick=True):
        # given an order of 1997 (imports accept it) in the facts
        shop = create_shop(platform=Platform.TMALL, code="old-shop")
        placed = dt.datetime(1997, 3, 14, 10, 0, tzinfo=dt.timezone(dt.timedelta(hours=8)))
        order = create_order(
            shop=shop, external_id="OLD-1", lines=[("X", 2, "49.50")], placed_at=placed, paid_at=placed
        )
        facts.sync()
        rollups.rebuild()
        client = api_client_for(make_user("finance"))
        # when its month is asked for
        response = client.get("/api/v1/analytics/overview?start=1997-03-01&end=1997-03-31")
        early = client.get("/api/v1/analytics/overview?start=0999-12-31&end=1000-01-05")
    # then it is there, with its amount
    assert response.status_code == 200, response.content
    kpis = {kpi["code"]: kpi for kpi in response.json()["kpis"]}
    assert Decimal(kpis["paid_amount"]["value"]) == order.paid_amount == Decimal("99.00")
    assert kpis["paid_orders"]["value"] == 1
    # and a day before any the warehouse can hold is a 4xx with a Chinese message, not a 500
    assert early.status_code == 422
    assert "日期须在 1000-01-01 与 2999-12-31 之间" in early.json()["fields"]["start"]


@pytest.fixture
def root(tmp_path: Path) -> Path:
    data = {
        "orders": [
            sample_data.order(
                order_id=number,
                created_at=sample_data.at(DAY, 10),
                paid_at=sample_data.at(DAY, 11),
                customer_id=customer,
                goods_amount=Decimal("20.00"),
            )
            for number, customer in enumerate([7, 7, 8, None, None], start=1)
        ]
    }
    folder = tmp_path / "analytics"
    sample_data.write_dataset(folder, data)
    rollups.rebuild(root=folder)
    return folder


def test_an_order_without_a_customer_is_no_buyer(root: Path) -> None:
    # plain Python: buyers are the distinct customers; the two anonymous orders count as orders only
    customers = [7, 7, 8, None, None]
    expected_buyers = len({customer for customer in customers if customer is not None})
    raw = definitions.grouped_measures(tables.ibis_tables(ibis.duckdb.connect(), root=root), DAY, DAY)[0]
    fast = rollups.measures(DAY, DAY, root=root)[0]
    for found in (raw, fast):
        assert (
            (found["paying_buyers"], found["ordering_buyers"]) == (expected_buyers, expected_buyers) == (2, 2)
        )
        assert found["paid_orders"] == len(customers)
        assert found["paid_amount"] == Decimal("20.00") * len(customers)
    # 客单价 (per buyer) divides every paid amount by those two buyers, as documented
    assert compute.derive(fast)["aov"] == Decimal("50.00")
