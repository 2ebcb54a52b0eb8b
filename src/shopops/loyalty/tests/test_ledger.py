import datetime as dt
from io import StringIO
from typing import Any

import pytest
import time_machine
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import DatabaseError, connection, transaction

from shopops.core.audit import AuditEntry
from shopops.core.errors import InvalidInput, PermissionDeniedError
from shopops.loyalty import integrity, services
from shopops.loyalty.models import AppendOnlyError, EntryKind, LevelChange, MemberAccount, PointsEntry
from shopops.loyalty.queries import member_summary, verify_points
from shopops.loyalty.tests import factories

pytestmark = pytest.mark.django_db

T0 = dt.datetime(2026, 1, 10, 12, 0, tzinfo=dt.UTC)


def earned_account(paid: str = "100.00") -> tuple[Any, PointsEntry]:
    factories.create_levels()
    factories.set_program(rate="1")
    customer = factories.create_customer()
    order = factories.create_order(customer=customer, paid=paid)
    services.sync_orders()
    return customer, PointsEntry.objects.get(order=order)


def test_the_ledger_refuses_update_and_delete_in_the_orm_and_in_the_database() -> None:
    # given one earning row
    _customer, entry = earned_account()

    # when it is changed or deleted through the ORM or by raw SQL
    with pytest.raises(AppendOnlyError):
        PointsEntry.objects.filter(pk=entry.pk).update(points=1)
    with pytest.raises(AppendOnlyError):
        PointsEntry.objects.filter(pk=entry.pk).delete()
    with pytest.raises(AppendOnlyError):
        entry.save()
    for statement in ("UPDATE loyalty_pointsentry SET points = 1", "DELETE FROM loyalty_pointsentry"):
        with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(statement)

    # then the row is as written
    assert PointsEntry.objects.values_list("points", flat=True).get(pk=entry.pk) == 100


def test_verify_finds_a_balance_that_left_its_ledger() -> None:
    # given a sound ledger
    customer, _entry = earned_account()
    sound = (verify_points(), integrity.verify())
    call_command("points", "verify", stdout=StringIO())

    # when the balance is changed behind the ledger's back
    MemberAccount.objects.filter(customer=customer).update(balance=150)

    # then verify, the drill's check and the command all report it
    assert sound == ([], [])
    drifts = verify_points()
    assert [(d.balance, d.ledger_sum) for d in drifts] == [(150, 100)]
    assert len(integrity.verify()) == 1
    with pytest.raises(CommandError) as failure:
        call_command("points", "verify", stdout=StringIO())
    assert failure.value.returncode == 1


def test_adjust_needs_a_reason_and_the_permission(make_user: Any) -> None:
    # given a member, an operator allowed to adjust and a customer-service user who is not
    customer, _entry = earned_account()
    operator, viewer = make_user("operations"), make_user("customer_service")

    # when each tries to adjust
    with pytest.raises(InvalidInput):
        services.adjust_points(customer_id=customer.pk, points=10, reason="  ", actor=operator)
    with pytest.raises(PermissionDeniedError):
        services.adjust_points(customer_id=customer.pk, points=10, reason="补偿", actor=viewer)
    services.adjust_points(customer_id=customer.pk, points=-30, reason="误发扣回", actor=operator)

    # then only the permitted one with a reason changed the balance, audited
    assert MemberAccount.objects.get(customer=customer).balance == 70
    assert PointsEntry.objects.filter(kind=EntryKind.ADJUST).count() == 1
    assert AuditEntry.objects.filter(action="points.adjusted").count() == 1
    assert verify_points() == []


def fifo_expired(credits: list[tuple[dt.datetime, int]], debits: int, now: dt.datetime) -> int:
    # independent: walk the lots oldest expiry first, taking the debits from them
    left = debits
    expired = 0
    for expires_at, points in sorted(credits):
        used = min(points, left)
        left -= used
        if expires_at <= now:
            expired += points - used
    return expired


