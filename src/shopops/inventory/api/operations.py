"""Inventory API (operations): stocktakes, transfers, stock thresholds and channel stock rules."""

from typing import Any, Literal

from django.db.models import Prefetch, Q, QuerySet
from django.http import HttpRequest
from ninja import Field, Query, Schema, Status
from ninja.pagination import paginate

from shopops.channels import queries as channel_queries
from shopops.channels.models import Shop
from shopops.core.api import (
    ERROR_RESPONSES,
    DateTimeOut,
    MoneyOut,
    ObjectId,
    Pagination,
    PlainText,
    acting_user,
    requires,
)
from shopops.core.errors import Conflict, InvalidInput
from shopops.core.scope import get_in_scope, out_of_scope
from shopops.inventory import services as inventory_services
from shopops.inventory.api.stock import MAX_QUANTITY, _warehouse_in_scope, router
from shopops.inventory.models import (
    ChannelStockRule,
    Stocktake,
    StocktakeLine,
    StocktakeScope,
    StocktakeStatus,
    StockThreshold,
    Transfer,
    TransferLine,
    TransferStatus,
    warehouse_ids_for,
)

MAX_LINES = 1000


def _scoped_warehouse_ids(request: HttpRequest) -> set[int] | None:
    return warehouse_ids_for(acting_user(request))


# stocktakes


class StocktakeOut(Schema):
    id: int
    warehouse_id: int
    warehouse_code: str = Field(alias="warehouse.code")
    scope: StocktakeScope
    category_id: int | None
    location_id: int | None
    is_blind: bool
    status: StocktakeStatus
    note: str
    created_by_id: int | None
    approved_by_id: int | None
    started_at: DateTimeOut
    submitted_at: DateTimeOut | None
    posted_at: DateTimeOut | None


class StocktakeLineOut(Schema):
    sku_id: int
    merchant_code: str
    expected_quantity: int | None = Field(
        description="On hand at the snapshot; null while a blind count is open"
    )
    book_quantity: int | None = Field(description="On hand at the last count entry; hidden like the snapshot")
    counted_quantity: int | None
    variance: int | None = Field(description="counted − book; hidden like the snapshot")
    unit_cost: MoneyOut
    counted_at: DateTimeOut | None
    counted_by_id: int | None
    posted_quantity: int | None


class StocktakeDetailOut(StocktakeOut):
    lines: list[StocktakeLineOut]

    @staticmethod
    def resolve_lines(obj: Stocktake) -> list[dict[str, Any]]:
        hidden = _is_hidden(obj)
        lines = StocktakeLine.objects.filter(stocktake=obj).select_related("sku").order_by("sku_id")
        return [_line_out(line, hidden=hidden) for line in lines]


class StocktakeFilters(Schema):
    warehouse: ObjectId | None = None
    status: StocktakeStatus | None = None


class StocktakeIn(Schema):
    warehouse_id: ObjectId
    scope: StocktakeScope = StocktakeScope.FULL
    category_id: ObjectId | None = Field(None, description="For scope category (sub-categories included)")
    location_id: ObjectId | None = Field(None, description="For scope location")
    sku_ids: list[ObjectId] = Field(default_factory=list, max_length=MAX_LINES, description="For scope sku")
    is_blind: bool = Field(True, description="Counters do not see the book quantities")
    note: PlainText = Field("", max_length=300)


class CountIn(Schema):
    barcode_or_code: PlainText = Field(
        ..., min_length=1, max_length=64, description="Barcode or merchant code"
    )
    quantity: int = Field(..., ge=-MAX_QUANTITY, le=MAX_QUANTITY)
    mode: Literal["set", "add"] = Field("set", description="set: replace the count; add: add to it (scans)")


class ReasonIn(Schema):
    reason: PlainText = Field("", max_length=300)


class VarianceLineOut(Schema):
    sku_id: int
    merchant_code: str
    expected_quantity: int
    movement_quantity: int | None
    book_quantity: int | None
    counted_quantity: int | None
    variance: int | None
    unit_cost: MoneyOut
    variance_value: MoneyOut | None


