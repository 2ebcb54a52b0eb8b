"""SKUs: create and update (prices through the pricing module)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.db import transaction

from shopops.catalog.models import (
    PriceField,
    PriceHistory,
    Product,
    ProductStatus,
    Sku,
)
from shopops.catalog.services.common import (
    DuplicateBarcode,
    DuplicateMerchantCode,
    _locked_sku,
    _optional_price,
    _price,
    _save_unique,
)
from shopops.catalog.services.pricing import (
    PolicyResolver,
    _apply_prices,
    _price_for_field,
    _raise_for_issues,
    price_issues,
)
from shopops.core import audit
from shopops.core.audit import user_or_none
from shopops.core.errors import Conflict, InvalidInput, NotFound, required_text


def spec_from_attributes(attributes: dict[str, Any]) -> str:
    """{"颜色": "黑色", "尺码": "M"} → "颜色:黑色;尺码:M"."""
    return ";".join(f"{name}:{value}" for name, value in attributes.items())


def _clean_attributes(attributes: Any) -> dict[str, str]:
    if attributes is None:
        return {}
    if not isinstance(attributes, dict):
        raise InvalidInput("规格属性须为 名称→值 的字典", fields={"attributes": "格式无效"})
    return {str(name).strip(): str(value).strip() for name, value in attributes.items()}


def _clean_barcode(barcode: str | None, *, exclude_id: int | None = None) -> str | None:
    text = (barcode or "").strip()
    if not text:
        return None
    others = Sku.objects.exclude(pk=exclude_id) if exclude_id else Sku.objects.all()
    if others.filter(barcode=text).exists():
        raise DuplicateBarcode(f"条码“{text}”已被其他 SKU 使用", fields={"barcode": "重复"})
    return text


def _sku_code(merchant_code: str, *, exclude_id: int | None = None) -> str:
    code = required_text(merchant_code, field="merchant_code", label="商家编码", max_length=64)
    others = Sku.objects.exclude(pk=exclude_id) if exclude_id else Sku.objects.all()
    if others.filter(merchant_code=code).exists():
        raise DuplicateMerchantCode(f"商家编码“{code}”已存在", fields={"merchant_code": "重复"})
    return code


def _next_sku_code(product: Product) -> str:
    number = product.skus.count() + 1
    while Sku.objects.filter(merchant_code=f"{product.merchant_code}-{number:02d}").exists():
        number += 1
    return f"{product.merchant_code}-{number:02d}"


def _weight(value: Any) -> int | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InvalidInput("重量须为不小于 0 的整数（克）", fields={"weight_grams": "须为非负整数"})
    return value


def create_sku(
    *,
    product_id: int,
    actor: Any,
    sale_price: Decimal | str | int,
    cost_price: Decimal | str | int,
    merchant_code: str | None = None,
    barcode: str | None = None,
    attributes: dict[str, Any] | None = None,
    spec: str | None = None,
    weight_grams: int | None = None,
    list_price: Decimal | str | int | None = None,
    min_price: Decimal | str | int | None = None,
    acknowledge_warnings: bool = False,
    reason: str = "",
    source: str = "manual",
) -> Sku:
    """Add a SKU; its initial prices are written to the price history with no old value."""
    attributes = _clean_attributes(attributes)
    prices = {
        "sale_price": _price(sale_price, field="sale_price"),
        "cost_price": _price(cost_price, field="cost_price"),
        "list_price": _optional_price(list_price, field="list_price"),
    }
    with transaction.atomic():
        product = Product.objects.select_for_update().filter(pk=product_id).first()
        if product is None:
            raise NotFound("商品不存在", fields={"product_id": "不存在"})
        if product.status == ProductStatus.ARCHIVED:
            raise InvalidInput(
                "商品已归档，不能新增 SKU", fields={"product_id": "已归档"}, code="product_archived"
            )
        code = (
            _sku_code(merchant_code) if merchant_code and merchant_code.strip() else _next_sku_code(product)
        )
        sku = Sku(
            product=product,
            merchant_code=code,
            barcode=_clean_barcode(barcode),
            attributes=attributes,
            spec=(spec.strip() if spec is not None else spec_from_attributes(attributes))[:200],
            weight_grams=_weight(weight_grams),
            min_price=_optional_price(min_price, field="min_price"),
            **prices,
        )
        issues = price_issues(PolicyResolver(), sku, {"sale_price": sku.sale_price})
        _raise_for_issues(issues, acknowledge_warnings=acknowledge_warnings)
        _save_unique(sku, Conflict("商家编码或条码重复", code="duplicate_merchant_code"))
        user = user_or_none(actor)
        PriceHistory.objects.bulk_create(
            PriceHistory(
                sku=sku, field=name, old_value=None, new_value=value, reason=reason, source=source, actor=user
            )
            for name, value in prices.items()
            if value is not None
        )
        audit.record(actor=actor, action="sku.created", instance=sku, before={}, reason=reason)
    return sku


SKU_PRICE_FIELDS = tuple(PriceField.values)
SKU_FIELDS = ("merchant_code", "barcode", "attributes", "spec", "weight_grams", "min_price", "is_active")


def _apply_sku_change(sku: Sku, name: str, value: Any) -> None:
    if name == "merchant_code":
        sku.merchant_code = _sku_code(value, exclude_id=sku.pk)
    elif name == "barcode":
        sku.barcode = _clean_barcode(value, exclude_id=sku.pk)
    elif name == "attributes":
        sku.attributes = _clean_attributes(value)
    elif name == "spec":
        sku.spec = (value or "").strip()[:200]
    elif name == "weight_grams":
        sku.weight_grams = _weight(value)
    elif name == "min_price":
        sku.min_price = _optional_price(value, field="min_price")
    elif name == "is_active":
        sku.is_active = bool(value)


def update_sku(
    *,
    sku_id: int,
    actor: Any,
    reason: str = "",
    acknowledge_warnings: bool = False,
    source: str = "manual",
    **changes: Any,
) -> Sku:
    """Change a SKU. Price fields (sale_price, cost_price, list_price) take the change_price path:
    guard, history, `sku.price_changed`; the rest is audited as `sku.updated`."""
    unknown = sorted(set(changes) - set(SKU_FIELDS) - set(SKU_PRICE_FIELDS))
    if unknown:
        raise InvalidInput(f"不能修改字段：{'、'.join(unknown)}", fields=dict.fromkeys(unknown, "不可修改"))
    prices = {name: _price_for_field(changes.pop(name), name) for name in SKU_PRICE_FIELDS if name in changes}
    with transaction.atomic():
        sku = _locked_sku(sku_id)
        before = audit.snapshot(sku)
        for name, value in changes.items():
            _apply_sku_change(sku, name, value)
        if "attributes" in changes and "spec" not in changes:
            sku.spec = spec_from_attributes(sku.attributes)[:200]
        after = audit.snapshot(sku)
        if audit.diff(before, after):
            _save_unique(sku, Conflict("商家编码或条码重复", code="duplicate_merchant_code"))
            audit.record(
                actor=actor, action="sku.updated", instance=sku, before=before, after=after, reason=reason
            )
        _apply_prices(
            sku, prices, actor=actor, reason=reason, source=source, acknowledge_warnings=acknowledge_warnings
        )
    return sku
