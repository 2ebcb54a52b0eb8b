"""The daily and weekly report emails: KPI table with comparisons, the change explained, top products
and sources; HTML with a plain-text twin, one email per subscriber, at most once per period.

Daily: yesterday against the day before and the same day last week. Weekly: last week (Monday–Sunday)
against the week before. Each subscriber sees the shops of their subscription within their own scope
(empty: every shop they may see), and only with `analytics.view_datacenter`.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.mail import EmailMultiAlternatives, get_connection
from django.db import transaction
from django.db.models import Q
from django.template.loader import render_to_string
from django.utils import translation

from shopops.analytics.models import ReportKind, ReportSubscription
from shopops.analytics.reports import datacenter, params
from shopops.core.notifications import EMAIL_SUBJECT_PREFIX
from shopops.core.permissions import shop_ids_for

logger = logging.getLogger(__name__)

VIEW_PERMISSION = "analytics.view_datacenter"
TOP_ROWS = 5


@dataclass(frozen=True)
class Period:
    """The days a report covers: `key` is what `last_period_sent` records (the day, or the Monday)."""

    kind: str
    start: dt.date
    end: dt.date

    @property
    def key(self) -> dt.date:
        return self.start

    @property
    def title(self) -> str:
        if self.kind == ReportKind.DAILY:
            return f"日报 {self.start:%Y-%m-%d}"
        return f"周报 {self.start:%Y-%m-%d} 至 {self.end:%Y-%m-%d}"


def due_period(kind: str, *, on: dt.date | None = None) -> Period:
    """The period due on `on` (default today, Asia/Shanghai): yesterday, or last Monday–Sunday."""
    today = on or params.today()
    if kind == ReportKind.DAILY:
        day = today - dt.timedelta(days=1)
        return Period(kind, day, day)
    monday = today - dt.timedelta(days=today.weekday() + 7)
    return Period(kind, monday, monday + dt.timedelta(days=6))


def recipient_shop_ids(subscription: ReportSubscription) -> tuple[int, ...] | None:
    """The subscription's shops cut to the recipient's scope; None = every shop."""
    allowed = shop_ids_for(subscription.user)
    chosen = {shop.pk for shop in subscription.shops.all()}
    if chosen:
        shops = chosen if allowed is None else chosen & allowed
        return tuple(sorted(shops)) or (params.NO_SHOP,)
    if allowed is None:
        return None
    return tuple(sorted(allowed)) or (params.NO_SHOP,)


def build_report(period: Period, shop_ids: tuple[int, ...] | None) -> dict[str, Any]:
    """The email's content: KPIs with comparisons, the explanation, top products and sources."""
    report = params.ReportParams(start=period.start, end=period.end, shop_ids=shop_ids)
    overview = datacenter.overview_view(report)
    comparisons = (
        [("previous", "较前一天"), ("last_week", "较上周同日")]
        if period.kind == ReportKind.DAILY
        else [("previous", "较上一周")]
    )
    return {
        "period": period,
        "title": period.title,
        "comparisons": [label for _key, label in comparisons],
        "kpis": [
            {
                **kpi,
                "shown_changes": [
                    change
                    for change in kpi["changes"]
                    if change["key"] in {key for key, _label in comparisons}
                ],
            }
            for kpi in overview["kpis"]
        ],
        "explanation": overview.get("explanation"),
        "products": datacenter.top_table("products", report, TOP_ROWS),
        "sources": datacenter.top_table("sources", report, TOP_ROWS),
    }


def render_report(content: dict[str, Any], *, link: str = "") -> tuple[str, str, str]:
    """(subject, text, html) of a report."""
    context = {**content, "link": link}
    with translation.override(settings.LANGUAGE_CODE):
        text = render_to_string("analytics/email/report.txt", context)
        html = render_to_string("analytics/email/report.html", context)
    return f"数据中心{content['title']}", text, html


def send_report(*, subject: str, text: str, html: str, address: str) -> bool:
    """One report email (text with an HTML alternative); False when the server refused it."""
    message = EmailMultiAlternatives(
        subject=f"{EMAIL_SUBJECT_PREFIX}{subject}",
        body=text,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[address],
    )
    message.attach_alternative(html, "text/html")
    try:
        with get_connection() as connection:
            return bool(connection.send_messages([message]))
    except OSError:
        logger.exception("analytics report could not be sent to subscription recipient")
        return False


def _claim(subscription: ReportSubscription, period: Period) -> bool:
    """Mark the period sent before sending, only if no other run did: two workers never both send."""
    not_sent = Q(last_period_sent__isnull=True) | Q(last_period_sent__lt=period.key)
    claimed = ReportSubscription.objects.filter(not_sent, pk=subscription.pk, is_active=True).update(
        last_period_sent=period.key
    )
    return claimed == 1


def _release(subscription: ReportSubscription, period: Period, previous: dt.date | None) -> None:
    ReportSubscription.objects.filter(pk=subscription.pk, last_period_sent=period.key).update(
        last_period_sent=previous
    )


def send_due_reports(*, kind: str, on: dt.date | None = None, link: str = "") -> int:
    """Send the report of the due period to every active subscription of `kind` not yet sent it.
    Idempotent: a second run in the same period sends nothing. Returns the number of emails sent."""
    period = due_period(kind, on=on)
    due = (
        ReportSubscription.objects.filter(kind=kind, is_active=True, user__is_active=True)
        .filter(Q(last_period_sent__isnull=True) | Q(last_period_sent__lt=period.key))
        .exclude(user__email="")
        .select_related("user")
        .prefetch_related("shops")
        .order_by("pk")
    )
    sent = 0
    for subscription in due:
        if not subscription.user.has_perm(VIEW_PERMISSION):
            continue
        previous = subscription.last_period_sent
        with transaction.atomic():
            if not _claim(subscription, period):
                continue
        try:
            content = build_report(period, recipient_shop_ids(subscription))
            subject, text, html = render_report(content, link=link)
            delivered = send_report(subject=subject, text=text, html=html, address=subscription.user.email)
        except Exception:
            _release(subscription, period, previous)
            raise
        if delivered:
            sent += 1
        else:
            _release(subscription, period, previous)  # tried again on the next run
    return sent
