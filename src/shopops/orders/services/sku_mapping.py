"""商品对应 (SKU mapping): an operator chooses the SKU for a platform line no code matched, once per shop.

A line's key is its 商家编码 (outer id) when it has one, else its title and spec (`mapping_key`). Order
creation and the platform imports look a shop's mappings up after the global 商家编码 match
(`mapped_sku_ids`), so later imports land matched. Mapping a key also fixes the orders already waiting:
their unmatched lines of that key get the SKU, each open order's stock effects are brought in line
(reserve through `apply_stock`) and the review runs again, which resolves `sku_unmatched` ("系统：").

The mappings live in `orders` (not `catalog`): they are keyed by what an order line carries and are read
by order creation and the order imports; catalog knows nothing of order lines.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.db import transaction

from shopops.catalog.models import Sku
from shopops.channels.models import Shop
from shopops.core import audit
from shopops.core.errors import InvalidInput, NotFound
from shopops.core.permissions import check_permission, shop_ids_for
from shopops.orders.models import FINAL_STATUSES, OrderEventKind, OrderLine, SkuMapping, StockState
from shopops.orders.services.common import add_order_event, lock_orders
from shopops.orders.services.review import review_orders
from shopops.orders.services.sku_keys import MappingKey, key_condition, mapping_key
from shopops.orders.services.stock import apply_stock

MAP_PERMISSION = "orders.review_order"


@dataclass
class MappingResult:
    """What one (bulk) mapping did: the keys mapped, the lines and orders it fixed."""

    keys: list[MappingKey] = field(default_factory=list)
    lines: int = 0
    order_ids: list[int] = field(default_factory=list)
    skus: dict[MappingKey, Sku] = field(default_factory=dict)


def _shop_in_scope(actor: Any, shop_id: int) -> Shop:
    allowed = shop_ids_for(actor)
    shop = Shop.objects.filter(pk=shop_id).first()
    if shop is None or (allowed is not None and shop.pk not in allowed):
        raise NotFound("店铺不存在", fields={"shop_id": "不存在"}, code="shop_not_found")
    return shop


def check_can_map(*, actor: Any, shop_id: int) -> None:
    """Refuse (403 / 404) unless the actor may map SKUs in this shop: what a dry run of a mapping checks."""
    check_permission(actor, MAP_PERMISSION)
    _shop_in_scope(actor, shop_id)


def _sku(sku_id: Any) -> Sku:
    sku = Sku.objects.filter(pk=sku_id).select_related("product").first() if str(sku_id).isdigit() else None
    if sku is None:
        raise NotFound("SKU 不存在", fields={"sku_id": "不存在"}, code="sku_not_found")
    if not sku.is_active:
        raise InvalidInput("该 SKU 已停用，不能用于对应", fields={"sku_id": "已停用"})
    return sku


def _fix_orders(shop: Shop, mapped: dict[MappingKey, int], *, actor: Any, via: str) -> MappingResult:
    """Give the waiting lines of these keys their SKUs, then stock and review of their orders."""
    result = MappingResult(keys=sorted(mapped))
    lines = OrderLine.objects.filter(key_condition(mapped), order__shop=shop, sku__isnull=True)
    order_ids = sorted(set(lines.values_list("order_id", flat=True)))
    for order in lock_orders(order_ids):  # orders → lines → stock, in id order
        fixed = 0
        for line in OrderLine.objects.filter(order=order, sku__isnull=True).order_by("pk"):
            sku_id = mapped.get(mapping_key(line.merchant_code, line.title, line.spec))
            if sku_id is None:
                continue
            line.sku_id = sku_id
            line.save(update_fields=["sku"])
            fixed += 1
        if not fixed:
            continue
        result.lines += fixed
        result.order_ids.append(order.pk)
        add_order_event(
            order=order,
            kind=OrderEventKind.ISSUE,
            actor=actor,
            via=via,
            message=f"商品对应：{fixed} 行商品已对应到 SKU",
        )
        if order.status not in FINAL_STATUSES and order.stock_state != StockState.UNTRACKED:
            apply_stock(order, actor=actor, via=via)
    if result.order_ids:
        review_orders(order_ids=result.order_ids, actor=actor)
    return result


def _save_mapping(shop: Shop, key: MappingKey, sku: Sku, actor: Any) -> SkuMapping:
    code, title, spec = key
    mapping, created = SkuMapping.objects.select_for_update().get_or_create(
        shop=shop,
        merchant_code=code,
        title=title,
        spec=spec,
        defaults={"sku": sku, "created_by": audit.user_or_none(actor)},
    )
    if not created and mapping.sku_id != sku.pk:
        before = mapping.sku_id
        mapping.sku = sku
        mapping.created_by = audit.user_or_none(actor)
        mapping.save(update_fields=["sku", "created_by", "updated_at"])
        audit.record(
            actor=actor,
            action="sku_mapping.changed",
            instance=mapping,
            changes={"sku": [before, sku.pk]},
            shop_id=shop.pk,
        )
    elif created:
        audit.record(
            actor=actor,
            action="sku_mapping.created",
            instance=mapping,
            changes={"merchant_code": code, "title": title, "spec": spec, "sku": sku.merchant_code},
            shop_id=shop.pk,
        )
    return mapping


def map_sku(
    *,
    actor: Any,
    shop_id: int,
    sku_id: int,
    merchant_code: str = "",
    title: str = "",
    spec: str = "",
    via: str = "admin",
) -> MappingResult:
    """Remember `sku_id` for this platform line key in the shop and fix the orders waiting on it.
    Idempotent: mapping the same key to the same SKU again changes nothing."""
    check_permission(actor, MAP_PERMISSION)
    shop = _shop_in_scope(actor, shop_id)
    key = mapping_key(merchant_code, title, spec)
    if not any(key):
        raise InvalidInput("请提供商家编码或商品标题", fields={"merchant_code": "必填"})
    sku = _sku(sku_id)
    with transaction.atomic():
        _save_mapping(shop, key, sku, actor)
        return _fix_orders(shop, {key: sku.pk}, actor=actor, via=via)


BULK_MODES = ("equal", "strip_prefix", "add_prefix")


def bulk_candidates(*, shop_id: int, mode: str, prefix: str = "") -> dict[MappingKey, Sku]:
    """The unmatched coded keys of a shop and the SKU each would get: `equal` (a SKU with the same
    商家编码, created after the import), `strip_prefix` (the code without `prefix`), `add_prefix`."""
    if mode not in BULK_MODES:
        raise InvalidInput("未知的批量对应方式", fields={"mode": "无效"})
    prefix = (prefix or "").strip()
    if mode != "equal" and not prefix:
        raise InvalidInput("请填写前缀", fields={"prefix": "必填"})
    codes = set(
        OrderLine.objects.filter(order__shop_id=shop_id, sku__isnull=True)
        .exclude(merchant_code="")
        .values_list("merchant_code", flat=True)
        .distinct()
    )
    wanted: dict[str, str] = {}
    for raw in codes:
        code = raw.strip()
        if not code:
            continue
        if mode == "equal":
            wanted[code] = code
        elif mode == "strip_prefix" and code.startswith(prefix) and len(code) > len(prefix):
            wanted[code] = code[len(prefix) :]
        elif mode == "add_prefix":
            wanted[code] = prefix + code
    skus = {
        sku.merchant_code: sku
        for sku in Sku.objects.filter(merchant_code__in=set(wanted.values()), is_active=True).select_related(
            "product"
        )
    }
    return {(code, "", ""): skus[target] for code, target in sorted(wanted.items()) if target in skus}


def bulk_map(*, actor: Any, shop_id: int, mode: str, prefix: str = "", via: str = "admin") -> MappingResult:
    """Map every unmatched 商家编码 of the shop that `bulk_candidates` finds a SKU for, in one go."""
    check_permission(actor, MAP_PERMISSION)
    shop = _shop_in_scope(actor, shop_id)
    with transaction.atomic():
        found = bulk_candidates(shop_id=shop.pk, mode=mode, prefix=prefix)
        for key, sku in found.items():
            _save_mapping(shop, key, sku, actor)
        result = _fix_orders(shop, {key: sku.pk for key, sku in found.items()}, actor=actor, via=via)
        result.skus = found
        return result
