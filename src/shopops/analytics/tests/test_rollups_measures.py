from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from shopops.analytics.metrics import sample_data
from shopops.analytics.warehouse import rollups

START = dt.date(2026, 3, 1)
DAYS = 24
VIEW_TYPES = {"page_view", "product_view"}


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, pd.DataFrame]]:
    root = tmp_path_factory.mktemp("analytics")
    data = sample_data.random_dataset(seed=7, start=START, days=DAYS, visitors=400, customers=80, shops=2)
    sample_data.write_dataset(root, data)
    rollups.rebuild(root=root)
    frames = {name: pd.DataFrame(rows) for name, rows in data.items()}
    return root, frames


def _period_start(day: dt.date, grain: str | None, start: dt.date) -> dt.date:
    if grain == "day":
        bucket = day
    elif grain == "week":
        bucket = day - dt.timedelta(days=day.weekday())
    elif grain == "month":
        bucket = day.replace(day=1)
    else:
        return start
    return max(bucket, start)


def _bucket(day: dt.date, grain: str) -> dt.date:
    return _period_start(day, grain, dt.date.min)


def _keys(frame: pd.DataFrame, by: tuple[str, ...], day_column: str, product_column: str = "product") -> Any:
    columns = []
    for name in by:
        if name in ("day", "week", "month"):
            frame[f"k_{name}"] = frame[day_column].map(lambda d, g=name: _bucket(d, g))
        elif name == "product":
            frame[f"k_{name}"] = frame[product_column]
        else:
            frame[f"k_{name}"] = frame[name]
        columns.append(f"k_{name}")
    return columns


def _groups(frame: pd.DataFrame, columns: list[str]) -> Any:
    if not columns:
        return [((), frame)] if len(frame) else []
    return [
        (key if isinstance(key, tuple) else (key,), part) for key, part in frame.groupby(columns, sort=True)
    ]


def _sessions(events: pd.DataFrame) -> pd.DataFrame:
    known = events[events.visitor_id != ""].sort_values(["shop_id", "visitor_id", "ts", "event_id"])
    rows = []
    for (_shop, _visitor), visits in known.groupby(["shop_id", "visitor_id"], sort=False):
        current: list[dict[str, Any]] = []
        previous = None
        for event in visits.to_dict("records"):
            if previous is not None and event["ts"] - previous > dt.timedelta(minutes=30):
                rows.append(current)
                current = []
            current.append(event)
            previous = event["ts"]
        rows.append(current)
    sessions = []
    for visit in rows:
        first = visit[0]
        views = sum(1 for e in visit if e["type"] in VIEW_TYPES)
        milliseconds = [
            (e["ts"] - dt.datetime(1970, 1, 1, tzinfo=dt.UTC)) // dt.timedelta(milliseconds=1) for e in visit
        ]
        sessions.append(
            {
                "day": first["day"],
                "shop_id": first["shop_id"],
                "channel": first["channel"],
                "source": first["source"],
                "product": first["product"],
                "views": views,
                "duration": max(milliseconds) - min(milliseconds),
            }
        )
    return pd.DataFrame(sessions)


