"""Shipping-promise alerts: one per shop while it has paid orders past their shipping deadline."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass

from django.utils import timezone

from shopops.accounts.roles import role_group_name
from shopops.channels.models import Shop
from shopops.core.models import AlertSeverity
from shopops.core.notifications import open_alert_keys, raise_alert, resolve_alert
from shopops.fulfillment import queries

SHIP_OVERDUE_KIND = "fulfillment.ship_overdue"
ALERT_ROLES = ("warehouse", "operations")
CRITICAL_OVERDUE_HOURS = 24


@dataclass(frozen=True)
class OverdueCheck:
    """What one run of `check_ship_overdue` did."""

    raised: int
    resolved: int
    open: int


def _key(shop_id: int) -> str:
    return f"{SHIP_OVERDUE_KIND}:{shop_id}"


def check_ship_overdue(*, now: dt.datetime | None = None) -> OverdueCheck:
    """Raise one alert per shop with orders past their shipping deadline (de-duplicated by shop, so
    running it every few minutes notifies once); resolve the alerts of shops back within the promise."""
    now = now or timezone.now()
    overdue: dict[int, list[queries.AtRiskOrder]] = defaultdict(list)
    for row in queries.orders_at_risk(now=now, within_hours=0):
        if row.is_overdue:
            overdue[row.shop_id].append(row)
    shops = Shop.objects.in_bulk(list(overdue))
    raised = 0
    for shop_id, rows in sorted(overdue.items()):
        worst = max(-row.hours_left for row in rows)
        result = raise_alert(
            kind=SHIP_OVERDUE_KIND,
            key=_key(shop_id),
            title=f"发货超时：{shops[shop_id].name} {len(rows)} 单",
            message=(
                f"{len(rows)} 个已付款订单超过发货时效（{queries.ship_within_hours(shops[shop_id])} 小时）未发货，"
                f"最久超时 {worst} 小时；最早的订单：{rows[0].external_id}。"
            ),
            severity=AlertSeverity.CRITICAL if worst >= CRITICAL_OVERDUE_HOURS else AlertSeverity.WARNING,
            groups=[role_group_name(role) for role in ALERT_ROLES],
            instance=shops[shop_id],
            link="/admin/fulfillment/shipment/at-risk/",
            now=now,
        )
        raised += int(result.is_new)
    resolved = 0
    for key in sorted(open_alert_keys(kinds=[SHIP_OVERDUE_KIND]) - {_key(shop_id) for shop_id in overdue}):
        if resolve_alert(key=key, now=now) is not None:
            resolved += 1
    return OverdueCheck(raised=raised, resolved=resolved, open=len(overdue))
