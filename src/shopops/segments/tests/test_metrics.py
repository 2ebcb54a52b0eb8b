import datetime as dt
from decimal import ROUND_HALF_UP, Decimal

import pandas as pd
import pytest
import time_machine

from shopops.orders.models import Order
from shopops.segments import services
from shopops.segments.models import CustomerMetrics, RfmChange, RfmClass
from shopops.segments.tests.factories import add_order, create_customer, random_customers

NOW = dt.datetime(2026, 6, 15, 4, 0, tzinfo=dt.UTC)
CLASSES = {
    (True, True, True): RfmClass.IMPORTANT_VALUE,
    (False, True, True): RfmClass.IMPORTANT_KEEP,
    (True, False, True): RfmClass.IMPORTANT_DEVELOP,
    (False, False, True): RfmClass.IMPORTANT_RETAIN,
    (True, True, False): RfmClass.GENERAL_VALUE,
    (False, True, False): RfmClass.GENERAL_KEEP,
    (True, False, False): RfmClass.GENERAL_DEVELOP,
    (False, False, False): RfmClass.GENERAL_RETAIN,
}


def expected_metrics(customer_ids: list[int]) -> pd.DataFrame:
    """Independent: pandas over the raw orders; quintiles by rank(method="min"), (rank-1)*5//n + 1."""
    orders = pd.DataFrame(
        list(
            Order.objects.filter(customer__isnull=False, is_test=False).values(
                "customer_id", "paid_at", "paid_amount", "refunded_amount"
            )
        )
    )
    rows = []
    for customer_id in customer_ids:
        own = orders[orders.customer_id == customer_id] if len(orders) else orders
        paid = own[own.paid_at.notna()] if len(own) else own
        paid_total = sum(paid.paid_amount, Decimal("0.00")) if len(paid) else Decimal("0.00")
        refunded_total = sum(paid.refunded_amount, Decimal("0.00")) if len(paid) else Decimal("0.00")
        count = len(paid)
        rows.append(
            {
                "customer_id": customer_id,
                "order_count": len(own),
                "paid_order_count": count,
                "refund_order_count": int((paid.refunded_amount > 0).sum()) if count else 0,
                "paid_total": paid_total,
                "refunded_total": refunded_total,
                "net_spend": paid_total - refunded_total,
                "average_order_value": (paid_total / count).quantize(Decimal("0.01"), ROUND_HALF_UP)
                if count
                else Decimal("0.00"),
                "first_paid_at": paid.paid_at.min() if count else None,
                "last_paid_at": paid.paid_at.max() if count else None,
            }
        )
    frame = pd.DataFrame(rows).set_index("customer_id")
    buyers = frame[frame.paid_order_count > 0].copy()
    n = len(buyers)
    for score, column in (("r", "last_paid_at"), ("f", "paid_order_count"), ("m", "net_spend")):
        ranks = buyers[column].astype("float64" if column == "net_spend" else buyers[column].dtype)
        ranks = ranks.rank(method="min").astype(int)
        buyers[f"{score}_score"] = (ranks - 1) * 5 // n + 1
    frame = frame.join(buyers[["r_score", "f_score", "m_score"]])
    return frame


@pytest.mark.django_db
def test_metrics_and_rfm_scores_match_a_pandas_computation() -> None:
    # given
    with time_machine.travel(NOW, tick=False):
        data = random_customers(seed=7, count=80, now=NOW)
        # when
        count = services.refresh_metrics(actor="test")
    # then
    ids = [customer.pk for customer in data["customers"]]
    expected = expected_metrics(ids)
    assert count == len(ids)
    got = {row.customer_id: row for row in CustomerMetrics.objects.all()}
    assert set(got) == set(ids)
    buyers = 0
    for customer_id, want in expected.iterrows():
        row = got[customer_id]
        for field in ("order_count", "paid_order_count", "refund_order_count"):
            assert getattr(row, field) == want[field], (customer_id, field)
        for field in ("paid_total", "refunded_total", "net_spend", "average_order_value"):
            assert getattr(row, field) == want[field], (customer_id, field)
        if want["paid_order_count"]:
            buyers += 1
            assert row.first_paid_at == want["first_paid_at"]
            assert row.last_paid_at == want["last_paid_at"]
            scores = (int(want["r_score"]), int(want["f_score"]), int(want["m_score"]))
            assert (row.r_score, row.f_score, row.m_score) == scores, customer_id
            assert row.rfm_code == "R{}F{}M{}".format(*scores)
            assert row.rfm_class == CLASSES[tuple(score >= 3 for score in scores)]
        else:
            assert (row.r_score, row.f_score, row.m_score, row.rfm_code) == (None, None, None, "")
            assert row.rfm_class == RfmClass.NO_ORDER
    assert buyers > 40
    # ties share one score: the same number of paid orders, the same F
    by_count: dict[int, set[int | None]] = {}
    for row in got.values():
        by_count.setdefault(row.paid_order_count, set()).add(row.f_score)
    assert all(len(scores) == 1 for scores in by_count.values())


@pytest.mark.django_db
def test_rfm_history_records_each_change() -> None:
    # given
    shop_orders = {}
    with time_machine.travel(NOW, tick=False):
        data = random_customers(seed=3, count=12, now=NOW)
        services.refresh_metrics(actor="test")
        first = {row.customer_id: row.rfm_code for row in CustomerMetrics.objects.all()}
        rated = {key for key, code in first.items() if code}
        assert RfmChange.objects.count() == 0  # a first rating is not a change
        newcomer = create_customer()
        shop_orders[newcomer.pk] = add_order(
            customer=newcomer, shop=data["shops"][0], paid_at=NOW, paid_amount="5000.00"
        )
    # when: a big new buyer shifts the others' M ranks
    later = NOW + dt.timedelta(days=1)
    with time_machine.travel(later, tick=False):
        services.refresh_metrics(actor="test")
    # then
    second = {row.customer_id: (row.rfm_code, row.rfm_class) for row in CustomerMetrics.objects.all()}
    changed = {key for key in rated if second[key][0] != first[key]}
    new_rows = RfmChange.objects.filter(changed_at=later)
    assert changed
    assert {row.customer_id for row in new_rows} == changed
    for row in new_rows:
        assert (row.from_code, row.to_code) == (first[row.customer_id], second[row.customer_id][0])
