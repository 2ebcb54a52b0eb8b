import datetime as dt
import re

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from shopops.catalog.tests.factories import create_shop
from shopops.channels.models import Platform
from shopops.core.models import AuditEntry
from shopops.orders.admin import common as order_admin
from shopops.orders.models import IssueStatus, Order, OrderEvent, OrderIssue, OrderStatus, SavedFilter
from shopops.orders.tests.test_queries import SHANGHAI, local, make_order

CHANGELIST = "/admin/orders/order/"


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def listed(response) -> list[str]:
    """External ids in the changelist, in page order."""
    html = response.content.decode()
    return re.findall(r'<a href="/admin/orders/order/\d+/change/[^"]*"[^>]*>([^<]+)</a>', html)


@pytest.fixture
def world(db):
    shop = create_shop(code="tm-a", name="天猫店", platform=Platform.TMALL)
    jd = create_shop(code="jd-a", name="京东店", platform=Platform.JD)
    first = make_order(
        shop=shop,
        external_id="A1",
        receiver_phone="13800131234",
        placed_at=local(2026, 6, 1, 0, 0),
        lines=[("MC-RED", 1)],
        flag=1,
    )
    second = make_order(
        shop=shop,
        external_id="A2",
        status=OrderStatus.SHIPPED,
        receiver_phone="13900135678",
        placed_at=local(2026, 6, 2, 12, 0),
        lines=[("MC-BLUE", 1)],
    )
    third = make_order(
        shop=jd, external_id="B1", receiver_phone="13700131234", placed_at=local(2026, 5, 31, 23, 59)
    )
    issue = OrderIssue.objects.create(order=first, rule="incomplete_address", message="地址不完整")
    return {"shop": shop, "jd": jd, "orders": [first, second, third], "issue": issue}


def test_pages_render_for_an_operator(world, make_user):
    # given
    client = client_for(make_user("operations"))
    first = world["orders"][0]
    saved = SavedFilter.objects.create(owner=make_user("operations"), name="共享", params={}, is_shared=True)
    urls = [
        CHANGELIST,
        reverse("admin:orders_order_change", args=[first.pk]),
        reverse("admin:orders_orderissue_changelist"),
        reverse("admin:orders_orderissue_change", args=[world["issue"].pk]),
        reverse("admin:orders_savedfilter_changelist"),
        reverse("admin:orders_savedfilter_add"),
        reverse("admin:orders_savedfilter_change", args=[saved.pk]),
        reverse("admin:index"),
    ]
    # when / then
    assert [client.get(url).status_code for url in urls] == [200] * len(urls)


def test_pages_are_refused_without_permission(world, make_user):
    designer = client_for(make_user("designer"))
    anonymous = Client()
    first = world["orders"][0]
    urls = [
        CHANGELIST,
        reverse("admin:orders_order_change", args=[first.pk]),
        reverse("admin:orders_orderissue_changelist"),
    ]
    assert [designer.get(url).status_code for url in urls] == [403] * len(urls)
    assert [anonymous.get(url).status_code for url in urls] == [302] * len(urls)


def test_out_of_scope_order_page_is_not_found(world, make_user):
    client = client_for(make_user("operations", shops=[world["jd"]]))
    response = client.get(reverse("admin:orders_order_change", args=[world["orders"][0].pk]))
    assert response.status_code == 404  # the same as a missing order (the workspace's one scope check)
    assert listed(client.get(CHANGELIST)) == ["B1"]


def test_list_masks_receivers_for_users_without_view_pii(world, make_user):
    masked = client_for(make_user("operations")).get(CHANGELIST).content.decode()
    clear = client_for(make_user("admin")).get(CHANGELIST).content.decode()
    assert "138****1234" in masked
    assert "13800131234" not in masked
    assert "张**" in masked
    assert "13800131234" in clear


