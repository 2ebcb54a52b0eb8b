import csv
import datetime as dt
import io
from collections import defaultdict
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from shopops.aftersales import queries
from shopops.aftersales.models import (
    AfterSaleCase,
    AfterSaleLine,
    CaseKind,
    CaseStage,
    CaseStatus,
    ReturnReason,
)
from shopops.aftersales.tests import factories
from shopops.aftersales.tests.factories import Line
from shopops.inventory.tests import factories as inventory_factories

pytestmark = pytest.mark.django_db

SHANGHAI = ZoneInfo("Asia/Shanghai")
PERIOD = (dt.date(2026, 10, 1), dt.date(2026, 10, 30))


def at(day: int, hour: int = 12, month: int = 10) -> dt.datetime:
    return dt.datetime(2026, month, day, hour, 0, tzinfo=SHANGHAI)


# orders: (shop, paid at, is test, [(sku, quantity, line amount)])
ORDERS: list[tuple[str, dt.datetime, bool, list[tuple[str, int, Decimal]]]] = [
    ("tb", at(1, 0), False, [("red", 2, Decimal("90.00")), ("blue", 1, Decimal("30.00"))]),
    ("tb", at(5), False, [("red", 1, Decimal("45.00"))]),
    ("tb", at(9), True, [("red", 5, Decimal("200.00"))]),  # test order: never counted
    ("tb", at(30, 23), False, [("blue", 3, Decimal("60.00"))]),
    ("jd", at(12), False, [("green", 4, Decimal("100.00")), ("red", 1, Decimal("50.00"))]),
    ("jd", at(30, 23, month=9), False, [("green", 1, Decimal("25.00"))]),  # before the period
    ("jd", at(31, 0), False, [("green", 2, Decimal("50.00"))]),  # after the period
]
# cases: (order index, kind, reason, refunded at, received at, {line index: (units, refunded, received)}, shipping)
CASES: list[
    tuple[int, str, str, dt.datetime | None, dt.datetime | None, dict[int, tuple[int, Decimal, int]], Decimal]
] = [
    (
        0,
        CaseKind.RETURN_REFUND,
        "quality.damaged",
        at(8),
        at(6),
        {0: (2, Decimal("90.00"), 2)},
        Decimal("5.00"),
    ),
    (1, CaseKind.REFUND_ONLY, "buyer.changed_mind", at(6), None, {0: (1, Decimal("20.00"), 0)}, Decimal("0")),
    (4, CaseKind.EXCHANGE, "buyer.size", None, at(15), {0: (2, Decimal("0"), 2)}, Decimal("0")),
    (
        4,
        CaseKind.RETURN_REFUND,
        "quality.damaged",
        at(31, 1),
        at(29),
        {1: (1, Decimal("50.00"), 1)},
        Decimal("0"),
    ),
    (
        5,
        CaseKind.REFUND_ONLY,
        "logistics.not_received",
        at(3),
        None,
        {0: (1, Decimal("25.00"), 0)},
        Decimal("0"),
    ),
    (3, CaseKind.RETURN_REFUND, "buyer.seven_days", None, None, {0: (1, Decimal("0"), 0)}, Decimal("0")),
]