def reference(  # noqa: C901 - one plain reference computation, read top to bottom
    frames: dict[str, pd.DataFrame],
    start: dt.date,
    end: dt.date,
    *,
    by: tuple[str, ...] = (),
    shop_ids: list[int] | None = None,
    sources: list[str] | None = None,
    lookback: int | None = 365,
    refund_window: int = 30,
) -> dict[tuple[Any, ...], dict[str, Any]]:
    """Plain pandas over the raw rows, written apart from the warehouse (no rollups, no bitmaps)."""
    grain = next((name for name in by if name in ("day", "week", "month")), None)
    result: dict[tuple[Any, ...], dict[str, Any]] = {}

    def put(key: tuple[Any, ...], **values: Any) -> None:
        result.setdefault(key, {}).update(values)

    def scoped(frame: pd.DataFrame) -> pd.DataFrame:
        if shop_ids is not None:
            frame = frame[frame.shop_id.isin(shop_ids)]
        if sources is not None and "source" in frame:
            frame = frame[frame.source.isin(sources)]
        return frame

    events = frames["events"].copy()
    history_columns = [name for name in ("shop_id", "channel") if name in by]
    known_events = events[events.visitor_id != ""]
    if shop_ids is not None:
        known_events = known_events[known_events.shop_id.isin(shop_ids)]
    first_day = known_events.groupby(["visitor_id", *history_columns]).day.min()
    in_range = scoped(events[(events.day >= start) & (events.day <= end)]).copy()
    for key, part in _groups(in_range, _keys(in_range, by, "day")):
        known = part[part.visitor_id != ""]
        period = _period_start(part.day.iloc[0], grain, start)
        visitors = set(known.visitor_id)
        put(
            key,
            pv=int(part.type.isin(VIEW_TYPES).sum()),
            visitors=len(visitors),
            ips=part[part.ip_key != ""].ip_key.nunique(),
            new_visitors=sum(
                1
                for v in visitors
                if first_day[(v, *(part[c].iloc[0] for c in history_columns)) if history_columns else v]
                >= period
            ),
            product_views=int((part.type == "product_view").sum()),
            product_visitors=known[known.type == "product_view"].visitor_id.nunique(),
            cart_visitors=known[known.type == "add_to_cart"].visitor_id.nunique(),
            checkout_visitors=known[known.type == "checkout_start"].visitor_id.nunique(),
        )
    raw = frames["events"]
    sessions = _sessions(raw[raw.shop_id.isin(shop_ids)] if shop_ids is not None else raw)
    sessions = scoped(sessions[(sessions.day >= start) & (sessions.day <= end)]).copy()
    for key, part in _groups(sessions, _keys(sessions, by, "day")):
        put(
            key,
            sessions=len(part),
            bounce_sessions=int((part.views == 1).sum()),
            duration_seconds=int(part[part.views >= 2].duration.sum()) // 1000,
            multi_page_sessions=int((part.views >= 2).sum()),
        )
    orders = frames["orders"].copy()
    orders["buyer"] = orders.customer_id  # orders without a customer have no buyer
    all_orders = orders if shop_ids is None else orders[orders.shop_id.isin(shop_ids)]
    orders = scoped(orders)
    placed = orders[(orders.created_day >= start) & (orders.created_day <= end)].copy()
    for key, part in _groups(placed, _keys(placed, by, "created_day")):
        put(
            key,
            orders=len(part),
            order_amount=sum(part.goods_amount + part.shipping_fee - part.discount_amount, Decimal("0.00")),
            valid_orders=int(part.is_valid.sum()),
            ordering_buyers=part.buyer.dropna().nunique(),
        )
    paid_all = all_orders[all_orders.is_valid & all_orders.paid_day.notna()]
    paid = orders[orders.is_valid & orders.paid_day.notna()]
    paid = paid[(paid.paid_day >= start) & (paid.paid_day <= end)].copy()
    dimensions = history_columns
    for key, part in _groups(paid, _keys(paid, by, "paid_day")):
        period = _period_start(part.paid_day.iloc[0], grain, start)
        history = paid_all
        for name in dimensions:
            history = history[history[name] == part[name].iloc[0]]
        earlier = history[history.paid_day < period]
        recent = (
            earlier if lookback is None else earlier[earlier.paid_day >= period - dt.timedelta(days=lookback)]
        )
        buyers = set(part.buyer.dropna())
        refunded = part[
            part.first_refund_at.notna()
            & (part.first_refund_at <= part.paid_at + pd.Timedelta(days=refund_window))
        ]
        counts = part.buyer.dropna().value_counts()
        put(
            key,
            paid_orders=len(part),
            paid_amount=sum(part.paid_amount, Decimal("0.00")),
            paying_buyers=len(buyers),
            units=int(part.units.sum()),
            net_sales=sum(part.net_sales, Decimal("0.00")),
            cogs=sum(part.cogs, Decimal("0.00")),
            refund_orders=len(refunded),
            refund_amount=sum(refunded.refunded_amount, Decimal("0.00")),
            new_buyers=len(buyers - set(earlier.buyer.dropna())),
            returning_buyers=len(buyers & set(recent.buyer.dropna())),
            repeat_buyers=int((counts >= 2).sum()),
        )
    if sources is None and "source" not in by:
        spend = scoped(frames["ad_spend"])
        spend = spend[(spend.day >= start) & (spend.day <= end)].copy()
        for key, part in _groups(spend, _keys(spend, by, "day")):
            put(
                key,
                spend=sum(part.spend, Decimal("0.00")),
                attributed_revenue=sum(
                    (v for v in part.attributed_revenue if v is not None), Decimal("0.00")
                ),
            )
    return result