class VarianceOut(Schema):
    stocktake_id: int
    counted_lines: int
    uncounted_lines: int
    gain_quantity: int
    loss_quantity: int
    net_quantity: int
    gain_value: MoneyOut
    loss_value: MoneyOut
    net_value: MoneyOut
    lines: list[VarianceLineOut]


def _stocktakes(request: HttpRequest) -> QuerySet[Stocktake]:
    stocktakes = Stocktake.objects.select_related("warehouse")
    allowed = _scoped_warehouse_ids(request)
    return stocktakes if allowed is None else stocktakes.filter(warehouse_id__in=allowed)


def _stocktake_in_scope(request: HttpRequest, stocktake_id: int) -> Stocktake:
    return get_in_scope(
        _stocktakes(request), acting_user(request), what="盘点单", field="stocktake_id", pk=stocktake_id
    )


def _is_hidden(stocktake: Stocktake) -> bool:
    return stocktake.is_blind and stocktake.status == StocktakeStatus.COUNTING


def _line_out(line: StocktakeLine, *, hidden: bool) -> dict[str, Any]:
    return {
        "sku_id": line.sku_id,
        "merchant_code": line.sku.merchant_code,
        "expected_quantity": None if hidden else line.expected_quantity,
        "book_quantity": None if hidden else line.book_quantity,
        "counted_quantity": line.counted_quantity,
        "variance": None if hidden else line.variance,
        "unit_cost": line.unit_cost,
        "counted_at": line.counted_at,
        "counted_by_id": line.counted_by_id,
        "posted_quantity": line.posted_quantity,
    }


@router.get("/inventory/stocktakes", response={200: list[StocktakeOut], **ERROR_RESPONSES})
@paginate(Pagination)
@requires("inventory.view_stocktake")
def list_stocktakes(request: HttpRequest, filters: Query[StocktakeFilters]) -> QuerySet[Stocktake]:
    """Stocktakes (盘点单) of the user's warehouses, newest first."""
    stocktakes = _stocktakes(request).order_by("-id")
    if filters.warehouse is not None:
        stocktakes = stocktakes.filter(warehouse_id=filters.warehouse)
    if filters.status:
        stocktakes = stocktakes.filter(status=filters.status)
    return stocktakes


@router.get("/inventory/stocktakes/{stocktake_id}", response={200: StocktakeDetailOut, **ERROR_RESPONSES})
@requires("inventory.view_stocktake")
def get_stocktake(request: HttpRequest, stocktake_id: ObjectId) -> Stocktake:
    """One stocktake with its lines; book quantities stay hidden while a blind count is open."""
    return _stocktake_in_scope(request, stocktake_id)


@router.post("/inventory/stocktakes", response={201: StocktakeDetailOut, **ERROR_RESPONSES})
@requires("inventory.add_stocktake")
def start_stocktake(request: HttpRequest, payload: StocktakeIn) -> Status[Stocktake]:
    """Open a count of one warehouse (full, category, location or SKU list) and snapshot its on hand."""
    _warehouse_in_scope(request, payload.warehouse_id)
    stocktake = inventory_services.start_stocktake(
        warehouse_id=payload.warehouse_id,
        scope=payload.scope,
        actor=acting_user(request),
        category_id=payload.category_id,
        location_id=payload.location_id,
        sku_ids=payload.sku_ids,
        is_blind=payload.is_blind,
        note=payload.note,
    )
    return Status(201, _stocktakes(request).get(pk=stocktake.pk))


@router.post(
    "/inventory/stocktakes/{stocktake_id}/counts", response={200: StocktakeLineOut, **ERROR_RESPONSES}
)
@requires("inventory.change_stocktake")
def record_stocktake_count(request: HttpRequest, stocktake_id: ObjectId, payload: CountIn) -> dict[str, Any]:
    """Enter a count by barcode or merchant code: mode set replaces it, mode add adds to it (one scan = +1)."""
    stocktake = _stocktake_in_scope(request, stocktake_id)
    line = inventory_services.record_count(
        stocktake_id=stocktake.pk,
        barcode_or_code=payload.barcode_or_code,
        quantity=payload.quantity,
        mode=payload.mode,
        actor=acting_user(request),
    )
    line = StocktakeLine.objects.select_related("sku").get(pk=line.pk)
    return _line_out(line, hidden=_is_hidden(stocktake))