def test_lots_expire_first_in_first_out() -> None:
    # given 100 points earned at T0 and 50 at T0 + 100 days (a year's validity), 120 spent at T0 + 200 days
    factories.create_levels()
    factories.set_program(rate="1", expiry_days=365)
    customer = factories.create_customer()
    with time_machine.travel(T0, tick=False):
        factories.create_order(customer=customer, paid="100.00")
        services.sync_orders()
    with time_machine.travel(T0 + dt.timedelta(days=100), tick=False):
        factories.create_order(customer=customer, paid="50.00")
        services.sync_orders()
    with time_machine.travel(T0 + dt.timedelta(days=200), tick=False):
        services.spend_points(customer_id=customer.pk, points=120, actor=None)
    credits = [(T0 + dt.timedelta(days=365), 100), (T0 + dt.timedelta(days=465), 50)]

    # when the expiry job runs after the first lot's date, twice, and after the second's
    first_date = T0 + dt.timedelta(days=366)
    first = services.expire_points(now=first_date)
    again = services.expire_points(now=first_date)
    second = services.expire_points(now=T0 + dt.timedelta(days=466))

    # then the first lot had nothing left, the second lot's 30 expired, once
    assert first == fifo_expired(credits, 120, first_date) == 0
    assert again == 0
    assert second == fifo_expired(credits, 120, T0 + dt.timedelta(days=466)) == 30
    assert MemberAccount.objects.get(customer=customer).balance == 0
    assert verify_points() == []


def test_expiring_soon_shows_the_remainder_of_near_lots() -> None:
    # given 100 points earned a year minus 10 days ago and 40 spent
    factories.create_levels()
    factories.set_program(rate="1", expiry_days=365)
    customer = factories.create_customer()
    with time_machine.travel(T0, tick=False):
        factories.create_order(customer=customer, paid="100.00")
        services.sync_orders()
        services.spend_points(customer_id=customer.pk, points=40, actor=None)

    # when the summary is read 355 days later
    summary = member_summary(customer.pk, now=T0 + dt.timedelta(days=355))

    # then 60 points expire within 30 days
    assert summary is not None
    assert summary.expiring == 60


def test_levels_upgrade_at_once_and_downgrade_only_on_review() -> None:
    # given the levels (银卡 from ¥500, 金卡 from ¥2000 over 365 days)
    levels = factories.create_levels()
    factories.set_program(rate="1")
    customer = factories.create_customer()
    with time_machine.travel(T0, tick=False):
        factories.create_order(customer=customer, paid="2100.00", paid_at=T0 - dt.timedelta(days=3))
        services.sync_orders()
    upgraded = MemberAccount.objects.get(customer=customer).level.name

    # when a year passes: the earning job keeps the level, the review lowers it
    later = T0 + dt.timedelta(days=400)
    with time_machine.travel(later, tick=False):
        factories.create_order(customer=customer, paid="600.00", paid_at=later - dt.timedelta(days=1))
        services.sync_orders()
        kept = MemberAccount.objects.get(customer=customer).level.name
        changed = services.review_levels(now=later)

    # then 金卡 at once, kept until the review, then 银卡 (¥600 within the window), with history
    account = MemberAccount.objects.get(customer=customer)
    assert (upgraded, kept, account.level.name, changed) == ("金卡", "金卡", "银卡", 1)
    assert levels[1] == account.level
    history = list(LevelChange.objects.filter(account=account).order_by("changed_at", "id"))
    assert [(c.from_level.name, c.to_level.name) for c in history] == [("普通会员", "金卡"), ("金卡", "银卡")]
    assert history[1].reason == "等级复核降级"


def test_a_merge_moves_the_balance_lot_by_lot_and_an_unmerge_moves_it_back() -> None:
    # given two customers with points (one of them later found to be the same person)
    factories.create_levels()
    factories.set_program(rate="1")
    source, target = factories.create_customer(), factories.create_customer()
    factories.create_order(customer=source, paid="70.00")
    factories.create_order(customer=target, paid="30.00")
    services.sync_orders()

    # when merged, then unmerged
    moved = services.move_to(source_customer_id=source.pk, target_customer_id=target.pk, actor=None)
    merged = (
        MemberAccount.objects.get(customer=source).balance,
        MemberAccount.objects.get(customer=target).balance,
    )
    services.move_back(
        source_customer_id=source.pk, target_customer_id=target.pk, entry_ids=moved, actor=None
    )

    # then the balance went over and came back; the ledger holds every move
    assert merged == (0, 100)
    assert MemberAccount.objects.get(customer=source).balance == 70
    assert MemberAccount.objects.get(customer=target).balance == 30
    assert MemberAccount.objects.get(customer=source).merged_into is None
    assert PointsEntry.objects.filter(kind=EntryKind.TRANSFER).count() == 4
    assert verify_points() == []
