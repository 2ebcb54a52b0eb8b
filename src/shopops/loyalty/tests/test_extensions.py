from typing import Any

import pytest
from django.test import RequestFactory

from shopops.customers.models import Customer
from shopops.loyalty import customer_profile, personal_data, segment_conditions, services
from shopops.loyalty.models import MemberAccount, MemberLevel
from shopops.loyalty.tests import factories
from shopops.segments import queries as segment_queries

pytestmark = pytest.mark.django_db


def condition(key: str) -> dict[str, Any]:
    return next(item for item in segment_conditions.conditions() if item["key"] == key)


def test_segment_conditions_match_an_independent_filter() -> None:
    # given members with 0 (no account), 50, 150 and a negative balance, at two levels
    factories.create_levels()
    factories.set_program(rate="1")
    nobody = factories.create_customer()
    small, large, debtor = (
        factories.create_customer(),
        factories.create_customer(),
        factories.create_customer(),
    )
    for customer, paid in ((small, "50.00"), (large, "150.00"), (debtor, "10.00")):
        factories.create_order(customer=customer, paid=paid)
    services.sync_orders()
    services.adjust_points(customer_id=debtor.pk, points=-30, reason="测试欠款", actor=None)
    silver = MemberLevel.objects.get(name="银卡")
    MemberAccount.objects.filter(customer=large).update(level=silver)
    balances = {nobody.pk: 0, small.pk: 50, large.pk: 150, debtor.pk: -20}
    levels = {nobody.pk: "普通会员", small.pk: "普通会员", large.pk: "银卡", debtor.pk: "普通会员"}

    def matching(key: str, operator: str, value: Any) -> set[int]:
        # through the segment engine itself: the rule is validated and turned into SQL as a segment's is
        rule = segment_queries.clean_rule(
            {"op": "and", "items": [{"field": key, "operator": operator, "value": value}]}
        )
        return set(Customer.objects.filter(segment_queries.rule_q(rule)).values_list("pk", flat=True))

    # when / then each operator agrees with a plain Python filter over the same facts
    for operator, value, test in (
        ("gte", 50, lambda b: b >= 50),
        ("lt", 1, lambda b: b < 1),
        ("eq", 0, lambda b: b == 0),
        ("lte", -1, lambda b: b <= -1),
    ):
        assert matching("points_balance", operator, value) == {pk for pk, b in balances.items() if test(b)}
    base = MemberLevel.objects.get(name="普通会员")
    assert matching("member_level", "eq", str(silver.pk)) == {large.pk}
    assert matching("member_level", "eq", str(base.pk)) == {
        pk for pk, name in levels.items() if name == "普通会员"
    }
    assert matching("member_level", "ne", str(base.pk)) == {large.pk}


def test_profile_panel_and_personal_data_export(make_user: Any) -> None:
    # given a member with one earning
    factories.create_levels()
    factories.set_program(rate="1")
    customer = factories.create_customer()
    factories.create_order(customer=customer, paid="88.00")
    services.sync_orders()
    request = RequestFactory().get("/")

    # when the panel is built for a viewer and for a user without the permission, and the data exported
    request.user = make_user("customer_service")
    shown = customer_profile.panels(request, customer)
    request.user = make_user("designer")
    hidden = customer_profile.panels(request, customer)
    exported = personal_data.export(customer)

    # then the viewer sees level and balance; the export lists the ledger; anonymising changes nothing
    assert hidden == []
    assert 'data-testid="loyalty-balance">88<' in shown[0].body
    assert "普通会员" in shown[0].body
    assert [row["积分变动"] for row in exported["积分流水"]] == [88]
    assert personal_data.anonymise(customer) == 0
    assert MemberAccount.objects.get(customer=customer).balance == 88
