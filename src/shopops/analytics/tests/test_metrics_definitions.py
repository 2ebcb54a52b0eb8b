import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import ibis
import pytest

from shopops.analytics.metrics import definitions
from shopops.analytics.metrics.conventions import Conventions
from shopops.analytics.metrics.sample_data import at, event, order, random_dataset, write_dataset
from shopops.analytics.tests.test_metrics_reference import product_reference, reference_measures
from shopops.analytics.warehouse import tables as warehouse_tables

D = dt.date(2026, 3, 10)
DAY = dt.timedelta(days=1)
Data = Mapping[str, Sequence[Mapping[str, Any]]]


@pytest.fixture
def tables_for(tmp_path: Path) -> Callable[[Data], dict[str, Any]]:
    def build(data: Data) -> dict[str, Any]:
        root = tmp_path / f"a{len(list(tmp_path.iterdir()))}"
        write_dataset(root, data)
        return warehouse_tables.ibis_tables(ibis.duckdb.connect(), root=root)

    return build


def visits_data() -> dict[str, list[dict[str, Any]]]:
    ms = dt.timedelta(milliseconds=250)
    return {
        "events": [
            # a: 29:59 apart (same visit, with milliseconds), then 30:01 later (a new visit)
            event(visitor_id="a", ts=at(D, 10, 0, 0) + ms, ip_key="ip1"),
            event(
                visitor_id="a", ts=at(D, 10, 29, 59) + 3 * ms, type="product_view", product="P1", ip_key="ip1"
            ),
            event(visitor_id="a", ts=at(D, 11, 0, 1), ip_key="ip1"),
            # b: a visit across midnight belongs to the day it began
            event(visitor_id="b", ts=at(D, 23, 50), ip_key="ip1", source="baidu"),
            event(visitor_id="b", ts=at(D + DAY, 0, 10), ip_key="ip1"),
            event(visitor_id="b", ts=at(D + DAY, 0, 15), type="add_to_cart", product="P1", ip_key="ip1"),
            # c: exactly 30 minutes idle does not end the visit
            event(visitor_id="c", ts=at(D, 12, 0), ip_key="ip2", source="wechat"),
            event(visitor_id="c", ts=at(D, 12, 30), ip_key="ip2", source="wechat"),
            # d: seen the day before, so not a new visitor on D
            event(visitor_id="d", ts=at(D - DAY, 9), ip_key="ip3"),
            event(visitor_id="d", ts=at(D, 9), ip_key="ip3"),
            # e: no view at all (neither bounce nor multi-page), no IP
            event(visitor_id="e", ts=at(D, 15), type="add_to_cart", product="P2", ip_key=""),
        ]
    }


def test_visits_follow_the_30_minute_idle_rule_and_begin_on_their_first_day(
    tables_for: Callable[..., Any],
) -> None:
    # given visits across the 30-minute boundary and midnight
    tables = tables_for(visits_data())
    # when the day is measured
    measures = definitions.base_measures(tables, D, D)
    # then (written by hand)
    assert {name: measures[name] for name in definitions.TRAFFIC_MEASURES + definitions.SESSION_MEASURES} == {
        "pv": 7,
        "visitors": 5,
        "ips": 3,
        "new_visitors": 4,
        "product_views": 1,
        "product_visitors": 1,
        "cart_visitors": 1,
        "checkout_visitors": 0,
        "sessions": 6,
        "bounce_sessions": 2,
        "duration_seconds": 1799 + 1500 + 1800,  # a's 1799.5 s, b's 25 min, c's 30 min
        "multi_page_sessions": 3,
    }


def test_the_day_after_midnight_has_the_events_but_not_the_visit(tables_for: Callable[..., Any]) -> None:
    # given the same visits
    tables = tables_for(visits_data())
    # when the next day is measured
    measures = definitions.base_measures(tables, D + DAY, D + DAY)
    # then b is a visitor that day, but its visit began the day before
    assert (measures["pv"], measures["visitors"], measures["new_visitors"], measures["sessions"]) == (
        1,
        1,
        0,
        0,
    )
    assert measures["cart_visitors"] == 1


def test_distinct_counts_over_a_range_are_not_sums_of_days(tables_for: Callable[..., Any]) -> None:
    # given visitors on several days
    tables = tables_for(visits_data())
    # when measured per day and over the range
    days = definitions.grouped_measures(tables, D - DAY, D + DAY, by=("day",))
    whole = definitions.base_measures(tables, D - DAY, D + DAY)
    # then daily visitors are 1, 5, 1 but the range has 5 people; new visitors per day are exact too
    assert [(row["day"], row["visitors"], row["new_visitors"], row["sessions"]) for row in days] == [
        (D - DAY, 1, 1, 1),
        (D, 5, 4, 6),
        (D + DAY, 1, 0, 0),
    ]
    assert (whole["visitors"], whole["new_visitors"], whole["ips"], whole["sessions"]) == (5, 5, 3, 7)