def _build(actor: Any) -> dict[str, Any]:
    shops = {"tb": factories.create_shop(platform="taobao"), "jd": factories.create_shop(platform="jd")}
    skus = {
        key: inventory_factories.create_sku(merchant_code=f"SKU-{key.upper()}")
        for key in ("red", "blue", "green")
    }
    orders = []
    for shop_key, paid_at, is_test, lines in ORDERS:
        order = factories.create_order(
            shop=shops[shop_key],
            lines=[Line(skus[sku], quantity, amount / quantity) for sku, quantity, amount in lines],
            paid_at=paid_at,
            is_test=is_test,
        )
        orders.append(order)
    for order_index, kind, reason, refunded_at, received_at, lines, shipping in CASES:
        order = orders[order_index]
        order_lines = factories.order_lines(order)
        refunded = sum((value for _u, value, _r in lines.values()), Decimal("0")) + shipping
        case = AfterSaleCase.objects.create(
            shop=order.shop,
            order=order,
            kind=kind,
            stage=CaseStage.AFTER_SALE,
            reason=ReturnReason.objects.get(code=reason),
            status=CaseStatus.REFUNDED if refunded_at else CaseStatus.INSPECTED,
            applied_at=at(1),
            refunded_at=refunded_at,
            received_at=received_at,
            refunded_amount=refunded if refunded_at else Decimal("0"),
            refunded_shipping=shipping,
        )
        for line_index, (units, value, received) in lines.items():
            AfterSaleLine.objects.create(
                case=case,
                order_line=order_lines[line_index],
                quantity=units,
                refunded_amount=value if refunded_at else Decimal("0"),
                received_quantity=received,
            )
    return {"shops": shops, "skus": skus}


def _in_period(moment: dt.datetime | None) -> bool:
    return moment is not None and PERIOD[0] <= moment.astimezone(SHANGHAI).date() <= PERIOD[1]


def _ratio(numerator: Any, denominator: Any) -> Decimal | None:
    if not denominator:
        return None
    return (Decimal(numerator) / Decimal(denominator)).quantize(Decimal("0.0001"), rounding=ROUND_HALF_UP)


def _expected(group_by: str, built: dict[str, Any]) -> list[tuple[Any, ...]]:  # noqa: C901 - one plain pass, on purpose
    """The definition of docs/aftersales.md, computed straight from the dataset above."""
    shop_key = dict(built["shops"])
    paid: dict[str, set[int]] = defaultdict(set)
    paid_amount: dict[str, Decimal] = defaultdict(Decimal)
    sold: dict[str, int] = defaultdict(int)
    refunded: dict[str, set[int]] = defaultdict(set)
    refunded_amount: dict[str, Decimal] = defaultdict(Decimal)
    returned: dict[str, int] = defaultdict(int)

    def channel(shop: str) -> str:
        return str(shop_key[shop].pk) if group_by == "shop" else shop_key[shop].platform

    all_paid: set[int] = set()
    all_amount, all_sold = Decimal("0"), 0
    for index, (shop, paid_at, is_test, lines) in enumerate(ORDERS):
        if is_test or not _in_period(paid_at):
            continue
        total = sum((amount for _s, _q, amount in lines), Decimal("0"))
        all_paid.add(index)
        all_amount += total
        all_sold += sum(quantity for _s, quantity, _a in lines)
        if group_by in ("shop", "platform"):
            paid[channel(shop)].add(index)
            paid_amount[channel(shop)] += total
            sold[channel(shop)] += sum(quantity for _s, quantity, _a in lines)
        if group_by == "sku":
            for sku, quantity, amount in lines:
                key = str(built["skus"][sku].pk)
                paid[key].add(index)
                paid_amount[key] += amount
                sold[key] += quantity
    for order_index, kind, reason, refunded_at, received_at, lines, shipping in CASES:
        shop = ORDERS[order_index][0]
        order_lines = ORDERS[order_index][3]
        is_return = kind in (CaseKind.RETURN_REFUND, CaseKind.EXCHANGE)
        if group_by == "sku":
            for line_index, (_units, value, received) in lines.items():
                key = str(built["skus"][order_lines[line_index][0]].pk)
                if _in_period(refunded_at):
                    refunded[key].add(order_index)
                    refunded_amount[key] += value
                if is_return and _in_period(received_at):
                    returned[key] += received
            continue
        key = reason if group_by == "reason" else channel(shop)
        if _in_period(refunded_at):
            refunded[key].add(order_index)
            refunded_amount[key] += sum((value for _u, value, _r in lines.values()), Decimal("0")) + shipping
        if is_return and _in_period(received_at):
            returned[key] += sum(received for _u, _v, received in lines.values())
    keys = sorted(set(paid) | set(refunded) | set(returned))
    rows = []
    for key in keys:
        orders = all_paid if group_by == "reason" else paid[key]
        amount = all_amount if group_by == "reason" else paid_amount[key]
        units = all_sold if group_by == "reason" else sold[key]
        rows.append(
            (
                key,
                len(orders),
                len(refunded[key]),
                _ratio(len(refunded[key]), len(orders)),
                amount,
                refunded_amount[key],
                _ratio(refunded_amount[key], amount),
                units,
                returned[key],
                _ratio(returned[key], units),
            )
        )
    return rows


