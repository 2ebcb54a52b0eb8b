import datetime as dt

import pytest
from django.test import Client
from django.utils import timezone

from shopops.core import notifications
from shopops.core.models import Alert, AlertStatus, Notification

pytestmark = pytest.mark.django_db


def create_alert(
    *, key: str, kind: str = "inventory.low_stock", status: str = AlertStatus.OPEN, hours_ago: int = 0
):
    seen = timezone.now() - dt.timedelta(hours=hours_ago)
    return Alert.objects.create(
        kind=kind, dedup_key=key, title=f"预警 {key}", status=status, first_seen=seen, last_seen=seen
    )


def read_state():
    return list(Notification.objects.order_by("pk").values_list("pk", "read_at"))


# alerts


def test_alerts_are_listed_newest_first_and_filtered(make_user, api_client_for):
    # given two open alerts of two kinds and one resolved
    low = create_alert(key="low:1", hours_ago=2)
    over = create_alert(key="over:1", kind="inventory.overstock", hours_ago=1)
    resolved = create_alert(key="low:2", status=AlertStatus.RESOLVED, hours_ago=3)
    client = api_client_for(make_user("designer"))
    # when listing all, the open ones and the open low-stock ones
    everything = client.get("/api/v1/alerts").json()
    open_ones = client.get("/api/v1/alerts?status=open").json()
    low_stock = client.get("/api/v1/alerts?status=open&kind=inventory.low_stock").json()
    # then each answer holds exactly the matching alerts, most recently seen first
    assert [item["id"] for item in everything["items"]] == [over.pk, low.pk, resolved.pk]
    assert everything["count"] == 3
    assert [item["id"] for item in open_ones["items"]] == [over.pk, low.pk]
    assert [item["dedup_key"] for item in low_stock["items"]] == ["low:1"]
    assert low_stock["items"][0]["status"] == "open"


def test_alerts_need_authentication_and_permission(make_user, api_client_for):
    # given an alert, a user without any role
    create_alert(key="low:1")
    # when an anonymous client and the role-less user list alerts
    anonymous = Client().get("/api/v1/alerts")
    nobody = api_client_for(make_user()).get("/api/v1/alerts")
    # then 401 and 403 naming the permission
    assert anonymous.status_code == 401
    assert nobody.status_code == 403
    assert nobody.json()["fields"] == {"permission": "core.view_alert"}


def test_alert_with_an_unknown_status_is_422(make_user, api_client_for):
    # given a user who may see alerts
    client = api_client_for(make_user("warehouse"))
    # when filtering by a status that does not exist
    response = client.get("/api/v1/alerts?status=gone")
    # then refused
    assert response.status_code == 422


# notifications


def test_notifications_list_only_your_own(make_user, api_client_for):
    # given two notifications for one user (one read) and one for another user
    me, other = make_user("warehouse"), make_user("warehouse")
    first = notifications.notify_user(user_id=me.pk, title="低库存")
    second = notifications.notify_user(user_id=me.pk, title="超储")
    notifications.notify_user(user_id=other.pk, title="别人的")
    notifications.mark_notifications_read(user=me, notification_ids=[first.pk])
    client = api_client_for(me)
    # when listing all and only unread
    everything = client.get("/api/v1/notifications").json()
    unread = client.get("/api/v1/notifications?unread=true").json()
    # then only their own, newest first
    assert [item["id"] for item in everything["items"]] == [second.pk, first.pk]
    assert [item["id"] for item in unread["items"]] == [second.pk]
    assert everything["items"][1]["read_at"] is not None


def test_mark_notifications_read_marks_only_your_unread(make_user, api_client_for):
    # given two unread notifications for me and one for another user
    me, other = make_user("designer"), make_user("designer")
    mine = [notifications.notify_user(user_id=me.pk, title=f"通知{number}") for number in range(2)]
    theirs = notifications.notify_user(user_id=other.pk, title="别人的")
    client = api_client_for(me)
    # when marking one of mine, then all of mine
    one = client.post(
        "/api/v1/notifications/read", {"notification_ids": [mine[0].pk]}, content_type="application/json"
    )
    rest = client.post("/api/v1/notifications/read", {}, content_type="application/json")
    # then one and then the other one were marked; the other user's stays unread
    assert (one.json(), rest.json()) == ({"marked": 1}, {"marked": 1})
    assert Notification.objects.filter(user=me, read_at__isnull=True).count() == 0
    assert Notification.objects.get(pk=theirs.pk).read_at is None


def test_marking_another_users_notification_is_404_and_nothing_changes(make_user, api_client_for):
    # given my unread notification and another user's
    me, other = make_user("designer"), make_user("designer")
    mine = notifications.notify_user(user_id=me.pk, title="我的")
    theirs = notifications.notify_user(user_id=other.pk, title="别人的")
    before = read_state()
    # when I try to mark both
    response = api_client_for(me).post(
        "/api/v1/notifications/read",
        {"notification_ids": [mine.pk, theirs.pk]},
        content_type="application/json",
    )
    # then refused and nothing is read
    assert response.status_code == 404
    assert read_state() == before


def test_notifications_need_authentication():
    # given no notification and an anonymous client
    client = Client()
    # when listing and marking
    listed = client.get("/api/v1/notifications")
    marked = client.post("/api/v1/notifications/read", {}, content_type="application/json")
    # then both are 401
    assert (listed.status_code, marked.status_code) == (401, 401)
