"""Products (SPU)."""

from __future__ import annotations

from typing import Any

from django.db import transaction

from shopops.catalog.models import (
    Brand,
    Product,
    ProductImage,
    ProductStatus,
)
from shopops.catalog.services.categories import (
    _get_category,
    generate_merchant_code,
)
from shopops.catalog.services.common import (
    DuplicateMerchantCode,
    _save_unique,
)
from shopops.core import audit
from shopops.core.errors import InvalidInput, NotFound, required_text


def _get_brand(brand_id: int | None) -> Brand | None:
    if brand_id is None:
        return None
    brand = Brand.objects.filter(pk=brand_id).first()
    if brand is None:
        raise InvalidInput("品牌不存在", fields={"brand_id": "不存在"})
    if not brand.is_active:
        raise InvalidInput(f"品牌“{brand.name}”已停用", fields={"brand_id": "已停用"})
    return brand


def _product_status(status: str) -> str:
    if status not in ProductStatus.values:
        raise InvalidInput(f"未知商品状态：{status}", fields={"status": "无效"})
    return status


def _product_code(merchant_code: str, *, exclude_id: int | None = None) -> str:
    code = required_text(merchant_code, field="merchant_code", label="商家编码", max_length=64)
    others = Product.objects.exclude(pk=exclude_id) if exclude_id else Product.objects.all()
    if others.filter(merchant_code=code).exists():
        raise DuplicateMerchantCode(f"商家编码“{code}”已存在", fields={"merchant_code": "重复"})
    return code


def create_product(
    *,
    name: str,
    category_id: int,
    actor: Any,
    brand_id: int | None = None,
    merchant_code: str | None = None,
    description: str = "",
    status: str = "active",
) -> Product:
    name = required_text(name, field="name", label="商品名称", max_length=200)
    status = _product_status(status)
    with transaction.atomic():
        category = _get_category(category_id, field="category_id")
        brand = _get_brand(brand_id)
        if merchant_code is None or not merchant_code.strip():
            code = generate_merchant_code(category=category, brand=brand)
        else:
            code = _product_code(merchant_code)
        product = Product(
            name=name,
            merchant_code=code,
            category=category,
            brand=brand,
            description=description or "",
            status=status,
        )
        _save_unique(
            product, DuplicateMerchantCode(f"商家编码“{code}”已存在", fields={"merchant_code": "重复"})
        )
        audit.record(actor=actor, action="product.created", instance=product, before={})
    return product


PRODUCT_FIELDS = ("name", "category_id", "brand_id", "description", "status", "merchant_code")


def _apply_product_change(product: Product, name: str, value: Any) -> None:
    if name == "name":
        product.name = required_text(value, field="name", label="商品名称", max_length=200)
    elif name == "category_id":
        product.category = _get_category(value, field="category_id")
    elif name == "brand_id":
        product.brand = _get_brand(value) if value != product.brand_id else product.brand
    elif name == "description":
        product.description = value or ""
    elif name == "status":
        product.status = _product_status(value)
    elif name == "merchant_code":
        product.merchant_code = _product_code(value, exclude_id=product.pk)


def update_product(*, product_id: int, actor: Any, **changes: Any) -> Product:
    """Change any of name, category_id, brand_id (None clears it), description, status, merchant_code."""
    unknown = sorted(set(changes) - set(PRODUCT_FIELDS))
    if unknown:
        raise InvalidInput(f"不能修改字段：{'、'.join(unknown)}", fields=dict.fromkeys(unknown, "不可修改"))
    with transaction.atomic():
        product = Product.objects.select_for_update().filter(pk=product_id).first()
        if product is None:
            raise NotFound("商品不存在", fields={"product_id": "不存在"})
        before = audit.snapshot(product)
        for name, value in changes.items():
            _apply_product_change(product, name, value)
        after = audit.snapshot(product)
        if audit.diff(before, after):
            conflict = DuplicateMerchantCode("商家编码已存在", fields={"merchant_code": "重复"})
            _save_unique(product, conflict)
            audit.record(actor=actor, action="product.updated", instance=product, before=before, after=after)
    return product


def save_product_images(
    *,
    actor: Any,
    product_id: int,
    added: list[ProductImage],
    changed: list[tuple[ProductImage, list[str]]],
    deleted: list[ProductImage],
) -> None:
    """The product's pictures as edited on its page, in one transaction: removed ones deleted, new ones
    attached to the product, changed ones saved; each step audited (product_image.deleted/created/updated)."""
    with transaction.atomic():
        for image in deleted:
            if image.pk is None or image.product_id != product_id:
                continue
            before = audit.snapshot(image)
            audit.record(actor=actor, action="product_image.deleted", instance=image, before=before, after={})
            image.delete()
        for image in added:
            image.product_id = product_id
            image.save()
            audit.record(actor=actor, action="product_image.created", instance=image, before={})
        for image, fields in changed:
            if image.product_id != product_id:
                raise InvalidInput("图片不属于该商品", fields={"images": "不属于该商品"})
            image.save()
            audit.record(
                actor=actor, action="product_image.updated", instance=image, changes={"fields": fields}
            )