@router.post("/inventory/stocktakes/{stocktake_id}/submit", response={200: StocktakeOut, **ERROR_RESPONSES})
@requires("inventory.change_stocktake")
def submit_stocktake(request: HttpRequest, stocktake_id: ObjectId) -> Stocktake:
    """Counting is done: hand the stocktake to an approver (at least one line counted)."""
    _stocktake_in_scope(request, stocktake_id)
    inventory_services.submit_stocktake(stocktake_id=stocktake_id, actor=acting_user(request))
    return _stocktakes(request).get(pk=stocktake_id)


@router.post("/inventory/stocktakes/{stocktake_id}/post", response={200: StocktakeOut, **ERROR_RESPONSES})
@requires("inventory.approve_stocktake")
def post_stocktake(request: HttpRequest, stocktake_id: ObjectId) -> Stocktake:
    """Approve a submitted stocktake and post its variances (盘盈 / 盘亏); a counter cannot approve."""
    _stocktake_in_scope(request, stocktake_id)
    inventory_services.post_stocktake(stocktake_id=stocktake_id, actor=acting_user(request))
    return _stocktakes(request).get(pk=stocktake_id)


@router.post("/inventory/stocktakes/{stocktake_id}/cancel", response={200: StocktakeOut, **ERROR_RESPONSES})
@requires("inventory.change_stocktake")
def cancel_stocktake(request: HttpRequest, stocktake_id: ObjectId, payload: ReasonIn) -> Stocktake:
    """Abandon a stocktake that is not posted; nothing is adjusted."""
    _stocktake_in_scope(request, stocktake_id)
    inventory_services.cancel_stocktake(
        stocktake_id=stocktake_id, actor=acting_user(request), reason=payload.reason
    )
    return _stocktakes(request).get(pk=stocktake_id)


@router.get("/inventory/stocktakes/{stocktake_id}/variance", response={200: VarianceOut, **ERROR_RESPONSES})
@requires("inventory.view_stocktake")
def stocktake_variance(request: HttpRequest, stocktake_id: ObjectId) -> dict[str, Any]:
    """Variance (盘点差异) by quantity and by value at the snapshot cost; not while a blind count is open."""
    stocktake = _stocktake_in_scope(request, stocktake_id)
    if _is_hidden(stocktake):
        raise Conflict(
            "盲盘进行中，提交后才能查看差异", fields={"status": stocktake.status}, code="blind_count_open"
        )
    report = inventory_services.stocktake_variance(stocktake_id=stocktake.pk)
    return {
        "stocktake_id": report.stocktake_id,
        "counted_lines": report.counted_lines,
        "uncounted_lines": report.uncounted_lines,
        "gain_quantity": report.gain_quantity,
        "loss_quantity": report.loss_quantity,
        "net_quantity": report.net_quantity,
        "gain_value": report.gain_value,
        "loss_value": report.loss_value,
        "net_value": report.net_value,
        "lines": report.lines,
    }


# transfers


class TransferLineOut(Schema):
    sku_id: int
    merchant_code: str = Field(alias="sku.merchant_code")
    quantity: int
    shipped_quantity: int
    received_quantity: int
    in_transit_quantity: int


class TransferOut(Schema):
    id: int
    source_id: int
    source_code: str = Field(alias="source.code")
    destination_id: int
    destination_code: str = Field(alias="destination.code")
    status: TransferStatus
    note: str
    created_by_id: int | None
    created_at: DateTimeOut
    shipped_at: DateTimeOut | None
    closed_at: DateTimeOut | None
    lines: list[TransferLineOut]

    @staticmethod
    def resolve_lines(obj: Transfer) -> list[Any]:
        return list(obj.lines.all())


class TransferLineIn(Schema):
    sku_id: ObjectId
    quantity: int = Field(..., ge=1, le=MAX_QUANTITY)


class TransferIn(Schema):
    source_id: ObjectId
    destination_id: ObjectId
    lines: list[TransferLineIn] = Field(..., min_length=1, max_length=MAX_LINES)
    note: PlainText = Field("", max_length=300)


