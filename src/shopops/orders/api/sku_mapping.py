"""Orders API, 商品对应 (SKU mapping): the unmatched platform lines of the caller's shops, map one to a SKU,
map many by 商家编码 (equal, without or with a prefix) with a dry run that only counts."""

from typing import Any, Literal

from django.http import HttpRequest
from ninja import Field, Schema

from shopops.core.api import ERROR_RESPONSES, ObjectId, PlainText, acting_user, requires
from shopops.orders import queries, services
from shopops.orders.api.common import router

MAX_UNMATCHED = 500


class UnmatchedOut(Schema):
    """One platform line key no SKU matched, with what waits on it."""

    shop_id: int
    shop_name: str
    merchant_code: str = Field(description="平台商家编码 (outer id); empty when the line has none")
    title: str
    spec: str
    orders: int
    lines: int
    units: int


class MapIn(Schema):
    shop_id: ObjectId
    sku_id: ObjectId
    merchant_code: PlainText = Field("", max_length=64)
    title: PlainText = Field(
        "", max_length=200, description="Used (with spec) only when merchant_code is empty"
    )
    spec: PlainText = Field("", max_length=200)


class MappingOut(Schema):
    """What a mapping did: the keys mapped, the order lines that got their SKU, the orders re-reviewed."""

    mapped_codes: list[str]
    lines: int
    order_ids: list[int]


class BulkMapIn(Schema):
    shop_id: ObjectId
    mode: Literal["equal", "strip_prefix", "add_prefix"]
    prefix: PlainText = Field("", max_length=30)
    dry_run: bool = Field(False, description="Only list what would be mapped")


class CandidateOut(Schema):
    merchant_code: str
    sku_id: int
    sku_merchant_code: str
    product_name: str


class BulkMapOut(Schema):
    candidates: list[CandidateOut]
    lines: int
    order_ids: list[int]


@router.get("/orders/unmatched-skus", response={200: list[UnmatchedOut], **ERROR_RESPONSES})
@requires("orders.view_skumapping")
def list_unmatched(request: HttpRequest, shop_id: ObjectId | None = None, q: str = "") -> list[Any]:
    """Unmatched order lines of your shops grouped by 商家编码 (else title + spec), most units first (≤ 500)."""
    return queries.unmatched_sku_keys(acting_user(request), shop_id=shop_id, search=q[:100])[:MAX_UNMATCHED]


@router.post("/orders/sku-mappings", response={200: MappingOut, **ERROR_RESPONSES})
@requires("orders.review_order")
def map_sku(request: HttpRequest, payload: MapIn) -> dict[str, Any]:
    """Map a platform line (商家编码, else title + spec) of one shop to a SKU; the waiting orders get the SKU,
    reserve stock and are reviewed again; later imports of the shop use the mapping."""
    result = services.map_sku(
        actor=acting_user(request),
        shop_id=payload.shop_id,
        sku_id=payload.sku_id,
        merchant_code=payload.merchant_code,
        title=payload.title,
        spec=payload.spec,
        via="api",
    )
    return {
        "mapped_codes": [key[0] or key[1] for key in result.keys],
        "lines": result.lines,
        "order_ids": result.order_ids,
    }


@router.post("/orders/sku-mappings/bulk", response={200: BulkMapOut, **ERROR_RESPONSES})
@requires("orders.review_order")
def bulk_map(request: HttpRequest, payload: BulkMapIn) -> dict[str, Any]:
    """Map every unmatched 商家编码 of a shop whose SKU the mode finds; `dry_run` only lists them."""
    user = acting_user(request)
    if payload.dry_run:
        services.check_can_map(actor=user, shop_id=payload.shop_id)
        found = services.bulk_candidates(shop_id=payload.shop_id, mode=payload.mode, prefix=payload.prefix)
        lines, order_ids = 0, []
    else:
        result = services.bulk_map(
            actor=user, shop_id=payload.shop_id, mode=payload.mode, prefix=payload.prefix, via="api"
        )
        found, lines, order_ids = result.skus, result.lines, result.order_ids
    return {
        "candidates": [
            {
                "merchant_code": key[0],
                "sku_id": sku.pk,
                "sku_merchant_code": sku.merchant_code,
                "product_name": sku.product.name,
            }
            for key, sku in found.items()
        ],
        "lines": lines,
        "order_ids": order_ids,
    }
