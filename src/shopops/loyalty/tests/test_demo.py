import io
from decimal import Decimal

import pytest
from django.db.models import Count

from shopops.loyalty import demo_data
from shopops.loyalty.models import MemberAccount, MemberLevel, PointsEntry
from shopops.loyalty.queries import level_member_counts, verify_points
from shopops.loyalty.tests import factories
from shopops.orders.models import Order

pytestmark = pytest.mark.django_db


def test_demo_loads_members_with_a_visible_reversal_and_resets_to_empty() -> None:
    # given customers' completed orders, one of them partly refunded
    customers = [factories.create_customer() for _ in range(4)]
    for index, customer in enumerate(customers):
        factories.create_order(customer=customer, paid=f"{(index + 1) * 300}.00")
    refunded = Order.objects.order_by("pk").first()
    assert refunded is not None
    Order.objects.filter(pk=refunded.pk).update(refunded_amount=Decimal("100.00"))

    # when the demo loads
    counts = demo_data.load(seed=1, days=30, stdout=io.StringIO())

    # then levels, accounts, the reversal and a sound ledger; level counts match a plain count
    assert counts["member_accounts"] == 4
    assert counts["points_reversals"] == 1
    assert MemberLevel.objects.count() == 4
    assert verify_points() == []
    plain = dict(
        MemberAccount.objects.values_list("level_id")
        .annotate(n=Count("id"))
        .order_by()
        .values_list("level_id", "n")
    )
    assert level_member_counts() == plain
    assert sum(level_member_counts().values()) == 4

    # when reset, the ledger included (the one exception to append-only)
    demo_data.reset()

    # then loyalty is empty again
    assert demo_data.is_empty()
    assert not PointsEntry.objects.exists()
    assert not MemberAccount.objects.exists()
