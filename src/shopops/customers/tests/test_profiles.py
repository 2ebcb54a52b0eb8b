"""Merge suggestions, merge and unmerge (profiles), against the fixture computed independently."""

import itertools
from collections import defaultdict

import pytest

from shopops.catalog.tests.factories import create_shop
from shopops.channels.models import Platform
from shopops.core.errors import Conflict, InvalidInput
from shopops.core.models import AuditEntry
from shopops.customers import profiles
from shopops.customers.models import (
    Customer,
    CustomerAccount,
    CustomerMerge,
    CustomerNote,
    IdentityKind,
    MergeSuggestion,
    SuggestionStatus,
)
from shopops.customers.services import match_customer, phone_hash, platform_buyer_id
from shopops.orders.models import Order
from shopops.orders.tests.test_queries import make_order


def _customer(name, phone="", email="", **extra):
    return Customer.objects.create(name=name, phone=phone, phone_hash=phone_hash(phone), email=email, **extra)


@pytest.fixture
def people(db):
    tmall = create_shop(code="tm-p", platform=Platform.TMALL)
    jd = create_shop(code="jd-p", platform=Platform.JD)
    # one person: a Tmall profile with her phone, a JD profile keyed by a phone-number 下单帐号 (no phone field)
    wang_tb = _customer("王芳", "13812345678", "wang@example.com")
    CustomerAccount.objects.create(customer=wang_tb, platform="tmall", kind="taobao", buyer_id="tb_wangfang")
    wang_jd = _customer("王芳", "", "WANG@example.com")
    CustomerAccount.objects.create(
        customer=wang_jd, platform="jd", kind="jd", buyer_id=platform_buyer_id("13812345678")
    )
    # a third profile with the same phone (imported twice before phone matching)
    wang_3 = _customer("芳", "+86 138 1234 5678")
    # two people who share nothing
    zhao = _customer("赵六", "13900000001")
    qian = _customer("钱七", "13900000002", is_blacklisted=True, blacklist_reason="恶意退款")
    # zhao and qian ordered to the same receiver and address (a couple)
    orders = {
        "tb1": make_order(shop=tmall, customer=wang_tb, external_id="TB1"),
        "tb2": make_order(shop=tmall, customer=wang_tb, external_id="TB2"),
        "jd1": make_order(shop=jd, customer=wang_jd, external_id="JD1"),
        "jd2": make_order(shop=jd, customer=wang_jd, external_id="JD2"),
        "z": make_order(shop=jd, customer=zhao, external_id="Z1"),
        "q": make_order(shop=jd, customer=qian, external_id="Q1"),
    }
    for order in orders.values():  # each person's own receiver phone and address
        Order.objects.filter(pk=order.pk).update(
            receiver_phone_hash=f"p-{order.customer_id}", receiver_hash=f"r-{order.customer_id}"
        )
    Order.objects.filter(pk__in=[orders["z"].pk, orders["q"].pk]).update(receiver_hash="r-couple")
    return {
        "tmall": tmall,
        "jd": jd,
        "wang_tb": wang_tb,
        "wang_jd": wang_jd,
        "wang_3": wang_3,
        "zhao": zhao,
        "qian": qian,
        "orders": orders,
    }


def independent_evidence():  # noqa: C901 - one loop per kind of evidence, kept plain on purpose
    """The evidence computed without the app: plain Python over every table row."""
    found = defaultdict(set)

    def pairs_of(groups, kind):
        for ids in groups.values():
            for first, second in itertools.combinations(sorted(set(ids)), 2):
                found[(first, second)].add(kind)

    by_phone, by_email, by_account, by_receiver, by_receiver_phone = (defaultdict(list) for _ in range(5))
    for customer in Customer.objects.all():
        if customer.phone_hash:
            by_phone[customer.phone_hash].append(customer.pk)
        if customer.email:
            by_email[customer.email.lower()].append(customer.pk)
    for account in CustomerAccount.objects.all():
        if account.buyer_id.startswith("phone-"):
            by_account[account.buyer_id].append(account.customer_id)
    for order in Order.objects.exclude(customer=None):
        if order.receiver_hash:
            by_receiver[order.receiver_hash].append(order.customer_id)
        if order.receiver_phone_hash:
            by_receiver_phone[order.receiver_phone_hash].append(order.customer_id)
    pairs_of(by_phone, "same_phone")
    pairs_of(by_email, "same_email")
    pairs_of(by_account, "same_phone")
    pairs_of(by_receiver, "same_receiver")
    pairs_of(by_receiver_phone, "same_receiver_phone")
    return dict(found.items())


def test_suggestions_match_an_independent_computation(people, admin_user):
    counts = profiles.generate_suggestions(actor=admin_user)
    stored = {
        (s.customer_a_id, s.customer_b_id): {item["kind"] for item in s.evidence}
        for s in MergeSuggestion.objects.all()
    }
    expected = independent_evidence()
    assert stored == expected
    w = people
    assert stored[tuple(sorted((w["wang_tb"].pk, w["wang_3"].pk)))] >= {"same_phone"}
    assert stored[tuple(sorted((w["wang_tb"].pk, w["wang_jd"].pk)))] >= {"same_email"}
    assert stored[tuple(sorted((w["zhao"].pk, w["qian"].pk)))] == {"same_receiver"}
    assert counts["created"] == len(expected)
    # running again changes nothing
    assert profiles.generate_suggestions(actor=admin_user) == {"created": 0, "refreshed": 0, "skipped": 0}


