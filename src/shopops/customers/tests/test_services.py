import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from shopops.core.errors import InvalidInput
from shopops.core.models import AuditEntry
from shopops.customers import services
from shopops.customers.models import Customer, CustomerAccount
from shopops.customers.services import BuyerKey

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("phone", "same_as_plain"),
    [
        ("13800001234", True),
        ("+86 138-0000-1234", True),
        ("008613800001234", True),
        ("'13800001234", True),
        ("13900001234", False),
    ],
)
def test_phone_hash_normalizes_to_digits(phone, same_as_plain):
    assert (services.phone_hash(phone) == services.phone_hash("13800001234")) is same_as_plain
    assert len(services.phone_hash(phone)) == 64


@pytest.mark.parametrize("phone", ["17012345678-1234", "1xxxxxxxxxx-1234", "138****1234", "", "12345"])
def test_privacy_masked_and_short_numbers_give_no_hash(phone):
    assert services.phone_hash(phone) == ""


def test_phone_hash_is_keyed_not_a_plain_sha256():
    import hashlib

    assert services.phone_hash("13800001234") != hashlib.sha256(b"13800001234").hexdigest()
    assert services.phone_hash("13800001234") != hashlib.sha256(b"phone:13800001234").hexdigest()


def test_last4_of_a_privacy_number_is_its_extension():
    assert services.phone_last4("17012345678-1234") == "1234"
    assert services.phone_last4("138****5678") == "5678"


def test_match_by_buyer_id_then_by_phone_hash_then_create():
    # given
    first = services.match_customer(platform="tmall", buyer_id="nick1", phone="13800001234", name="张三")
    # when: same buyer id, other phone
    again = services.match_customer(platform="tmall", buyer_id="nick1", phone="13999999999")
    # when: other platform account, same phone → same person, account linked
    by_phone = services.match_customer(platform="jd", buyer_id="jd-77", phone="+86 13800001234")
    # when: nothing to key on
    nobody = services.match_customer(platform="tmall", buyer_id="", phone="138****1234")
    # then
    assert first is not None
    assert again.pk == first.pk
    assert by_phone.pk == first.pk
    assert nobody is None
    assert Customer.objects.count() == 1
    assert sorted(CustomerAccount.objects.values_list("platform", "buyer_id")) == [
        ("jd", "jd-77"),
        ("tmall", "nick1"),
    ]


def test_privacy_numbers_never_merge_different_buyers():
    one = services.match_customer(platform="tmall", buyer_id="a", phone="17012345678-1111")
    two = services.match_customer(platform="tmall", buyer_id="b", phone="17012345678-1111")
    assert one.pk != two.pk
    assert (one.phone_hash, one.phone) == ("", "")


def test_match_customers_for_a_chunk_uses_few_queries_and_dedupes_within_the_chunk():
    # given
    services.match_customer(platform="tmall", buyer_id="known", phone="13800000001")
    when = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)
    keys = [BuyerKey(platform="tmall", buyer_id=f"new{number % 10}", ordered_at=when) for number in range(40)]
    keys.append(BuyerKey(platform="tmall", buyer_id="known"))
    keys.append(BuyerKey(platform="pdd", phone="13800000001"))
    keys.append(BuyerKey(platform="pdd"))
    # when
    with CaptureQueriesContext(connection) as queries:
        found = services.match_customers(keys)
    # then
    assert len({customer.pk for customer in found[:40]}) == 10
    assert found[40].pk == found[41].pk
    assert found[42] is None
    assert Customer.objects.count() == 11
    assert Customer.objects.get(pk=found[0].pk).first_order_at == when
    assert len(queries.captured_queries) <= 60  # 10 new customers + 10 accounts, the rest constant


def test_new_customers_of_a_chunk_go_in_with_their_ids_in_one_statement():
    # given
    when = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)
    keys = [
        BuyerKey(platform="tmall", buyer_id=f"b{number}", phone=f"139{number:08d}", name=f"顾客{number}",
                 ordered_at=when + dt.timedelta(minutes=number))
        for number in range(300)
    ]  # fmt: skip

    # when
    with CaptureQueriesContext(connection) as queries:
        found = services.match_customers(keys)

    # then: each customer object is its own row, with what the key said
    inserts = [
        query
        for query in queries.captured_queries
        if query["sql"].startswith('INSERT INTO "customers_customer"')
    ]
    assert len(inserts) == 1
    assert len({customer.pk for customer in found}) == 300
    rows = Customer.objects.in_bulk([customer.pk for customer in found])
    for number, customer in enumerate(found):
        stored = rows[customer.pk]
        assert (stored.name, stored.phone_hash) == (f"顾客{number}", services.phone_hash(f"139{number:08d}"))
        assert stored.first_order_at == stored.last_order_at == when + dt.timedelta(minutes=number)
        assert stored.created_at is not None
        assert customer._state.adding is False
    assert dict(CustomerAccount.objects.values_list("buyer_id", "customer_id")) == {
        f"b{number}": customer.pk for number, customer in enumerate(found)
    }


def test_blacklist_and_unblacklist_are_audited(admin_user):
    customer = services.match_customer(platform="tmall", buyer_id="x")
    services.blacklist_customer(actor=admin_user, customer_id=customer.pk, reason="恶意差评")
    customer.refresh_from_db()
    assert (customer.is_blacklisted, customer.blacklist_reason) == (True, "恶意差评")
    services.unblacklist_customer(actor=admin_user, customer_id=customer.pk, reason="误判")
    customer.refresh_from_db()
    assert (customer.is_blacklisted, customer.blacklist_reason) == (False, "")
    assert list(AuditEntry.objects.order_by("pk").values_list("action", flat=True)) == [
        "customer.blacklisted",
        "customer.unblacklisted",
    ]
    with pytest.raises(InvalidInput):
        services.blacklist_customer(actor=admin_user, customer_id=customer.pk, reason=" ")
