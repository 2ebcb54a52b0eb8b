"""Shop actions: create and update a shop (audited)."""

from __future__ import annotations

import re
import zoneinfo
from typing import Any

from django.db import IntegrityError, transaction

from shopops.channels.models import Platform, Shop
from shopops.core import audit
from shopops.core.errors import Conflict, InvalidInput, NotFound

EDITABLE_FIELDS = (
    "code",
    "name",
    "platform",
    "timezone",
    "is_active",
    "contact_name",
    "contact_phone",
    "return_address",
)
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
    if errors:
        raise InvalidInput("店铺信息无效", fields=errors)
    return cleaned


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
        shop = Shop.objects.for_user(actor).select_for_update().filter(pk=shop_id).first()
        if shop is None:
            raise NotFound("店铺不存在或不在您的权限范围内")
        if "code" in cleaned and Shop.objects.filter(code=cleaned["code"]).exclude(pk=shop.pk).exists():
            raise Conflict(f"店铺编码 {cleaned['code']} 已存在", fields={"code": "重复"})
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