def test_a_rejected_pair_is_never_suggested_again(people, admin_user):
    profiles.generate_suggestions(actor=admin_user)
    pair = tuple(sorted((people["zhao"].pk, people["qian"].pk)))
    suggestion = MergeSuggestion.objects.get(customer_a_id=pair[0], customer_b_id=pair[1])
    with pytest.raises(InvalidInput):
        profiles.reject_suggestion(actor=admin_user, suggestion_id=suggestion.pk, reason=" ")
    profiles.reject_suggestion(actor=admin_user, suggestion_id=suggestion.pk, reason="夫妻，不是同一人")
    counts = profiles.generate_suggestions(actor=admin_user)
    suggestion.refresh_from_db()
    assert (suggestion.status, suggestion.reject_reason) == (SuggestionStatus.REJECTED, "夫妻，不是同一人")
    assert counts["created"] == 0
    assert counts["skipped"] >= 1
    assert AuditEntry.objects.filter(
        action="customer.suggestion_rejected", object_id=str(suggestion.pk)
    ).exists()
    with pytest.raises(Conflict):
        profiles.accept_suggestion(actor=admin_user, suggestion_id=suggestion.pk)


def _state():
    return {
        "orders": dict(Order.objects.values_list("pk", "customer_id")),
        "accounts": dict(CustomerAccount.objects.values_list("pk", "customer_id")),
        "notes": dict(CustomerNote.objects.values_list("pk", "customer_id")),
        "customers": {
            c.pk: (
                c.name,
                c.phone,
                c.phone_hash,
                c.email,
                c.birthday,
                c.first_order_at,
                c.last_order_at,
                c.is_blacklisted,
                c.blacklist_reason,
                c.merged_into_id,
            )
            for c in Customer.objects.all()
        },
    }


def test_merge_and_unmerge_round_trip(people, admin_user):
    w = people
    profiles.add_note(actor=admin_user, customer_id=w["wang_jd"].pk, text="京东上说要开发票")
    before = _state()
    profiles.generate_suggestions(actor=admin_user)
    pair = (w["wang_tb"].pk, w["wang_jd"].pk)
    suggestion = MergeSuggestion.objects.get(customer_a_id=min(pair), customer_b_id=max(pair))
    # when the pair is accepted, keeping the Tmall profile
    merge = profiles.accept_suggestion(actor=admin_user, suggestion_id=suggestion.pk, keep_id=w["wang_tb"].pk)
    # then orders, identities and notes of the JD profile are on the Tmall one, exactly those
    moved_orders = sorted([w["orders"]["jd1"].pk, w["orders"]["jd2"].pk])
    assert merge.moved["orders.order"] == moved_orders
    assert sorted(Order.objects.filter(customer=w["wang_tb"]).values_list("pk", flat=True)) == sorted(
        [w["orders"]["tb1"].pk, w["orders"]["tb2"].pk, *moved_orders]
    )
    assert set(CustomerAccount.objects.filter(customer=w["wang_tb"]).values_list("kind", flat=True)) == {
        IdentityKind.TAOBAO,
        IdentityKind.JD,
    }
    assert CustomerNote.objects.get().customer_id == w["wang_tb"].pk
    source = Customer.objects.get(pk=w["wang_jd"].pk)
    assert source.merged_into_id == w["wang_tb"].pk
    assert Customer.objects.filter(merged_into__isnull=True).count() == 4
    suggestion.refresh_from_db()
    assert suggestion.status == SuggestionStatus.ACCEPTED
    # a new order of the JD buyer id lands on the kept profile
    assert match_customer(platform="jd", buyer_id="13812345678").pk == w["wang_tb"].pk
    # merging the merged-away profile again is refused
    with pytest.raises(Conflict):
        profiles.merge_customers(actor=admin_user, source_id=w["wang_jd"].pk, target_id=w["zhao"].pk)
    # when it is unmerged, every row is back exactly
    profiles.unmerge(actor=admin_user, merge_id=merge.pk, reason="误合并")
    after = _state()
    assert after == before
    suggestion.refresh_from_db()
    assert suggestion.status == SuggestionStatus.REJECTED
    assert {e.action for e in AuditEntry.objects.filter(action__startswith="customer.")} >= {
        "customer.merged",
        "customer.merged_away",
        "customer.unmerged",
        "customer.unmerged_back",
        "customer.note_added",
    }
    with pytest.raises(Conflict):
        profiles.unmerge(actor=admin_user, merge_id=merge.pk)


def test_merging_a_blacklisted_profile_keeps_the_flag(people, admin_user):
    w = people
    merge = profiles.merge_customers(actor=admin_user, source_id=w["qian"].pk, target_id=w["zhao"].pk)
    target = Customer.objects.get(pk=w["zhao"].pk)
    assert (target.is_blacklisted, target.blacklist_reason) == (True, "恶意退款")
    profiles.unmerge(actor=admin_user, merge_id=merge.pk)
    target.refresh_from_db()
    assert (target.is_blacklisted, target.blacklist_reason) == (False, "")
    assert Customer.objects.get(pk=w["qian"].pk).is_blacklisted


def test_unmerge_refused_while_the_target_is_merged_further(people, admin_user):
    w = people
    first = profiles.merge_customers(actor=admin_user, source_id=w["wang_3"].pk, target_id=w["wang_jd"].pk)
    second = profiles.merge_customers(actor=admin_user, source_id=w["wang_jd"].pk, target_id=w["wang_tb"].pk)
    assert second.moved["orders.order"] == sorted([w["orders"]["jd1"].pk, w["orders"]["jd2"].pk])
    with pytest.raises(Conflict):
        profiles.unmerge(actor=admin_user, merge_id=first.pk)
    profiles.unmerge(actor=admin_user, merge_id=second.pk)
    profiles.unmerge(actor=admin_user, merge_id=first.pk)
    assert CustomerMerge.objects.filter(unmerged_at__isnull=True).count() == 0
    assert not Customer.objects.exclude(merged_into=None).exists()
