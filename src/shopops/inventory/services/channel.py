"""Per-channel available-to-sell and channel stock rules."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db import transaction

from shopops.channels.models import Shop
from shopops.core import audit
from shopops.core.errors import InvalidInput, NotFound
from shopops.inventory.models import (
    ChannelStockRule,
    Warehouse,
    WarehouseKind,
)
from shopops.inventory.queries import sellable_quantity
from shopops.inventory.services.common import (
    _require_sku,
)


def _active_warehouse_ids() -> set[int]:
    """Active warehouses a channel may sell from: a defective-goods warehouse (残次品仓) never counts."""
    sellable = Warehouse.objects.filter(is_active=True).exclude(kind=WarehouseKind.DEFECTIVE)
    return set(sellable.values_list("pk", flat=True))


def _rule_warehouse_ids(rule: ChannelStockRule | None, active: set[int]) -> set[int]:
    """The active warehouses a shop sells from: the rule's choice, or every active one when none is chosen."""
    if rule is None:
        return set(active)
    chosen = {warehouse.pk for warehouse in rule.warehouses.all()}
    return chosen & active if chosen else set(active)


def channel_available(*, sku_id: int, shop_id: int) -> int:
    """Units of a SKU (or complete bundles) a shop may show as stock: the figure a marketplace sync pushes.

    The rule (`ChannelStockRule`): pool = Σ over the shop's warehouses of available units (on hand −
    reserved − safety stock, never below 0; a bundle counts complete bundles per warehouse); then
    result = min(pool − units other shops keep for themselves − buffer, ⌊pool × quota% / 100⌋), never
    below 0. "Other shops keep" sums `reserved_units` of every other active rule of an active shop whose
    warehouses overlap this shop's. A shop without an active rule sells from every active warehouse with
    no buffer and a 100 % quota (others' keep-backs still apply); an inactive shop sells nothing.
    """
    is_active = Shop.objects.filter(pk=shop_id).values_list("is_active", flat=True).first()
    if is_active is None:
        raise NotFound("店铺不存在", fields={"shop_id": "不存在"})
    _require_sku(sku_id)
    if not is_active:
        return 0
    rules = {
        rule.shop_id: rule
        for rule in ChannelStockRule.objects.filter(is_active=True, shop__is_active=True).prefetch_related(
            "warehouses"
        )
    }
    active = _active_warehouse_ids()
    own_rule = rules.get(shop_id)
    mine = _rule_warehouse_ids(own_rule, active)
    pool = sum(sellable_quantity(sku_id=sku_id, warehouse_id=warehouse_id) for warehouse_id in sorted(mine))
    kept_for_others = sum(
        rule.reserved_units
        for other_shop_id, rule in rules.items()
        if other_shop_id != shop_id and rule.reserved_units and _rule_warehouse_ids(rule, active) & mine
    )
    buffer_units = own_rule.buffer_units if own_rule else 0
    quota_percent = own_rule.quota_percent if own_rule else 100
    return max(min(pool - kept_for_others - buffer_units, pool * quota_percent // 100), 0)


def set_channel_stock_rule(
    *,
    shop_id: int,
    actor: Any,
    warehouse_ids: Iterable[int] = (),
    buffer_units: int = 0,
    quota_percent: int = 100,
    reserved_units: int = 0,
    is_active: bool = True,
) -> ChannelStockRule:
    """Create or replace a shop's channel stock rule (see `channel_available` for how it is applied)."""
    for field, value in (("buffer_units", buffer_units), ("reserved_units", reserved_units)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise InvalidInput("须为非负整数", fields={field: "须为非负整数"})
    if isinstance(quota_percent, bool) or not isinstance(quota_percent, int) or not 0 <= quota_percent <= 100:
        raise InvalidInput("占比须为 0–100 的整数", fields={"quota_percent": "须为 0–100"})
    wanted = sorted(set(warehouse_ids))
    with transaction.atomic():
        if not Shop.objects.filter(pk=shop_id).exists():
            raise NotFound("店铺不存在", fields={"shop_id": "不存在"})
        if Warehouse.objects.filter(pk__in=wanted).count() != len(wanted):
            raise InvalidInput("仓库不存在", fields={"warehouse_ids": "含不存在的仓库"})
        rule = ChannelStockRule.objects.select_for_update().filter(shop_id=shop_id).first()
        before = _rule_snapshot(rule)
        if rule is None:
            rule = ChannelStockRule(shop_id=shop_id)
        rule.buffer_units, rule.quota_percent = buffer_units, quota_percent
        rule.reserved_units, rule.is_active = reserved_units, is_active
        rule.save()
        rule.warehouses.set(wanted)
        audit.record(
            actor=actor,
            action="channel_stock_rule.changed",
            instance=rule,
            before=before,
            after=_rule_snapshot(rule),
        )
    return rule


def _rule_snapshot(rule: ChannelStockRule | None) -> dict[str, Any]:
    if rule is None:
        return {}
    data = audit.snapshot(rule)
    data.pop("updated_at", None)
    data["warehouse_ids"] = sorted(rule.warehouses.values_list("pk", flat=True))
    return data
