"""Writes of the 数据中心 settings: collection sites and report subscriptions (transactional, audited).

The admin and the API call these; the API's shop scope rules live here too (a site of a shop outside
the actor's scope does not exist for them)."""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from typing import Any

from django.db import transaction

from shopops.analytics.models import CollectSite, IPMode, ReportKind, ReportSubscription
from shopops.channels.models import Shop
from shopops.channels.queries import shop_in_scope
from shopops.core import audit
from shopops.core.errors import Conflict, InvalidInput, NotFound, required_text
from shopops.core.scope import get_in_scope, require_all_in_scope

SITE_KEY_PREFIX = "site_"
SITE_FIELDS = ("name", "allowed_origins", "ip_mode", "honour_dnt", "require_consent", "is_active")


class SubscriptionExists(Conflict):
    code = "subscription_exists"


def new_site_key() -> str:
    """A public, unguessable site key (it routes events to a site; it is not a secret)."""
    return SITE_KEY_PREFIX + secrets.token_hex(16)


def _shop_in_scope(actor: Any, shop_id: int) -> Shop:
    return shop_in_scope(actor, shop_id, field="shop")


def _site_in_scope(actor: Any, site_id: int) -> CollectSite:
    return get_in_scope(CollectSite.objects.select_for_update(), actor, pk=site_id)


def _check_site_values(values: dict[str, Any]) -> dict[str, Any]:
    clean = dict(values)
    if "name" in clean:
        clean["name"] = required_text(clean["name"], field="name", label="名称", max_length=100)
    if "ip_mode" in clean and clean["ip_mode"] not in IPMode.values:
        raise InvalidInput("IP 存储方式无效", fields={"ip_mode": "可选：hash, truncate"})
    if "allowed_origins" in clean:
        lines = [line.strip() for line in str(clean["allowed_origins"] or "").splitlines() if line.strip()]
        bad = [line for line in lines if not line.startswith(("http://", "https://"))]
        if bad:
            raise InvalidInput(
                f"来源须以 http:// 或 https:// 开头：{bad[0]}", fields={"allowed_origins": "格式错误"}
            )
        clean["allowed_origins"] = "\n".join(lines)
    return clean


def create_collect_site(*, actor: Any, shop_id: int, name: str, **values: Any) -> CollectSite:
    """A new collection site of a shop in the actor's scope, with a generated key (collect_site.created)."""
    with transaction.atomic():
        shop = _shop_in_scope(actor, shop_id)
        clean = _check_site_values({"name": name, **values})
        unknown = set(clean) - set(SITE_FIELDS)
        if unknown:
            raise InvalidInput(f"未知字段：{', '.join(sorted(unknown))}")
        site = CollectSite.objects.create(shop=shop, key=new_site_key(), **clean)
        audit.record(actor=actor, action="collectsite.created", instance=site, before={})
    return site


def update_collect_site(*, actor: Any, site_id: int, changes: dict[str, Any]) -> CollectSite:
    """Change a site's settings (the key and the shop never change) (collectsite.updated)."""
    with transaction.atomic():
        site = _site_in_scope(actor, site_id)
        clean = _check_site_values({key: value for key, value in changes.items() if key in SITE_FIELDS})
        before = audit.snapshot(site)
        for name, value in clean.items():
            setattr(site, name, value)
        after = audit.snapshot(site)
        if audit.diff(before, after):
            site.save()
            audit.record(actor=actor, action="collectsite.updated", instance=site, before=before, after=after)
    return site


def delete_collect_site(*, actor: Any, site_id: int) -> None:
    """Remove a site: its key stops being accepted; events already collected stay (collectsite.deleted)."""
    with transaction.atomic():
        site = _site_in_scope(actor, site_id)
        audit.record(
            actor=actor, action="collectsite.deleted", instance=site, before=audit.snapshot(site), after={}
        )
        site.delete()


def _subscription(actor: Any, subscription_id: int) -> ReportSubscription:
    subscriptions = ReportSubscription.objects.select_for_update().filter(pk=subscription_id)
    if not actor.has_perm("analytics.change_reportsubscription"):
        subscriptions = subscriptions.filter(user=actor)
    subscription = subscriptions.first()
    if subscription is None:
        raise NotFound("报表订阅不存在")
    return subscription


def _shops(actor: Any, shop_ids: Iterable[int]) -> list[Shop]:
    wanted = sorted(set(shop_ids))
    require_all_in_scope(Shop, actor, wanted, what="店铺", field="shops")
    return list(Shop.objects.filter(pk__in=wanted).order_by("pk"))


def create_subscription(
    *, actor: Any, user_id: int, kind: str, shop_ids: Iterable[int] = (), is_active: bool = True
) -> ReportSubscription:
    """Subscribe a user to the daily or weekly report (one subscription per user and kind)."""
    from shopops.accounts.models import User

    if kind not in ReportKind.values:
        raise InvalidInput("报表类型无效", fields={"kind": "可选：daily, weekly"})
    with transaction.atomic():
        user = User.objects.filter(pk=user_id, is_active=True).first()
        if user is None:
            raise NotFound("用户不存在", fields={"user_id": "不存在"})
        if ReportSubscription.objects.filter(user=user, kind=kind).exists():
            raise SubscriptionExists("该用户已订阅此报表", fields={"kind": "已订阅"})
        shops = _shops(actor, shop_ids)
        subscription = ReportSubscription.objects.create(user=user, kind=kind, is_active=is_active)
        subscription.shops.set(shops)
        audit.record(
            actor=actor,
            action="reportsubscription.created",
            instance=subscription,
            changes={
                "user": user.pk,
                "kind": kind,
                "shops": [shop.pk for shop in shops],
                "is_active": is_active,
            },
        )
    return subscription


def update_subscription(*, actor: Any, subscription_id: int, changes: dict[str, Any]) -> ReportSubscription:
    """Change the shops or switch a subscription on or off (reportsubscription.updated)."""
    with transaction.atomic():
        subscription = _subscription(actor, subscription_id)
        recorded: dict[str, Any] = {}
        if "is_active" in changes and changes["is_active"] != subscription.is_active:
            recorded["is_active"] = [subscription.is_active, changes["is_active"]]
            subscription.is_active = changes["is_active"]
            subscription.save(update_fields=["is_active"])
        if "shop_ids" in changes and changes["shop_ids"] is not None:
            before = sorted(subscription.shops.values_list("pk", flat=True))
            shops = _shops(actor, changes["shop_ids"])
            after = [shop.pk for shop in shops]
            if before != after:
                subscription.shops.set(shops)
                recorded["shops"] = [before, after]
        if recorded:
            audit.record(
                actor=actor, action="reportsubscription.updated", instance=subscription, changes=recorded
            )
    return subscription


def delete_subscription(*, actor: Any, subscription_id: int) -> None:
    with transaction.atomic():
        subscription = _subscription(actor, subscription_id)
        audit.record(
            actor=actor,
            action="reportsubscription.deleted",
            instance=subscription,
            changes={"user": subscription.user_id, "kind": subscription.kind},
        )
        subscription.delete()
