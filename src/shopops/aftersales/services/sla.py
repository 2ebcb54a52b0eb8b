"""SLA timers: overdue cases and one self-resolving alert per shop that has any."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db.models import Count, Min
from django.utils import timezone

from shopops.accounts.roles import role_group_name
from shopops.aftersales.models import AfterSaleCase, CaseQuerySet
from shopops.channels.models import Shop
from shopops.core.models import AlertSeverity
from shopops.core.notifications import open_alert_keys, raise_alert, resolve_alert

OVERDUE_KIND = "aftersales.overdue"
OVERDUE_ROLES = ("customer_service", "warehouse")


def overdue_cases(now: dt.datetime | None = None) -> CaseQuerySet:
    """Open cases whose current step passed its deadline (`sla_due_at` < now), the most overdue first."""
    return AfterSaleCase.objects.overdue(now or timezone.now()).order_by("sla_due_at", "pk")


def overdue_alert_key(shop_id: int) -> str:
    return f"{OVERDUE_KIND}:{shop_id}"


@dataclass(frozen=True)
class OverdueCheck:
    """What one run of `check_overdue_cases` did."""

    raised: int
    resolved: int
    open: int


def check_overdue_cases(*, now: dt.datetime | None = None) -> OverdueCheck:
    """Raise one alert per shop with overdue cases (de-duplicated by `aftersales.overdue:<shop>`, so a
    repeat run only refreshes the count); resolve the alerts of shops with none left."""
    now = now or timezone.now()
    per_shop = {
        row["shop_id"]: row
        for row in overdue_cases(now)
        .order_by()
        .values("shop_id")
        .annotate(count=Count("pk"), oldest=Min("sla_due_at"))
    }
    shops = Shop.objects.in_bulk(list(per_shop))
    raised = 0
    for shop_id, row in sorted(per_shop.items()):
        shop = shops[shop_id]
        oldest = timezone.localtime(row["oldest"]).strftime("%Y-%m-%d %H:%M")
        result = raise_alert(
            kind=OVERDUE_KIND,
            key=overdue_alert_key(shop_id),
            title=f"售后超时：{shop.name}",
            message=f"{row['count']} 个售后单超过当前步骤的处理时限（最早到期 {oldest}）。",
            severity=AlertSeverity.WARNING,
            groups=[role_group_name(role) for role in OVERDUE_ROLES],
            instance=shop,
            link=f"/admin/aftersales/aftersalecase/?overdue=yes&shop__id__exact={shop_id}",
            now=now,
        )
        raised += int(result.is_new)
    wanted = {overdue_alert_key(shop_id) for shop_id in per_shop}
    resolved = 0
    for key in sorted(open_alert_keys(kinds=[OVERDUE_KIND]) - wanted):
        if resolve_alert(key=key, now=now) is not None:
            resolved += 1
    return OverdueCheck(raised=raised, resolved=resolved, open=len(wanted))
