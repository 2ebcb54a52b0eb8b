"""The key a platform order line is mapped to a SKU under (商品对应), and the shop's mapped SKUs.

Kept apart from `sku_mapping` (the write) so order creation and the imports can read mappings without
importing the review and stock services.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.db.models import Q

from shopops.orders.models import SkuMapping

MappingKey = tuple[str, str, str]


def mapping_key(merchant_code: str, title: str = "", spec: str = "") -> MappingKey:
    """(code, "", "") for a line with a 商家编码, else ("", title, spec): what a mapping is stored under."""
    code = (merchant_code or "").strip()
    if code:
        return (code, "", "")
    return ("", (title or "").strip()[:200], (spec or "").strip()[:200])


def key_condition(keys: Iterable[MappingKey], prefix: str = "") -> Q:
    """Rows (lines or mappings, fields under `prefix`) with one of these keys."""
    condition = Q(pk__in=[])
    codes = sorted({code for code, _title, _spec in keys if code})
    if codes:
        condition |= Q(**{f"{prefix}merchant_code__in": codes})
    for code, title, spec in keys:
        if not code:
            condition |= Q(**{f"{prefix}merchant_code": "", f"{prefix}title": title, f"{prefix}spec": spec})
    return condition


def mapped_sku_ids(shop_id: int, keys: Iterable[MappingKey]) -> dict[MappingKey, int]:
    """The SKU the shop's mappings give each key (keys without a mapping are left out)."""
    wanted = {key for key in keys if any(key)}
    if not wanted:
        return {}
    rows = SkuMapping.objects.filter(key_condition(wanted), shop_id=shop_id).values_list(
        "merchant_code", "title", "spec", "sku_id"
    )
    return {
        (code, title, spec): sku_id for code, title, spec, sku_id in rows if (code, title, spec) in wanted
    }