def _compare(
    actual: list[dict[str, Any]], expected: dict[tuple[Any, ...], dict[str, Any]], by: tuple[str, ...]
) -> None:
    got = {tuple(row[name] for name in by): row for row in actual}
    for key, values in expected.items():
        assert key in got, key
        for name, value in values.items():
            assert got[key][name] == value, (key, name, got[key][name], value)
    for key, row in got.items():
        if key not in expected:
            assert all(not v for n, v in row.items() if n not in by and n != "reported_visitors"), (key, row)


@pytest.mark.parametrize(
    ("start", "end"),
    [
        (START, START + dt.timedelta(days=DAYS - 1)),
        (START + dt.timedelta(days=3), START + dt.timedelta(days=9)),
        (START + dt.timedelta(days=5), START + dt.timedelta(days=5)),
        (START - dt.timedelta(days=200), START),
    ],
)
def test_totals_over_any_range_equal_pandas_over_raw_rows(dataset: Any, start: dt.date, end: dt.date) -> None:
    # given
    root, frames = dataset
    # when
    actual = rollups.measures(start, end, root=root)
    # then
    _compare(actual, reference(frames, start, end), ())


@pytest.mark.parametrize(
    "by", [("day",), ("week",), ("source",), ("shop_id",), ("month", "shop_id", "source")]
)
def test_grouped_measures_equal_pandas(dataset: Any, by: tuple[str, ...]) -> None:
    # given
    root, frames = dataset
    start, end = START + dt.timedelta(days=2), START + dt.timedelta(days=DAYS - 3)
    # when
    actual = rollups.measures(start, end, by=by, root=root)
    # then
    _compare(actual, reference(frames, start, end, by=by), by)


def test_filters_and_conventions_equal_pandas(dataset: Any) -> None:
    # given
    root, frames = dataset
    start, end = START + dt.timedelta(days=1), START + dt.timedelta(days=DAYS - 1)

    class Conventions:
        returning_lookback_days = None
        refund_window_days = 10

    # when
    actual = rollups.measures(
        start,
        end,
        shop_ids=[1],
        sources=["baidu", "wechat"],
        by=("source",),
        conventions=Conventions(),
        root=root,
    )
    # then
    expected = reference(
        frames,
        start,
        end,
        by=("source",),
        shop_ids=[1],
        sources=["baidu", "wechat"],
        lookback=None,
        refund_window=10,
    )
    _compare(actual, expected, ("source",))
    assert "spend" not in actual[0]


def test_distinct_visitors_over_a_range_are_not_sums_of_days(dataset: Any) -> None:
    # given
    root, frames = dataset
    start, end = START, START + dt.timedelta(days=DAYS - 1)
    # when
    total = rollups.measures(start, end, root=root)[0]["visitors"]
    daily = sum(row["visitors"] for row in rollups.measures(start, end, by=("day",), root=root))
    # then
    events = frames["events"]
    assert (
        total
        == events[
            (events.visitor_id != "") & (events.day >= start) & (events.day <= end)
        ].visitor_id.nunique()
    )
    assert daily > total


def test_product_breakdown_equals_pandas_over_lines(dataset: Any) -> None:
    # given
    root, frames = dataset
    start, end = START, START + dt.timedelta(days=DAYS - 1)
    # when
    actual = {row["product"]: row for row in rollups.measures(start, end, by=("product",), root=root)}
    # then
    events, lines = frames["events"], frames["order_lines"]
    events = events[(events.day >= start) & (events.day <= end)]
    paid = lines[lines.is_valid & lines.paid_day.notna()]
    paid = paid[(paid.paid_day >= start) & (paid.paid_day <= end)]
    for product in ["P1", "P2", "P3", "P4"]:
        mine = events[events["product"] == product]
        assert actual[product]["product_views"] == int((mine.type == "product_view").sum())
        assert actual[product]["visitors"] == mine[mine.visitor_id != ""].visitor_id.nunique()
        assert actual[product]["cart_visitors"] == mine[mine.type == "add_to_cart"].visitor_id.nunique()
        part = paid[paid.product_code == product]
        assert actual[product]["units"] == int(part.quantity.sum())
        assert actual[product]["paid_amount"] == sum(part.amount, Decimal("0.00"))
        assert actual[product]["paid_orders"] == part.order_id.nunique()
        assert "new_buyers" not in actual[product]