def test_sessions_take_the_source_of_their_first_event(tables_for: Callable[..., Any]) -> None:
    # given b's visit starting from baidu and c's from wechat
    tables = tables_for(visits_data())
    # when grouped by source
    rows = {row["source"]: row for row in definitions.grouped_measures(tables, D, D, by=("source",))}
    # then
    assert {source: row["sessions"] for source, row in rows.items()} == {"direct": 4, "baidu": 1, "wechat": 1}
    assert {source: row["pv"] for source, row in rows.items()} == {"direct": 4, "baidu": 1, "wechat": 2}


def orders_data() -> dict[str, list[dict[str, Any]]]:
    def paid_order(number: int, customer: int | None, when: dt.datetime, **extra: Any) -> dict[str, Any]:
        return order(
            order_id=number,
            customer_id=customer,
            created_at=when,
            paid_at=when + dt.timedelta(minutes=5),
            **extra,
        )

    o2_paid = at(D, 10, 5)
    o5_paid = at(D, 11, 5)
    o6_paid = at(D, 15, 5)
    return {
        "orders": [
            paid_order(1, 1, at(D - 364 * DAY, 12), goods_amount=Decimal("50.00")),
            paid_order(
                2,
                1,
                at(D, 10),
                goods_amount=Decimal("100.00"),
                shipping_fee=Decimal("10.00"),
                discount_amount=Decimal("5.00"),
                cogs=Decimal("40.00"),
                units=2,
                refunded_amount=Decimal("30.00"),
                first_refund_at=o2_paid + 29 * DAY,
            ),
            paid_order(3, 2, at(D - 366 * DAY, 12), goods_amount=Decimal("50.00")),
            # placed before midnight, paid after: placed the day before, paid on D
            order(
                order_id=4,
                customer_id=2,
                created_at=at(D - DAY, 23, 50),
                paid_at=at(D, 0, 10),
                goods_amount=Decimal("200.00"),
                cogs=Decimal("80.00"),
            ),
            paid_order(
                5,
                3,
                at(D, 11),
                goods_amount=Decimal("80.00"),
                cogs=Decimal("30.00"),
                refunded_amount=Decimal("80.00"),
                first_refund_at=o5_paid + 31 * DAY,
            ),
            paid_order(
                6,
                3,
                at(D, 15),
                goods_amount=Decimal("60.00"),
                cogs=Decimal("20.00"),
                units=3,
                refunded_amount=Decimal("20.00"),
                first_refund_at=o6_paid + 30 * DAY,
            ),
            order(order_id=7, customer_id=4, created_at=at(D, 12), goods_amount=Decimal("70.00")),
            paid_order(8, 5, at(D, 13), goods_amount=Decimal("90.00"), is_valid=False),
            paid_order(9, None, at(D, 14), goods_amount=Decimal("40.00"), cogs=Decimal("10.00")),
        ]
    }


def test_order_measures_count_what_the_definitions_say(tables_for: Callable[..., Any]) -> None:
    # given placed, unpaid, invalid, anonymous and refunded orders (see orders_data)
    tables = tables_for(orders_data())
    # when the day is measured with the default conventions
    measures = definitions.base_measures(tables, D, D, conventions=Conventions())
    # then (written by hand)
    assert {name: measures[name] for name in definitions.PLACED_MEASURES + definitions.PAID_MEASURES} == {
        "orders": 6,
        "order_amount": Decimal("445.00"),
        "valid_orders": 4,
        "ordering_buyers": 4,
        "paid_orders": 5,
        "paid_amount": Decimal("485.00"),
        "paying_buyers": 3,
        "units": 8,
        "net_sales": Decimal("345.00"),
        "cogs": Decimal("180.00"),
        "refund_orders": 2,  # refunded after 29 and exactly 30 days; not the one after 31
        "refund_amount": Decimal("50.00"),
    }
    # customer 1 bought 364 days before (returning), customer 2 366 days before (neither), customer 3 new
    assert (measures["new_buyers"], measures["returning_buyers"], measures["repeat_buyers"]) == (1, 1, 1)


def test_returning_buyers_with_any_earlier_order_convention(tables_for: Callable[..., Any]) -> None:
    # given the same orders
    tables = tables_for(orders_data())
    # when the look-back is "any earlier order" (Shopify)
    measures = definitions.base_measures(tables, D, D, conventions=Conventions(returning_lookback_days=None))
    # then customer 2 (366 days) is returning too
    assert (measures["new_buyers"], measures["returning_buyers"]) == (1, 2)


def test_refund_window_convention_moves_the_31_day_refund_in(tables_for: Callable[..., Any]) -> None:
    # given the same orders
    tables = tables_for(orders_data())
    # when the window is 31 days
    measures = definitions.base_measures(tables, D, D, conventions=Conventions(refund_window_days=31))
    # then the refund after 31 days counts
    assert (measures["refund_orders"], measures["refund_amount"]) == (3, Decimal("130.00"))