def _actual(rows: list[queries.RateRow]) -> list[tuple[Any, ...]]:
    return [
        (
            row.key,
            row.paid_orders,
            row.refunded_orders,
            row.refund_rate,
            row.paid_amount,
            row.refunded_amount,
            row.refund_amount_rate,
            row.units_sold,
            row.units_returned,
            row.return_rate,
        )
        for row in rows
    ]


@pytest.mark.parametrize("group_by", ["sku", "reason", "shop", "platform"])
def test_rates_match_an_independent_computation(admin_user: Any, group_by: str) -> None:
    # given the dataset above
    built = _build(admin_user)

    # when the report runs over October 1–30
    rows = queries.rates(queries.RateParams(*PERIOD, group_by=group_by), user=admin_user)  # type: ignore[arg-type]

    # then every figure equals the definition computed from the dataset
    assert _actual(rows) == _expected(group_by, built)


def test_rates_by_platform_exact_figures(admin_user: Any) -> None:
    # given the dataset: taobao paid orders 0, 1, 3 (120 + 45 + 60 = 225.00, 7 units), jd order 4 (150.00, 5 units)
    _build(admin_user)

    # when
    rows = queries.rates(queries.RateParams(*PERIOD, group_by="platform"), user=admin_user)

    # then taobao: refunds of orders 0 and 1 (95 + 20 = 115.00) and 2 units returned; jd: the refund of
    # September's order 5 on October 3 counts (refunds in the window ÷ paid orders in the window), the one
    # on October 31 does not; 2 exchanged + 1 returned units
    by_key = {row.key: row for row in rows}
    taobao, jd = by_key["taobao"], by_key["jd"]
    assert (taobao.paid_orders, taobao.refunded_orders, taobao.refund_rate) == (3, 2, Decimal("0.6667"))
    assert (taobao.paid_amount, taobao.refunded_amount, taobao.refund_amount_rate) == (
        Decimal("225.00"),
        Decimal("115.00"),
        Decimal("0.5111"),
    )
    assert (taobao.units_sold, taobao.units_returned, taobao.return_rate) == (7, 2, Decimal("0.2857"))
    assert (jd.paid_orders, jd.refunded_orders, jd.refund_rate) == (1, 1, Decimal("1.0000"))
    assert (jd.units_sold, jd.units_returned, jd.return_rate) == (5, 3, Decimal("0.6000"))


def test_rates_respect_the_shop_scope(admin_user: Any, make_user: Any) -> None:
    built = _build(admin_user)
    limited = make_user("customer_service", shops=[built["shops"]["jd"]])

    rows = queries.rates(queries.RateParams(*PERIOD, group_by="shop"), user=limited)

    assert [row.key for row in rows] == [str(built["shops"]["jd"].pk)]


def test_rates_export_as_csv(admin_user: Any) -> None:
    _build(admin_user)
    buffer = io.BytesIO()

    count = queries.write_rates(
        queries.RateParams(*PERIOD, group_by="platform"),
        user=admin_user,
        destination=buffer,
        file_format="csv",
    )

    rows = list(csv.reader(io.StringIO(buffer.getvalue().decode("utf-8-sig"))))
    assert count == 2
    assert rows[0] == list(queries.RATE_HEADERS)
    assert rows[1] == ["jd", "京东", "1", "1", "1.0000", "150.00", "25.00", "0.1667", "5", "3", "0.6000"]