def test_change_page_masks_and_shows_lines_and_issues(world, make_user):
    html = client_for(make_user("operations")).get(
        reverse("admin:orders_order_change", args=[world["orders"][0].pk])
    )
    content = html.content.decode()
    assert "138****1234" in content
    assert "13800131234" not in content
    assert "浙江省杭州市西湖区******" in content
    assert "MC-RED" in content
    assert "地址不完整" in content


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"status__exact": "shipped"}, ["A2"]),
        ({"shop__id__exact": "jd"}, ["B1"]),
        ({"placed_at_from": "2026-06-01", "placed_at_to": "2026-06-01"}, ["A1"]),
        ({"placed_at_to": "2026-05-31"}, ["B1"]),
        ({"flag": "1"}, ["A1"]),
        ({"open_issues": "yes"}, ["A1"]),
        ({"q": "13800131234"}, ["A1"]),
        ({"q": "1234"}, []),  # the last four digits alone are too broad (an error is shown instead)
        ({"q": "MC-BLUE"}, ["A2"]),
        ({"q": "A2"}, ["A2"]),
    ],
)
def test_list_filters_and_search(world, make_user, query, expected):
    if query.get("shop__id__exact") == "jd":
        query = {"shop__id__exact": str(world["jd"].pk)}
    response = client_for(make_user("admin")).get(CHANGELIST, query)
    assert response.status_code == 200
    assert sorted(listed(response)) == expected


def test_list_applies_a_saved_filter(world, make_user):
    user = make_user("operations")
    saved = SavedFilter.objects.create(owner=user, name="已发货", params={"status": ["shipped"]})
    response = client_for(user).get(CHANGELIST, {"saved_filter": str(saved.pk)})
    assert listed(response) == ["A2"]


def test_mark_flag_and_memo_action_goes_through_the_service(world, make_user):
    # given
    user = make_user("operations")
    client = client_for(user)
    first, second, _third = world["orders"]
    selected = [str(first.pk), str(second.pk)]
    # when the form is shown, then applied
    page = client.post(CHANGELIST, {"action": "mark_selected", "_selected_action": selected})
    applied = client.post(
        CHANGELIST,
        {
            "action": "mark_selected",
            "_selected_action": selected,
            "step": "apply",
            "flag": "3",
            "seller_memo": "加急",
        },
    )
    # then
    assert page.status_code == 200
    assert 'data-testid="action-form"' in page.content.decode()
    assert applied.status_code == 302
    assert list(Order.objects.filter(pk__in=selected).order_by("pk").values_list("flag", "seller_memo")) == [
        (3, "加急"),
        (3, "加急"),
    ]
    assert OrderEvent.objects.filter(order__in=[first, second], kind="memo", actor=user).count() == 2


def test_mark_action_is_not_offered_to_read_only_roles(world, make_user):
    response = client_for(make_user("warehouse")).get(CHANGELIST)
    assert response.status_code == 200
    assert "mark_selected" not in response.content.decode()


def test_ship_action_links_to_fulfillment_or_is_hidden(world, make_user, monkeypatch):
    user = make_user("admin")
    client = client_for(user)
    first, second, _third = world["orders"]
    # given no fulfillment page: the action is not offered
    monkeypatch.setattr(order_admin, "ship_url", lambda: None)
    assert 'value="ship_selected"' not in client.get(CHANGELIST).content.decode()
    # given the page: the action redirects there with the selected ids
    monkeypatch.setattr(order_admin, "ship_url", lambda: "/admin/fulfillment/shipment/ship-orders/")
    response = client.post(
        CHANGELIST, {"action": "ship_selected", "_selected_action": [str(second.pk), str(first.pk)]}
    )
    assert response.status_code == 302
    assert response["Location"] == f"/admin/fulfillment/shipment/ship-orders/?orders={first.pk},{second.pk}"


def test_rerun_review_action_reviews_the_selected_orders(world, make_user):
    client = client_for(make_user("operations"))
    first = world["orders"][0]
    response = client.post(
        CHANGELIST, {"action": "rerun_review", "_selected_action": [str(first.pk)]}, follow=True
    )
    assert response.status_code == 200
    assert "已重新审单 1 张" in response.content.decode()