QUERIES: list[dict[str, Any]] = [
    {},
    {"by": ("day",)},
    {"by": ("week", "source")},
    {"by": ("shop_id", "channel")},
    {"by": ("product",)},
    {"products": ["P1", "P3"], "by": ("day",)},
    {"sources": ["baidu"], "shop_ids": [1]},
    {"channels": ["taobao"], "by": ("month",)},
]


@pytest.mark.parametrize("query", QUERIES)
def test_rollups_give_the_numbers_of_the_metric_definitions_over_raw_parquet(
    dataset: Any, query: dict[str, Any]
) -> None:
    # given
    import ibis

    from shopops.analytics.metrics import definitions
    from shopops.analytics.warehouse import tables

    root, _frames = dataset
    raw = tables.ibis_tables(ibis.duckdb.connect(), root=root)
    start, end = START + dt.timedelta(days=1), START + dt.timedelta(days=DAYS - 2)
    # when
    from_rollups = rollups.measures(start, end, root=root, **query)
    from_raw = definitions.grouped_measures(raw, start, end, **query)
    # then
    assert from_rollups == from_raw


def _split_late(
    data: dict[str, list[dict[str, Any]]], late_day: dt.date
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    early = {name: list(rows) for name, rows in data.items()}
    late = [row for row in data["events"] if row["day"] == late_day and row["ts"].minute % 3 == 0]
    early["events"] = [row for row in data["events"] if row not in late]
    return early, late


def test_refresh_of_late_events_and_changed_orders_equals_a_full_rebuild(tmp_path: Path) -> None:
    # given: a warehouse rolled before some events of one day arrived and before orders changed
    data = sample_data.random_dataset(seed=11, start=START, days=12, visitors=300, customers=60, shops=2)
    late_day = START + dt.timedelta(days=5)
    early, late = _split_late(data, late_day)
    assert late
    changed = [
        row
        for row in early["orders"]
        if row["paid_day"] and START <= row["created_day"] <= START + dt.timedelta(days=11)
    ][:5]
    incremental, full = tmp_path / "incremental", tmp_path / "full"
    sample_data.write_dataset(incremental, early)
    rollups.rebuild(root=incremental)
    # when: the late events land in their day, and the orders are refunded (their day re-synced)
    refunded_at = {row["order_id"]: row["paid_at"] + dt.timedelta(days=2) for row in changed}
    for row in data["orders"]:
        if row["order_id"] in refunded_at:
            row["first_refund_at"] = refunded_at[row["order_id"]]
            row["refunded_amount"] = row["paid_amount"]
            row["net_sales"] = row["paid_amount"] - row["shipping_fee"] - row["refunded_amount"]
            row["is_valid"] = True
    sample_data.write_dataset(incremental, data)
    affected = {late_day} | {row["created_day"] for row in changed} | {row["paid_day"] for row in changed}
    rollups.refresh(affected, root=incremental)
    sample_data.write_dataset(full, data)
    rollups.rebuild(root=full)
    # then
    for query in QUERIES:
        start, end = START, START + dt.timedelta(days=11)
        assert rollups.measures(start, end, root=incremental, **query) == rollups.measures(
            start, end, root=full, **query
        ), query


def test_sessions_cross_midnight_and_belong_to_their_first_day(tmp_path: Path) -> None:
    # given: one visit 23:50 → 00:10 (+20 min gaps), then one 31 minutes later
    day = dt.date(2026, 5, 1)
    at = sample_data.at
    events = [
        sample_data.event(ts=at(day, 23, 50), type="page_view", visitor_id="a", source="baidu"),
        sample_data.event(
            ts=at(day + dt.timedelta(days=1), 0, 10), type="product_view", visitor_id="a", product="P1"
        ),
        sample_data.event(ts=at(day + dt.timedelta(days=1), 0, 41), type="page_view", visitor_id="a"),
    ]
    sample_data.write_dataset(tmp_path, {"events": events})
    rollups.rebuild(root=tmp_path)
    # when
    first = rollups.measures(day, day, root=tmp_path, by=("source",))
    second = rollups.measures(day + dt.timedelta(days=1), day + dt.timedelta(days=1), root=tmp_path)[0]
    # then
    assert [(r["source"], r["sessions"], r["multi_page_sessions"], r["duration_seconds"]) for r in first] == [
        ("baidu", 1, 1, 20 * 60)
    ]
    assert (second["sessions"], second["bounce_sessions"], second["pv"], second["visitors"]) == (1, 1, 2, 1)
    assert second["new_visitors"] == 0