class ReceiveIn(Schema):
    lines: list[TransferLineIn] = Field(..., min_length=1, max_length=MAX_LINES)


class CloseIn(Schema):
    reason: PlainText = Field(..., min_length=1, max_length=300)


class TransferFilters(Schema):
    warehouse: ObjectId | None = Field(None, description="Source or destination")
    status: TransferStatus | None = None


def _transfers(request: HttpRequest) -> QuerySet[Transfer]:
    lines = TransferLine.objects.select_related("sku").order_by("sku_id")
    transfers = Transfer.objects.select_related("source", "destination").prefetch_related(
        Prefetch("lines", queryset=lines)
    )
    allowed = _scoped_warehouse_ids(request)
    if allowed is None:
        return transfers
    return transfers.filter(Q(source_id__in=allowed) | Q(destination_id__in=allowed))


def _transfer_in_scope(request: HttpRequest, transfer_id: int, *, side: str | None = None) -> Transfer:
    """A transfer the user sees (either side in scope); with `side`, that warehouse must be in scope."""
    transfer = _transfers(request).filter(pk=transfer_id).first()
    allowed = _scoped_warehouse_ids(request)
    if transfer is not None and side is not None and allowed is not None:
        transfer = transfer if getattr(transfer, f"{side}_id") in allowed else None
    if transfer is None:
        raise out_of_scope("调拨单", field="transfer_id")
    return transfer


def _quantities(lines: list[TransferLineIn]) -> dict[int, int]:
    quantities = {line.sku_id: line.quantity for line in lines}
    if len(quantities) != len(lines):
        raise InvalidInput("同一SKU只能出现一次", fields={"lines": "SKU重复"})
    return quantities


@router.get("/inventory/transfers", response={200: list[TransferOut], **ERROR_RESPONSES})
@paginate(Pagination)
@requires("inventory.view_transfer")
def list_transfers(request: HttpRequest, filters: Query[TransferFilters]) -> QuerySet[Transfer]:
    """Transfers (调拨单) from or to the user's warehouses, newest first."""
    transfers = _transfers(request).order_by("-id")
    if filters.warehouse is not None:
        transfers = transfers.filter(Q(source_id=filters.warehouse) | Q(destination_id=filters.warehouse))
    if filters.status:
        transfers = transfers.filter(status=filters.status)
    return transfers


@router.get("/inventory/transfers/{transfer_id}", response={200: TransferOut, **ERROR_RESPONSES})
@requires("inventory.view_transfer")
def get_transfer(request: HttpRequest, transfer_id: ObjectId) -> Transfer:
    """One transfer with its lines: asked, shipped, received and still in transit."""
    return _transfer_in_scope(request, transfer_id)


@router.post("/inventory/transfers", response={201: TransferOut, **ERROR_RESPONSES})
@requires("inventory.add_transfer")
def create_transfer(request: HttpRequest, payload: TransferIn) -> Status[Transfer]:
    """A draft transfer between two of the user's warehouses."""
    _warehouse_in_scope(request, payload.source_id, field="source_id")
    _warehouse_in_scope(request, payload.destination_id, field="destination_id")
    transfer = inventory_services.create_transfer(
        source_id=payload.source_id,
        destination_id=payload.destination_id,
        lines=_quantities(payload.lines),
        actor=acting_user(request),
        note=payload.note,
    )
    return Status(201, _transfers(request).get(pk=transfer.pk))


@router.post("/inventory/transfers/{transfer_id}/ship", response={200: TransferOut, **ERROR_RESPONSES})
@requires("inventory.change_transfer")
def ship_transfer(request: HttpRequest, transfer_id: ObjectId) -> Transfer:
    """Ship a draft (调拨出 at the source; the units count in transit at the destination)."""
    _transfer_in_scope(request, transfer_id, side="source")
    inventory_services.ship_transfer(transfer_id=transfer_id, actor=acting_user(request))
    return _transfers(request).get(pk=transfer_id)


