import datetime as dt
import time
from email import message_from_bytes
from email.header import decode_header, make_header

import pytest
from conftest import Collector, free_port

from shopops.analytics.models import ReportKind, ReportSubscription
from shopops.analytics.reports import emails
from shopops.analytics.reports.tasks import shanghai_crontab
from shopops.analytics.tests.ui_data import build_warehouse, paid_totals


def received(collector: Collector, count: int) -> list[dict]:
    deadline = time.monotonic() + 5
    while len(collector.messages) < count and time.monotonic() < deadline:
        time.sleep(0.02)
    decoded = []
    for recipients, content in collector.messages:
        message = message_from_bytes(content)
        parts = {part.get_content_type(): part for part in message.walk() if not part.is_multipart()}
        decoded.append(
            {
                "to": recipients,
                "subject": str(make_header(decode_header(message["Subject"]))),
                "text": parts["text/plain"].get_payload(decode=True).decode("utf-8"),
                "html": parts["text/html"].get_payload(decode=True).decode("utf-8"),
            }
        )
    return sorted(decoded, key=lambda item: item["to"])


@pytest.fixture
def warehouse(db, settings, tmp_path):
    settings.ANALYTICS_DIR = tmp_path / "analytics"
    return build_warehouse(settings.ANALYTICS_DIR)


def subscribe(user, kind, shops=()):
    subscription = ReportSubscription.objects.create(user=user, kind=kind)
    subscription.shops.set(shops)
    return subscription


def test_daily_report_is_sent_once_per_day_with_the_numbers(make_user, warehouse, smtp_server):
    # given a daily subscriber and one limited to the own shop; a subscriber without the permission
    boss = make_user("admin", email="boss@example.com")
    operator = make_user("operations", email="ops@example.com", shops=[warehouse.own])
    keeper = make_user("warehouse", email="keeper@example.com")
    for user in (boss, operator, keeper):
        subscribe(user, ReportKind.DAILY)
    day = dt.date(2026, 10, 20)
    # when the daily run of 2026-10-21 happens twice
    first = emails.send_due_reports(kind="daily", on=dt.date(2026, 10, 21))
    second = emails.send_due_reports(kind="daily", on=dt.date(2026, 10, 21))
    # then two emails went out, once, to the permitted subscribers
    assert (first, second) == (2, 0)
    messages = received(smtp_server, 2)
    assert [message["to"] for message in messages] == [["boss@example.com"], ["ops@example.com"]]
    assert {message["subject"] for message in messages} == {"[shopops] 数据中心日报 2026-10-20"}
    # and each shows the paid amount of its shops (plain Python), in text and HTML
    everything, _ = paid_totals(warehouse.data, day, day)
    own, _ = paid_totals(warehouse.data, day, day, {warehouse.own.pk})
    assert f"支付金额：¥{everything:,.2f}" in messages[0]["text"]
    assert f"支付金额：¥{own:,.2f}" in messages[1]["text"]
    assert f"¥{everything:,.2f}" in messages[0]["html"]
    assert "较前一天" in messages[0]["html"]
    assert "较上周同日" in messages[0]["html"]
    assert "变化解读" in messages[0]["text"]
    assert "商品 Top 5" in messages[0]["text"]
    assert ReportSubscription.objects.filter(last_period_sent=day).count() == 2
    assert ReportSubscription.objects.get(user=keeper).last_period_sent is None


def test_weekly_report_covers_last_monday_to_sunday(make_user, warehouse, smtp_server):
    # given a weekly subscriber
    subscription = subscribe(make_user("finance", email="cfo@example.com"), ReportKind.WEEKLY)
    # when the Monday 2026-10-26 run happens (and again on Tuesday)
    assert emails.send_due_reports(kind="weekly", on=dt.date(2026, 10, 26)) == 1
    assert emails.send_due_reports(kind="weekly", on=dt.date(2026, 10, 27)) == 0
    # then it reported 2026-10-19 … 10-25 against the week before
    message = received(smtp_server, 1)[0]
    assert message["subject"] == "[shopops] 数据中心周报 2026-10-19 至 2026-10-25"
    amount, _ = paid_totals(warehouse.data, dt.date(2026, 10, 19), dt.date(2026, 10, 25))
    assert f"支付金额：¥{amount:,.2f}" in message["text"]
    assert "较上一周" in message["html"]
    subscription.refresh_from_db()
    assert subscription.last_period_sent == dt.date(2026, 10, 19)


def test_a_refused_delivery_is_retried_on_the_next_run(make_user, warehouse, settings):
    # given no mail server listening
    subscription = subscribe(make_user("admin", email="boss@example.com"), ReportKind.DAILY)
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", free_port()
    # when the run fails to deliver
    assert emails.send_due_reports(kind="daily", on=dt.date(2026, 10, 21)) == 0
    # then the period is not marked sent
    subscription.refresh_from_db()
    assert subscription.last_period_sent is None


def test_inactive_subscriptions_and_users_without_email_get_nothing(make_user, warehouse, smtp_server):
    subscribe(make_user("admin", email=""), ReportKind.DAILY)
    paused = subscribe(make_user("admin", email="paused@example.com"), ReportKind.DAILY)
    paused.is_active = False
    paused.save()
    assert emails.send_due_reports(kind="daily", on=dt.date(2026, 10, 21)) == 0
    assert smtp_server.messages == []


def test_schedules_run_at_shanghai_times():
    daily = shanghai_crontab(hour="8-23", minute="0")
    weekly = shanghai_crontab(day_of_week="1", hour="8-23", minute="30")
    # Huey hands a naive UTC time: 08:00 Shanghai is 00:00 UTC
    assert daily(dt.datetime(2026, 10, 21, 0, 0))
    assert not daily(dt.datetime(2026, 10, 20, 23, 0))  # 07:00 Shanghai
    assert weekly(dt.datetime(2026, 10, 26, 0, 30))  # Monday 08:30 Shanghai
    assert not weekly(dt.datetime(2026, 10, 25, 0, 30))  # Sunday


def test_due_periods():
    assert emails.due_period("daily", on=dt.date(2026, 11, 2)) == emails.Period(
        "daily", dt.date(2026, 11, 1), dt.date(2026, 11, 1)
    )
    weekly = emails.due_period("weekly", on=dt.date(2026, 11, 4))
    assert (weekly.start, weekly.end) == (dt.date(2026, 10, 26), dt.date(2026, 11, 1))