def test_exception_queue_lists_open_first_and_resolves_through_the_service(world, make_user):
    # given an ignored issue on the JD order as well
    OrderIssue.objects.create(
        order=world["orders"][2],
        rule="unpaid_timeout",
        message="京东单未付款已忽略",
        status=IssueStatus.IGNORED,
    )
    user = make_user("operations")
    client = client_for(user)
    queue = reverse("admin:orders_orderissue_changelist")
    html = client.get(queue).content.decode()
    assert html.index("地址不完整") < html.index("京东单未付款已忽略")
    issue = world["issue"]
    # when marking it invalid
    response = client.post(
        queue,
        {
            "action": "mark_invalid_selected",
            "_selected_action": [str(issue.pk)],
            "step": "apply",
            "resolution": "刷单",
        },
    )
    # then
    assert response.status_code == 302
    issue.refresh_from_db()
    assert (issue.status, issue.marks_invalid, issue.resolution, issue.resolved_by) == (
        IssueStatus.RESOLVED,
        True,
        "刷单",
        user,
    )
    assert AuditEntry.objects.filter(action="order_issue.resolved", object_id=str(issue.pk)).count() == 1


def test_exception_queue_ignore_action(world, make_user):
    client = client_for(make_user("operations"))
    issue = world["issue"]
    client.post(
        reverse("admin:orders_orderissue_changelist"),
        {"action": "ignore_selected", "_selected_action": [str(issue.pk)]},
    )
    issue.refresh_from_db()
    assert issue.status == IssueStatus.IGNORED


def test_exception_queue_is_limited_to_the_users_shops(world, make_user):
    OrderIssue.objects.create(order=world["orders"][2], rule="unpaid_timeout", message="京东超时")
    html = client_for(make_user("operations", shops=[world["jd"]])).get(
        reverse("admin:orders_orderissue_changelist")
    )
    content = html.content.decode()
    assert "京东超时" in content
    assert "地址不完整" not in content


def test_saved_filter_admin_creates_through_the_service_and_only_owner_edits(world, make_user):
    # given
    owner = make_user("operations")
    client = client_for(owner)
    # when
    response = client.post(
        reverse("admin:orders_savedfilter_add"),
        {"name": "大单", "params": '{"amount_min": "500"}', "is_shared": "on"},
    )
    # then
    assert response.status_code == 302
    saved = SavedFilter.objects.get(name="大单")
    assert (saved.owner, saved.params, saved.is_shared) == (owner, {"amount_min": "500"}, True)
    assert AuditEntry.objects.filter(action="saved_filter.created").count() == 1
    other = client_for(make_user("operations"))
    change = other.post(
        reverse("admin:orders_savedfilter_change", args=[saved.pk]),
        {"name": "改", "params": "{}", "is_shared": ""},
    )
    assert change.status_code == 403
    saved.refresh_from_db()
    assert saved.name == "大单"


def test_saved_filter_admin_refuses_bad_params(world, make_user):
    client = client_for(make_user("operations"))
    response = client.post(
        reverse("admin:orders_savedfilter_add"), {"name": "坏", "params": '{"phone": "12"}', "is_shared": ""}
    )
    assert response.status_code == 200
    assert "请输入完整的 11 位手机号或后 4 位" in response.content.decode()
    assert not SavedFilter.objects.exists()


def test_reveal_personal_data_on_the_order_page_is_audited(world, make_user):
    # given customer service (core.reveal_pii, no core.view_pii)
    user = make_user("customer_service")
    client = client_for(user)
    first = world["orders"][0]
    url = reverse("admin:orders_order_reveal_personal_data", args=[first.pk])
    # when
    response = client.post(url, {"reason": "客户来电核实地址"})
    # then
    content = response.content.decode()
    assert response.status_code == 200
    assert "13800131234" in content
    assert "浙江省杭州市西湖区文三路100号" in content
    entry = AuditEntry.objects.get(action="pii.revealed")
    assert (entry.actor, entry.object_id, entry.reason) == (user, str(first.pk), "客户来电核实地址")


def test_reveal_is_refused_without_the_reveal_permission(world, make_user):
    client = client_for(make_user("warehouse"))
    response = client.post(
        reverse("admin:orders_order_reveal_personal_data", args=[world["orders"][0].pk]), {"reason": "x"}
    )
    assert response.status_code == 403
    assert not AuditEntry.objects.filter(action="pii.revealed").exists()


def dashboard_for(user) -> tuple[dict, dict]:
    response = client_for(user).get(reverse("admin:index"))
    assert response.status_code == 200
    kpis = {str(kpi.title): kpi.value for kpi in response.context["kpis"]}
    panels = {panel.key: panel for panel in response.context["panels"]}
    return kpis, panels


