from __future__ import annotations

import datetime as dt
import random
from decimal import Decimal

import pandas as pd
import pytest
from scipy import stats as scipy_stats
from statsmodels.stats.proportion import confint_proportions_2indep

from shopops.care import queries, services, stats
from shopops.care.models import Channel, Message, MessageStatus, Send
from shopops.care.tests import factories

pytestmark = pytest.mark.django_db
START = dt.datetime(2026, 2, 1, 10, 0, tzinfo=dt.UTC)


@pytest.mark.parametrize(("c1", "n1", "c0", "n0"), [(30, 180, 2, 20), (5, 50, 9, 40), (0, 10, 1, 12)])
def test_rate_interval_matches_statsmodels(c1: int, n1: int, c0: int, n0: int) -> None:
    ours = stats.proportion_difference(c1, n1, c0, n0)
    low, high = confint_proportions_2indep(c1, n1, c0, n0, method="wald", compare="diff")
    assert ours.difference == pytest.approx(c1 / n1 - c0 / n0, abs=1e-12)
    assert (ours.low, ours.high) == (pytest.approx(low, abs=1e-9), pytest.approx(high, abs=1e-9))


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_gmv_interval_matches_scipy_welch(seed: int) -> None:
    generator = random.Random(seed)
    a = [
        generator.choice([0.0, 0.0, round(generator.uniform(20, 400), 2)])
        for _ in range(generator.randint(5, 90))
    ]
    b = [
        generator.choice([0.0, round(generator.uniform(20, 400), 2)]) for _ in range(generator.randint(3, 15))
    ]
    ours = stats.welch_difference(a, b)
    reference = scipy_stats.ttest_ind(a, b, equal_var=False).confidence_interval(0.95)
    assert (ours.low, ours.high) == (
        pytest.approx(reference.low, abs=1e-7),
        pytest.approx(reference.high, abs=1e-7),
    )


def test_send_result_counts_orders_within_each_window_after_the_send() -> None:
    # given: a send with holdout; recipients buy at random times and amounts
    shop = factories.create_shop()
    customers = [factories.create_customer(consent=[Channel.EMAIL]) for _ in range(40)]
    template = factories.create_template(channel=Channel.EMAIL)
    send = services.create_send(
        actor="test",
        name="召回",
        template_id=template.pk,
        customer_ids=[c.pk for c in customers],
        audience="t",
        holdout_percent=25,
        seed=11,
        now=START,
    )
    Message.objects.filter(send=send, status=MessageStatus.QUEUED).update(
        status=MessageStatus.SENT, sent_at=START, reference_at=START
    )
    generator = random.Random(5)
    rows = []
    for customer in customers:
        for _ in range(generator.randint(0, 3)):
            paid_at = START + dt.timedelta(hours=generator.randint(-100, 40 * 24))
            amount = f"{generator.randint(1, 50000) / 100:.2f}"
            factories.paid_order(shop=shop, customer=customer, paid_at=paid_at, amount=amount)
            rows.append({"customer": customer.pk, "paid_at": paid_at, "amount": Decimal(amount)})
    # when
    results = queries.send_result(Send.objects.get(pk=send.pk), now=START + dt.timedelta(days=45))
    # then: against pandas over the same orders
    orders = pd.DataFrame(rows)
    groups = dict(Message.objects.filter(send=send).values_list("customer_id", "is_holdout"))
    for result in results:
        window = orders[(orders.paid_at > START) & (orders.paid_at <= START + dt.timedelta(days=result.days))]
        spend = window.groupby("customer").amount.sum()
        per = {c: spend.get(c, Decimal("0")) for c in groups}
        sent = [per[c] for c, held in groups.items() if not held]
        held = [per[c] for c, held in groups.items() if held]
        assert (result.sent.customers, result.holdout.customers) == (30, 10)
        assert result.sent.buyers == sum(1 for v in sent if v > 0)
        assert result.holdout.buyers == sum(1 for v in held if v > 0)
        assert result.sent.gmv == sum(sent, Decimal("0"))
        assert result.holdout.gmv == sum(held, Decimal("0"))
        low, high = confint_proportions_2indep(
            result.sent.buyers, 30, result.holdout.buyers, 10, method="wald", compare="diff"
        )
        assert result.rate_lift.low == pytest.approx(low, abs=1e-9)
        reference = scipy_stats.ttest_ind([float(v) for v in sent], [float(v) for v in held], equal_var=False)
        assert result.gmv_lift.high == pytest.approx(reference.confidence_interval(0.95).high, abs=1e-6)
        assert result.is_complete