@router.post("/inventory/transfers/{transfer_id}/receive", response={200: TransferOut, **ERROR_RESPONSES})
@requires("inventory.change_transfer")
def receive_transfer(request: HttpRequest, transfer_id: ObjectId, payload: ReceiveIn) -> Transfer:
    """Receive units at the destination (调拨入); partial receipts allowed, more than in transit refused."""
    _transfer_in_scope(request, transfer_id, side="destination")
    inventory_services.receive_transfer(
        transfer_id=transfer_id, quantities=_quantities(payload.lines), actor=acting_user(request)
    )
    return _transfers(request).get(pk=transfer_id)


@router.post("/inventory/transfers/{transfer_id}/close", response={200: TransferOut, **ERROR_RESPONSES})
@requires("inventory.change_transfer")
def close_transfer(request: HttpRequest, transfer_id: ObjectId, payload: CloseIn) -> Transfer:
    """Close a shipped transfer whose remaining units will not arrive (differences audited)."""
    _transfer_in_scope(request, transfer_id, side="destination")
    inventory_services.close_transfer(
        transfer_id=transfer_id, actor=acting_user(request), reason=payload.reason
    )
    return _transfers(request).get(pk=transfer_id)


@router.post("/inventory/transfers/{transfer_id}/cancel", response={200: TransferOut, **ERROR_RESPONSES})
@requires("inventory.change_transfer")
def cancel_transfer(request: HttpRequest, transfer_id: ObjectId, payload: ReasonIn) -> Transfer:
    """Drop a draft transfer; nothing moved yet."""
    _transfer_in_scope(request, transfer_id, side="source")
    inventory_services.cancel_transfer(
        transfer_id=transfer_id, actor=acting_user(request), reason=payload.reason
    )
    return _transfers(request).get(pk=transfer_id)


# thresholds


class ThresholdOut(Schema):
    id: int
    sku_id: int
    merchant_code: str = Field(alias="sku.merchant_code")
    warehouse_id: int | None = Field(description="null: the total over every active warehouse")
    low_stock_quantity: int | None
    overstock_quantity: int | None
    is_active: bool
    updated_at: DateTimeOut


class ThresholdIn(Schema):
    sku_id: ObjectId
    warehouse_id: ObjectId | None = Field(
        None, description="Omit for the total over all warehouses (needs access to every warehouse)"
    )
    low_stock_quantity: int | None = Field(None, ge=0, le=MAX_QUANTITY)
    overstock_quantity: int | None = Field(None, ge=0, le=MAX_QUANTITY)
    is_active: bool = True


class ThresholdFilters(Schema):
    sku: ObjectId | None = None
    warehouse: ObjectId | None = None


@router.get("/inventory/thresholds", response={200: list[ThresholdOut], **ERROR_RESPONSES})
@paginate(Pagination)
@requires("inventory.view_stockthreshold")
def list_thresholds(request: HttpRequest, filters: Query[ThresholdFilters]) -> QuerySet[StockThreshold]:
    """Low-stock and overstock thresholds (库存预警线) in the user's warehouses."""
    thresholds = StockThreshold.objects.select_related("sku").order_by("sku_id", "warehouse_id", "pk")
    allowed = _scoped_warehouse_ids(request)
    if allowed is not None:
        thresholds = thresholds.filter(warehouse_id__in=allowed)
    if filters.sku is not None:
        thresholds = thresholds.filter(sku_id=filters.sku)
    if filters.warehouse is not None:
        thresholds = thresholds.filter(warehouse_id=filters.warehouse)
    return thresholds


@router.put("/inventory/thresholds", response={200: ThresholdOut, **ERROR_RESPONSES})
@requires("inventory.change_stockthreshold")
def set_threshold(request: HttpRequest, payload: ThresholdIn) -> StockThreshold:
    """Set a SKU's low-stock line (reorder point) and overstock line, per warehouse or overall (audited)."""
    if payload.warehouse_id is not None:
        _warehouse_in_scope(request, payload.warehouse_id)
    elif _scoped_warehouse_ids(request) is not None:
        raise InvalidInput("您只能操作部分仓库，请指定仓库", fields={"warehouse_id": "必填"})
    threshold = inventory_services.set_stock_threshold(
        sku_id=payload.sku_id,
        warehouse_id=payload.warehouse_id,
        low_stock_quantity=payload.low_stock_quantity,
        overstock_quantity=payload.overstock_quantity,
        is_active=payload.is_active,
        actor=acting_user(request),
    )
    return StockThreshold.objects.select_related("sku").get(pk=threshold.pk)