def test_dashboard_shows_yesterdays_orders_and_order_panels(world, make_user):
    # given two orders placed yesterday (one valid, paid yesterday) and one paid yesterday but placed before
    yesterday = timezone.localdate() - dt.timedelta(days=1)
    noon = dt.datetime.combine(yesterday, dt.time(12, 0), tzinfo=SHANGHAI)
    make_order(
        shop=world["shop"], external_id="Y1", placed_at=noon, paid_at=noon, paid_amount="88.00", is_valid=True
    )
    make_order(
        shop=world["shop"],
        external_id="Y2",
        placed_at=noon,
        status=OrderStatus.PENDING_PAYMENT,
        paid_amount="20.00",
    )
    make_order(
        shop=world["jd"],
        external_id="Y3",
        placed_at=noon - dt.timedelta(days=3),
        paid_at=noon + dt.timedelta(hours=11, minutes=59),
        paid_amount="12.50",
    )
    # and an unpaid order closing in 30 minutes, another in 2 hours
    now = timezone.now()
    make_order(
        shop=world["shop"],
        external_id="U1",
        status=OrderStatus.PENDING_PAYMENT,
        pay_deadline=now + dt.timedelta(minutes=30),
    )
    make_order(
        shop=world["shop"],
        external_id="U2",
        status=OrderStatus.PENDING_PAYMENT,
        pay_deadline=now + dt.timedelta(hours=2),
    )
    # when
    kpis, panels = dashboard_for(make_user("operations"))
    # then
    assert (kpis["昨日订单"], kpis["昨日支付金额"], kpis["昨日有效订单"]) == (2, "¥100.50", 1)
    assert panels["order_exceptions"].total == 1
    assert [row[2] for row in panels["order_exceptions"].rows] == ["地址不完整"]
    assert panels["unpaid_closing"].total == 1
    assert "U1" in str(panels["unpaid_closing"].rows[0][0])


def test_dashboard_order_figures_follow_shop_scope_and_permissions(world, make_user):
    yesterday = timezone.localdate() - dt.timedelta(days=1)
    noon = dt.datetime.combine(yesterday, dt.time(12, 0), tzinfo=SHANGHAI)
    make_order(shop=world["shop"], placed_at=noon)
    make_order(shop=world["jd"], placed_at=noon)
    kpis, panels = dashboard_for(make_user("operations", shops=[world["jd"]]))
    assert kpis["昨日订单"] == 1
    assert panels["order_exceptions"].total == 0
    designer_kpis, designer_panels = dashboard_for(make_user("designer"))
    assert "昨日订单" not in designer_kpis
    assert "order_exceptions" not in designer_panels


def test_save_current_filter_from_the_order_list(world, make_user):
    # given an operator looking at shipped orders placed from 2026-06-01 matching phone ending 5678
    user = make_user("operations")
    client = client_for(user)
    shop = world["shop"].pk
    query = (
        f"status__exact=shipped&shop__id__exact={shop}&placed_at_from=2026-06-01&placed_at_to=2026-06-30"
        "&is_valid__exact=0&q=5678"
    )
    listing = client.get(f"{CHANGELIST}?{query}").content.decode()
    save_url = reverse("admin:orders_order_save_current_filter")
    assert f"{save_url}?{query}" in listing.replace("&amp;", "&")
    # when saving it
    page = client.get(f"{save_url}?{query}")
    saved_response = client.post(f"{save_url}?{query}", {"name": "已发货尾号5678", "step": "apply"})
    # then the stored parameters are the search's, and the list opens with it
    assert page.status_code == 200
    saved = SavedFilter.objects.get(owner=user)
    assert (saved.name, saved.params, saved.is_shared) == (
        "已发货尾号5678",
        {
            "phone": "5678",
            "status": ["shipped"],
            "is_valid": False,
            "shop_id": shop,
            "placed_from": "2026-06-01",
            "placed_to": "2026-06-30",
        },
        False,
    )
    assert saved_response["Location"] == f"{CHANGELIST}?saved_filter={saved.pk}"
    assert listed(client.get(saved_response["Location"])) == ["A2"]


def test_save_current_filter_needs_the_add_permission(world, make_user):
    client = client_for(make_user("warehouse"))
    response = client.post(reverse("admin:orders_order_save_current_filter"), {"name": "x", "step": "apply"})
    assert response.status_code == 403
    assert not SavedFilter.objects.exists()
