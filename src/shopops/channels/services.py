"""Shop actions: create and update a shop (audited)."""

from __future__ import annotations

import datetime as dt
import logging
import re
import zoneinfo
from dataclasses import dataclass, fields
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from shopops.channels.models import Platform, Shop
from shopops.core import audit
from shopops.core.errors import Conflict, InvalidInput
from shopops.core.scope import get_in_scope

EDITABLE_FIELDS = (
    "code",
    "name",
    "platform",
    "timezone",
    "is_active",
    "contact_name",
    "contact_phone",
    "return_address",
    "settings",
)
logger = logging.getLogger(__name__)
_CODE = re.compile(r"^[-a-zA-Z0-9_]+$")


def _clean(values: dict[str, Any]) -> dict[str, Any]:
    unknown = sorted(set(values) - set(EDITABLE_FIELDS))
    if unknown:
        raise InvalidInput(f"不可修改的字段：{', '.join(unknown)}", fields=dict.fromkeys(unknown, "不可修改"))
    cleaned = {key: value.strip() if isinstance(value, str) else value for key, value in values.items()}
    errors: dict[str, str] = {}
    if "code" in cleaned and not _CODE.match(cleaned["code"] or ""):
        errors["code"] = "只能包含字母、数字、- 和 _"
    if "name" in cleaned and not cleaned["name"]:
        errors["name"] = "必填"
    if "platform" in cleaned and cleaned["platform"] not in Platform.values:
        errors["platform"] = f"可选：{', '.join(Platform.values)}"
    if "timezone" in cleaned and cleaned["timezone"] not in zoneinfo.available_timezones():
        errors["timezone"] = "不是有效的时区，例如 Asia/Shanghai"
    if "settings" in cleaned:
        if not isinstance(cleaned["settings"], dict):
            errors["settings"] = "须为对象"
        else:
            errors.update(_settings_errors(cleaned["settings"]))
    if errors:
        raise InvalidInput("店铺信息无效", fields=errors)
    return cleaned


@dataclass(frozen=True)
class ShopSettings:
    """The order-handling settings of a shop (`Shop.settings`, keys below; other keys are kept as they are).

    `reserve_on`: reserve stock when an order is paid ("paid") or already when it is placed ("created").
    `unpaid_timeout_minutes` / `flash_sale_unpaid_timeout_minutes`: an unpaid order is closed after this
    (秒杀 orders sooner). `ship_within_hours`: the shipping promise (发货时效). `stock_effects_since`:
    orders placed before it are history and never touch stock (default: when the shop was created).
    """

    reserve_on: str = "paid"
    unpaid_timeout_minutes: int = 24 * 60
    flash_sale_unpaid_timeout_minutes: int = 15
    ship_within_hours: int = 48
    stock_effects_since: dt.datetime | None = None


RESERVE_ON_CHOICES = ("paid", "created")
_MINUTE_LIMITS = {
    "unpaid_timeout_minutes": (1, 60 * 24 * 30),
    "flash_sale_unpaid_timeout_minutes": (1, 60 * 24 * 30),
    "ship_within_hours": (1, 24 * 30),
}


def _parse_since(value: Any) -> dt.datetime | None:
    parsed = (
        value if isinstance(value, dt.datetime) else parse_datetime(value) if isinstance(value, str) else None
    )
    if parsed is None or timezone.is_naive(parsed):
        return None
    return parsed


def _settings_errors(raw: dict[str, Any]) -> dict[str, str]:
    errors: dict[str, str] = {}
    if "reserve_on" in raw and raw["reserve_on"] not in RESERVE_ON_CHOICES:
        errors["settings.reserve_on"] = f"可选：{', '.join(RESERVE_ON_CHOICES)}"
    for key, (low, high) in _MINUTE_LIMITS.items():
        if key not in raw:
            continue
        value = raw[key]
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            errors[f"settings.{key}"] = f"须为 {low}–{high} 之间的整数"
    since = raw.get("stock_effects_since")
    if since not in (None, "") and _parse_since(since) is None:
        errors["settings.stock_effects_since"] = "须为带时区的 ISO 时间，例如 2026-01-01T00:00:00+08:00"
    return errors


def shop_settings(shop: Shop) -> ShopSettings:
    """The shop's order settings with defaults filled in.

    Values are validated when a shop is saved through `create_shop` / `update_shop`; a stored value
    that is invalid anyway (written around the service) falls back to its default, logged, so that
    one bad key never stops the shop's orders from being taken.
    """
    raw = shop.settings if isinstance(shop.settings, dict) else {}
    errors = _settings_errors(raw)
    if errors:
        logger.warning("shop %s: invalid settings ignored: %s", shop.code, errors)
    bad = {key.removeprefix("settings.") for key in errors}
    known = {field.name for field in fields(ShopSettings)} - {"stock_effects_since"} - bad
    values: dict[str, Any] = {key: raw[key] for key in known if key in raw}
    since = None if "stock_effects_since" in bad else raw.get("stock_effects_since")
    values["stock_effects_since"] = _parse_since(since) if since else shop.created_at
    return ShopSettings(**values)


def _save(shop: Shop) -> None:
    try:
        with transaction.atomic():
            shop.save()
    except IntegrityError:
        raise Conflict(f"店铺编码 {shop.code} 已存在", fields={"code": "重复"}) from None


def create_shop(*, actor: Any, code: str, name: str, platform: str, **values: Any) -> Shop:
    """Create a shop; the code is unique."""
    cleaned = _clean({"code": code, "name": name, "platform": platform, **values})
    with transaction.atomic():
        if Shop.objects.filter(code=cleaned["code"]).exists():
            raise Conflict(f"店铺编码 {cleaned['code']} 已存在", fields={"code": "重复"})
        shop = Shop(**cleaned)
        _save(shop)
        audit.record(actor=actor, action="shop.created", instance=shop, before={})
    return shop


def update_shop(*, actor: Any, shop_id: int, changes: dict[str, Any]) -> Shop:
    """Change some fields of a shop the actor may see (others answer not found)."""
    cleaned = _clean(changes)
    with transaction.atomic():
        shop = get_in_scope(Shop.objects.select_for_update(), actor, what="店铺", pk=shop_id)
        if "code" in cleaned and Shop.objects.filter(code=cleaned["code"]).exclude(pk=shop.pk).exists():
            raise Conflict(f"店铺编码 {cleaned['code']} 已存在", fields={"code": "重复"})
        if "settings" in cleaned:  # a partial settings object: the keys not given keep their values
            cleaned["settings"] = {**(shop.settings or {}), **cleaned["settings"]}
        changed = {field: value for field, value in cleaned.items() if getattr(shop, field) != value}
        if not changed:
            return shop
        before = audit.snapshot(shop)
        for field, value in changed.items():
            setattr(shop, field, value)
        _save(shop)
        changes = audit.diff(before, audit.snapshot(shop))
        changes.pop("updated_at", None)
        audit.record(actor=actor, action="shop.updated", instance=shop, changes=changes)
    return shop
