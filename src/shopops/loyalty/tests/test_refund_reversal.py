from decimal import Decimal
from fractions import Fraction
from typing import Any

import pytest

from shopops.aftersales import services as aftersales_services
from shopops.aftersales.models import CaseKind
from shopops.aftersales.tests import factories as aftersales_factories
from shopops.core.extensions import call_all
from shopops.loyalty import services
from shopops.loyalty.models import EntryKind, MemberAccount, PointsEntry
from shopops.loyalty.queries import verify_points
from shopops.loyalty.tests import factories
from shopops.orders.models import Order

pytestmark = pytest.mark.django_db


def expected_points(paid: str, rate: str) -> int:
    # independent: exact fractions, floor
    return int(Fraction(paid) * Fraction(rate) // 1)


def expected_reversal(earned: int, refunded: str, paid: str) -> int:
    # independent: exact fractions, round half up
    share = Fraction(earned) * Fraction(refunded) / Fraction(paid)
    return int((share + Fraction(1, 2)) // 1)


def balance(customer: Any) -> int:
    return MemberAccount.objects.get(customer=customer).balance


def order_net(order: Order) -> int:
    return sum(PointsEntry.objects.filter(order=order).values_list("points", flat=True))


def refund_through_aftersales(order: Order, amount: str | None, actor: Any) -> Any:
    line = order.lines.get()
    units = 1 if amount is not None else line.quantity
    case = aftersales_factories.apply(order, kind=CaseKind.REFUND_ONLY, units={line: units}, actor=actor)
    aftersales_services.approve_case(actor=actor, case_id=case.pk)
    return aftersales_services.refund_case(actor=actor, case_id=case.pk, amount=amount)


def test_buy_earn_full_refund_leaves_no_points_from_the_order(admin_user: Any) -> None:
    # given an order of ¥128.00 that earned its points (the Odoo PoS buy → earn → refund exploit)
    factories.create_levels()
    factories.set_program(rate="1.5")
    customer = factories.create_customer()
    order = factories.create_order(customer=customer, paid="128.00")
    services.sync_orders()
    earned = balance(customer)

    # when the whole order is refunded through after-sales
    refund_through_aftersales(order, None, admin_user)

    # then the earning is reversed exactly: the order leaves 0 points and the balance is back to 0
    assert earned == expected_points("128.00", "1.5") == 192
    assert order_net(order) == 0
    assert balance(customer) == 0
    assert verify_points() == []


def test_two_partial_refunds_reverse_in_proportion_and_sum_to_the_earning(admin_user: Any) -> None:
    # given ¥128.00 for 2 units earning ⌊128 × 0.7⌋ = 89 points
    factories.create_levels()
    factories.set_program(rate="0.7")
    customer = factories.create_customer()
    order = factories.create_order(customer=customer, paid="128.00", quantity=2)
    services.sync_orders()

    # when one unit's ¥64.00 is refunded, then the other's
    refund_through_aftersales(order, "64.00", admin_user)
    after_first = balance(customer)
    order.refresh_from_db()
    refund_through_aftersales(order, "64.00", admin_user)

    # then the first reverses round-half-up(89 × 64 / 128 = 44.5) = 45, and both together all 89
    earned = expected_points("128.00", "0.7")
    assert earned == 89
    assert after_first == earned - expected_reversal(earned, "64.00", "128.00") == 89 - 45
    assert balance(customer) == 0
    reversals = list(
        PointsEntry.objects.filter(order=order, kind=EntryKind.REVERSE).values_list("points", flat=True)
    )
    assert sorted(reversals) == [-45, -44]


def test_the_hook_firing_twice_reverses_once(admin_user: Any) -> None:
    # given a partially refunded order whose points were reversed by the hook
    factories.create_levels()
    factories.set_program(rate="1")
    customer = factories.create_customer()
    order = factories.create_order(customer=customer, paid="99.99")
    services.sync_orders()
    case = refund_through_aftersales(order, "33.33", admin_user)
    once = balance(customer)

    # when the hook is called again for the same case (a retry), and the job runs too
    call_all("aftersales_hooks", "refund_completed", case)
    services.sync_orders(full=True)

    # then nothing more is reversed
    assert once == balance(customer) == 99 - expected_reversal(99, "33.33", "99.99") == 66
    assert PointsEntry.objects.filter(order=order, kind=EntryKind.REVERSE).count() == 1


def test_a_platform_import_raising_the_refund_is_reconciled_by_the_job() -> None:
    # given an order of ¥200.00 that earned 200 points
    factories.create_levels()
    factories.set_program(rate="1")
    customer = factories.create_customer()
    order = factories.create_order(customer=customer, paid="200.00")
    services.sync_orders()

    # when a platform file says ¥50.00 was refunded, then ¥200.00 (the job runs after each, twice)
    Order.objects.filter(pk=order.pk).update(refunded_amount=Decimal("50.00"))
    first = services.sync_orders(full=True)
    services.sync_orders(full=True)
    partial = balance(customer)
    Order.objects.filter(pk=order.pk).update(refunded_amount=Decimal("200.00"))
    services.sync_orders(full=True)

    # then 50 points were reversed, then the rest, and the order nets 0
    assert first["reversed_points"] == 50
    assert partial == 150
    assert order_net(order) == 0
    assert balance(customer) == 0


def test_points_spent_before_the_refund_leave_a_debt_and_block_spending(admin_user: Any) -> None:
    # given 100 points earned and 80 spent
    factories.create_levels()
    factories.set_program(rate="1")
    customer = factories.create_customer()
    order = factories.create_order(customer=customer, paid="100.00")
    services.sync_orders()
    services.spend_points(customer_id=customer.pk, points=80, actor=admin_user, reason="兑换")

    # when the order is fully refunded
    refund_through_aftersales(order, None, admin_user)

    # then the balance shows a debt of 80 (积分欠款) and spending is refused until it is covered
    assert balance(customer) == 20 - 100
    with pytest.raises(services.InsufficientPoints):
        services.spend_points(customer_id=customer.pk, points=1, actor=admin_user)
    assert balance(customer) == -80
    assert verify_points() == []


def test_an_order_refunded_before_it_completed_earns_only_what_was_kept(admin_user: Any) -> None:
    # given a shipped order with ¥30.00 refunded before it completed (earning on completion)
    factories.create_levels()
    factories.set_program(rate="1")
    customer = factories.create_customer()
    order = factories.create_order(customer=customer, paid="120.00", status="shipped")
    Order.objects.filter(pk=order.pk).update(refunded_amount=Decimal("30.00"))
    services.sync_orders()
    before_completion = MemberAccount.objects.filter(customer=customer).count()

    # when it completes
    Order.objects.filter(pk=order.pk).update(status="completed")
    services.sync_orders(full=True)

    # then it earned 120 and reversed 30 at once: 90 points
    assert before_completion == 0
    assert balance(customer) == 90
