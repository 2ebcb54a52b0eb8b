import datetime as dt
import zoneinfo
from decimal import Decimal

import pytest
import time_machine

from shopops.core.errors import InvalidInput
from shopops.orders.models import Order
from shopops.segments import queries, services
from shopops.segments.models import CustomerMetrics, MembershipChange, SegmentEvent, SegmentMember
from shopops.segments.tests.factories import random_customers

NOW = dt.datetime(2026, 6, 15, 17, 30, tzinfo=dt.UTC)  # 01:30 on 16 June in Shanghai: days differ from UTC
SHANGHAI = zoneinfo.ZoneInfo("Asia/Shanghai")


def plain_facts(customer_ids: list[int], today: dt.date) -> dict[int, dict]:
    """Independent: per customer from the raw orders, days counted in Shanghai days."""
    facts = {pk: {"paid": [], "net": Decimal("0"), "shops": set()} for pk in customer_ids}
    for order in Order.objects.filter(customer__isnull=False, is_test=False, paid_at__isnull=False):
        fact = facts[order.customer_id]
        fact["paid"].append(order.paid_at)
        fact["net"] += order.paid_amount - order.refunded_amount
        fact["shops"].add(order.shop_id)
    for fact in facts.values():
        last = max(fact["paid"]) if fact["paid"] else None
        fact["days"] = (today - last.astimezone(SHANGHAI).date()).days if last else None
    return facts


def nested_rule(shop_id: int) -> dict:
    return {
        "op": "or",
        "items": [
            {
                "op": "and",
                "items": [
                    {"field": "net_spend", "operator": "gte", "value": "200"},
                    {"field": "last_order_days", "operator": "gte", "value": "30"},
                ],
            },
            {
                "op": "and",
                "items": [
                    {"field": "shop", "operator": "eq", "value": str(shop_id)},
                    {"field": "paid_order_count", "operator": "gte", "value": "3"},
                    {
                        "op": "or",
                        "items": [
                            {"field": "last_order_days", "operator": "lte", "value": "3"},
                            {"field": "net_spend", "operator": "lt", "value": "100"},
                        ],
                    },
                ],
            },
        ],
    }


def plain_match(fact: dict, shop_id: int) -> bool:
    days, net, count = fact["days"], fact["net"], len(fact["paid"])
    first = net >= 200 and days is not None and days >= 30
    recent_or_small = (days is not None and days <= 3) or net < 100
    second = shop_id in fact["shops"] and count >= 3 and recent_or_small
    return first or second


@pytest.mark.django_db
def test_nested_rule_matches_a_plain_python_evaluation_and_history_records_entries_and_exits() -> None:
    # given
    with time_machine.travel(NOW, tick=False):
        data = random_customers(seed=11, count=90, now=NOW)
        services.refresh_metrics(actor="test")
        shop = data["shops"][0]
        ids = [customer.pk for customer in data["customers"]]
        today = NOW.astimezone(SHANGHAI).date()
        expected = {pk for pk, fact in plain_facts(ids, today).items() if plain_match(fact, shop.pk)}
        assert 5 < len(expected) < len(ids) - 5
        # when
        segment = services.create_segment(name="测试人群", rule=nested_rule(shop.pk), actor="test")
    # then
    assert set(queries.member_ids(segment)) == expected
    assert segment.member_count == len(expected)
    entered = SegmentEvent.objects.filter(segment=segment, kind=MembershipChange.ENTERED)
    assert set(entered.values_list("customer_id", flat=True)) == expected

    # when: 40 days later, everyone's last order is older; the rule is evaluated again
    later = NOW + dt.timedelta(days=40)
    with time_machine.travel(later, tick=False):
        services.refresh_metrics(actor="test")
        result = services.refresh_segment(segment_id=segment.pk, actor="test")
        today_later = later.astimezone(SHANGHAI).date()
        expected_later = {
            pk for pk, fact in plain_facts(ids, today_later).items() if plain_match(fact, shop.pk)
        }
    # then
    assert set(queries.member_ids(segment)) == expected_later
    assert result.entered == len(expected_later - expected)
    assert result.left == len(expected - expected_later)
    assert result.left > 0
    left = SegmentEvent.objects.filter(segment=segment, kind=MembershipChange.LEFT, at=later)
    assert set(left.values_list("customer_id", flat=True)) == expected - expected_later
    stayed = SegmentMember.objects.filter(segment=segment, customer_id__in=expected & expected_later)
    assert {member.entered_at for member in stayed} <= {NOW}


@pytest.mark.django_db
def test_last_order_days_counts_shanghai_days() -> None:
    # given: paid at 23:50 Shanghai on 1 June, today is 1 July 00:10 Shanghai → 30 days
    with time_machine.travel(dt.datetime(2026, 6, 30, 16, 10, tzinfo=dt.UTC), tick=False):
        data = random_customers(seed=1, count=0, now=NOW)
        from shopops.segments.tests.factories import add_order, create_customer

        customer = create_customer()
        add_order(
            customer=customer, shop=data["shops"][0], paid_at=dt.datetime(2026, 6, 1, 15, 50, tzinfo=dt.UTC)
        )
        services.refresh_metrics(actor="test")

        # when / then
        def matches(operator: str, days: int) -> bool:
            rule = queries.clean_rule(
                {"op": "and", "items": [{"field": "last_order_days", "operator": operator, "value": days}]}
            )
            return queries.matching_customers(rule).filter(pk=customer.pk).exists()

        assert matches("eq", 30)
        assert matches("gte", 30)
        assert matches("lte", 30)
        assert not matches("gte", 31)
        assert not matches("lte", 29)
        assert not matches("eq", 29)
        assert matches("gt", 29)
        assert matches("lt", 31)
        assert matches("ne", 31)
    assert CustomerMetrics.objects.get(customer=customer).paid_order_count == 1


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("rule", "field"),
    [
        ({"op": "xor", "items": []}, "op"),
        ({"op": "and", "items": []}, "items"),
        ({"op": "and", "items": [{"field": "nope", "operator": "eq", "value": "1"}]}, "items.0.field"),
        (
            {"op": "and", "items": [{"field": "net_spend", "operator": "contains", "value": "1"}]},
            "items.0.operator",
        ),
        (
            {"op": "and", "items": [{"field": "net_spend", "operator": "gte", "value": "abc"}]},
            "items.0.value",
        ),
        (
            {"op": "and", "items": [{"field": "paid_order_count", "operator": "gte", "value": "1.5"}]},
            "items.0.value",
        ),
        (
            {
                "op": "or",
                "items": [{"op": "and", "items": [{"field": "rfm_class", "operator": "eq", "value": "x"}]}],
            },
            "items.0.items.0.value",
        ),
        ({"op": "and", "items": [{"field": "net_spend", "operator": "gte", "value": ""}]}, "items.0.value"),
        (
            {
                "op": "and",
                "items": [{"op": "and", "items": [{"op": "and", "items": [{"op": "and", "items": []}]}]}],
            },
            "items.0.items.0.items.0",
        ),
    ],
)
def test_invalid_rules_name_the_bad_part_in_chinese(rule: dict, field: str) -> None:
    with pytest.raises(InvalidInput) as raised:
        queries.clean_rule(rule)
    assert field in raised.value.fields
    assert all("\u4e00" <= character <= "\u9fff" for character in raised.value.fields[field][:1])