# channel stock


class ChannelRuleOut(Schema):
    id: int
    shop_id: int
    shop_name: str = Field(alias="shop.name")
    warehouse_ids: list[int] = Field(description="The shop sells from these; empty: every active warehouse")
    buffer_units: int
    quota_percent: int
    reserved_units: int
    is_active: bool
    updated_at: DateTimeOut

    @staticmethod
    def resolve_warehouse_ids(obj: ChannelStockRule) -> list[int]:
        return sorted(warehouse.pk for warehouse in obj.warehouses.all())


class ChannelRuleIn(Schema):
    warehouse_ids: list[ObjectId] = Field(default_factory=list, max_length=MAX_LINES)
    buffer_units: int = Field(0, ge=0, le=MAX_QUANTITY, description="Units held back from this shop")
    quota_percent: int = Field(100, ge=0, le=100, description="At most this share of the pool")
    reserved_units: int = Field(0, ge=0, le=MAX_QUANTITY, description="Units kept for this shop only")
    is_active: bool = True


class ChannelStockQuery(Schema):
    sku_id: ObjectId
    shop_id: ObjectId


class ChannelStockOut(Schema):
    sku_id: int
    shop_id: int
    channel_available: int = Field(description="The figure a marketplace sync pushes for this shop")


def _shop_in_scope(request: HttpRequest, shop_id: int) -> Shop:
    return channel_queries.shop_in_scope(acting_user(request), shop_id, field="shop_id")


@router.get("/inventory/channel-stock-rules", response={200: list[ChannelRuleOut], **ERROR_RESPONSES})
@paginate(Pagination)
@requires("inventory.view_channelstockrule")
def list_channel_stock_rules(request: HttpRequest) -> QuerySet[ChannelStockRule]:
    """Channel stock rules (buffers, quotas, keep-backs) of the shops in the user's scope."""
    shops = Shop.objects.for_user(acting_user(request)).values("pk")
    return (
        ChannelStockRule.objects.filter(shop_id__in=shops)
        .select_related("shop")
        .prefetch_related("warehouses")
        .order_by("shop_id", "pk")
    )


@router.put("/inventory/channel-stock-rules/{shop_id}", response={200: ChannelRuleOut, **ERROR_RESPONSES})
@requires("inventory.change_channelstockrule")
def set_channel_stock_rule(
    request: HttpRequest, shop_id: ObjectId, payload: ChannelRuleIn
) -> ChannelStockRule:
    """Create or replace a shop's channel stock rule (audited); its warehouses must be in the user's scope."""
    _shop_in_scope(request, shop_id)
    for warehouse_id in payload.warehouse_ids:
        _warehouse_in_scope(request, warehouse_id, field="warehouse_ids")
    rule = inventory_services.set_channel_stock_rule(
        shop_id=shop_id,
        warehouse_ids=payload.warehouse_ids,
        buffer_units=payload.buffer_units,
        quota_percent=payload.quota_percent,
        reserved_units=payload.reserved_units,
        is_active=payload.is_active,
        actor=acting_user(request),
    )
    return ChannelStockRule.objects.select_related("shop").prefetch_related("warehouses").get(pk=rule.pk)


@router.get("/inventory/channel-stock", response={200: ChannelStockOut, **ERROR_RESPONSES})
@requires("inventory.view_stocklevel")
def get_channel_stock(request: HttpRequest, query: Query[ChannelStockQuery]) -> dict[str, int]:
    """Units of a SKU a shop may show as stock, after its channel stock rule (see docs/api.md)."""
    _shop_in_scope(request, query.shop_id)
    available = inventory_services.channel_available(sku_id=query.sku_id, shop_id=query.shop_id)
    return {"sku_id": query.sku_id, "shop_id": query.shop_id, "channel_available": available}