def test_lookback_boundary_is_365_days_inclusive(tables_for: Callable[..., Any]) -> None:
    # given a buyer who paid exactly 365 days before D and again on D
    data = {
        "orders": [
            order(order_id=1, customer_id=7, created_at=at(D - 365 * DAY), paid_at=at(D - 365 * DAY, 13)),
            order(order_id=2, customer_id=7, created_at=at(D), paid_at=at(D, 13)),
        ]
    }
    tables = tables_for(data)
    # when measured
    measures = definitions.base_measures(tables, D, D)
    # then the buyer is returning
    assert (measures["new_buyers"], measures["returning_buyers"]) == (0, 1)


def test_empty_tables_give_zeros(tables_for: Callable[..., Any]) -> None:
    # given no data at all
    tables = tables_for({})
    # when measured
    measures = definitions.base_measures(tables, D, D)
    # then every base measure is zero, money as Decimal cents
    assert set(definitions.BASE_MEASURES) <= set(measures)
    assert all(measures[name] == 0 for name in definitions.BASE_MEASURES)
    assert measures["paid_amount"] == Decimal("0.00")


def test_unknown_dimension_is_refused(tables_for: Callable[..., Any]) -> None:
    tables = tables_for({})
    with pytest.raises(definitions.UnknownDimension):
        definitions.grouped_measures(tables, D, D, by=("colour",))
    with pytest.raises(definitions.UnknownDimension):
        definitions.grouped_measures(tables, D, D, by=("day", "week"))


START = dt.date(2026, 3, 2)


@pytest.fixture(scope="module")
def random_world(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], dict[str, Any]]:
    data = random_dataset(seed=5, start=START, days=45, visitors=300, customers=250)
    root = tmp_path_factory.mktemp("world")
    write_dataset(root, data)
    return data, warehouse_tables.ibis_tables(ibis.duckdb.connect(), root=root)


def _compare(rows: list[dict[str, Any]], expected: dict[Any, dict[str, Any]], key: str | None) -> None:
    assert rows, "no rows"
    for row in rows:
        wanted = expected.get(row[key] if key else START + dt.timedelta(days=10), {})
        for name, value in row.items():
            if name in definitions.DIMENSIONS:
                continue
            assert value == wanted.get(name, 0), (row.get(key) if key else None, name)
    if key:
        assert {row[key] for row in rows} >= {k for k, v in expected.items() if any(v.values())}


@pytest.mark.parametrize(
    ("start_offset", "end_offset", "grain"),
    [(10, 40, None), (10, 40, "day"), (3, 44, "week"), (10, 40, "month"), (0, 0, None)],
)
def test_random_data_matches_an_independent_computation(
    random_world: tuple[dict[str, Any], dict[str, Any]], start_offset: int, end_offset: int, grain: str | None
) -> None:
    # given random events and orders
    data, tables = random_world
    start, end = START + dt.timedelta(days=start_offset), START + dt.timedelta(days=end_offset)
    # when measured with the Ibis definitions
    rows = definitions.grouped_measures(tables, start, end, by=(grain,) if grain else ())
    # then every number equals the plain-Python computation
    expected = reference_measures(data, start, end, grain=grain)
    if grain is None:
        assert rows[0] == {name: expected.get(start, {}).get(name, 0) for name in rows[0]}
    else:
        _compare(rows, expected, grain)


@pytest.mark.parametrize(
    "options",
    [
        {"shop_ids": [1]},
        {"shop_ids": [2], "lookback_days": None},
        {"sources": ["baidu", "wechat"]},
        {"refund_window_days": 31},
    ],
)
def test_random_data_with_filters_and_conventions(
    random_world: tuple[dict[str, Any], dict[str, Any]], options: dict[str, Any]
) -> None:
    # given random data and a filter or a convention
    data, tables = random_world
    start, end = START + dt.timedelta(days=5), START + dt.timedelta(days=40)
    conventions = Conventions(
        returning_lookback_days=options.get("lookback_days", 365),
        refund_window_days=options.get("refund_window_days", 30),
    )
    # when measured
    row = definitions.base_measures(
        tables,
        start,
        end,
        shop_ids=options.get("shop_ids"),
        sources=options.get("sources"),
        conventions=conventions,
    )
    # then it equals the independent computation
    expected = reference_measures(
        data,
        start,
        end,
        shop_ids=options.get("shop_ids"),
        sources=options.get("sources"),
        lookback_days=conventions.returning_lookback_days,
        refund_window_days=conventions.refund_window_days,
    )[start]
    assert row == {name: expected.get(name, 0) for name in row}


def test_random_data_per_product_matches_an_independent_computation(
    random_world: tuple[dict[str, Any], dict[str, Any]],
) -> None:
    # given random data
    data, tables = random_world
    start, end = START + dt.timedelta(days=5), START + dt.timedelta(days=40)
    # when grouped by product
    rows = {row["product"]: row for row in definitions.grouped_measures(tables, start, end, by=("product",))}
    # then views, visitors and sales per product are the plain-Python ones
    expected = product_reference(data, start, end)
    assert set(rows) == set(expected)
    for product, wanted in expected.items():
        assert {name: rows[product][name] for name in wanted} == wanted, product
