"""Inventory: warehouses, stock levels per SKU × warehouse, the stock ledger, reservations and bundles."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _


class AppendOnlyError(Exception):
    """Stock movements are the ledger: they are never changed or deleted, only appended."""


class WarehouseKind(models.TextChoices):
    OWN = "own", _("自营仓")
    THIRD_PARTY = "3pl", _("第三方仓")
    STORE = "store", _("门店")
    DEFECTIVE = "defective", _("残次品仓")  # graded returns (B): not sold through channels, not reserved


# Kinds that receive purchase orders unless switched off (a store or a defective-goods warehouse can be
# switched on: `Warehouse.receives_purchases`).
PURCHASE_RECEIVING_KINDS = (WarehouseKind.OWN, WarehouseKind.THIRD_PARTY)


def warehouse_ids_for(user: Any) -> set[int] | None:
    """The warehouse ids `user` is limited to, or None when the user sees every warehouse.

    The rule (docs: inventory scope): superusers see everything; a user with a `WarehouseScopeSetting`
    follows it (`has_all_warehouses`, else exactly their `UserWarehouseScope` rows, possibly none);
    a user without a setting is restricted to their scope rows when they have any, and otherwise sees
    every warehouse. So "no rows = all warehouses" unless the setting explicitly restricts the user.
    """
    if user is None or not getattr(user, "is_authenticated", False):
        return set()
    if user.is_superuser:
        return None
    setting = WarehouseScopeSetting.objects.filter(user_id=user.pk).first()
    granted = set(UserWarehouseScope.objects.filter(user_id=user.pk).values_list("warehouse_id", flat=True))
    if setting is not None:
        return None if setting.has_all_warehouses else granted
    return granted or None


def has_all_warehouses(user: Any) -> bool:
    return warehouse_ids_for(user) is None


class WarehouseQuerySet(models.QuerySet["Warehouse"]):
    def for_user(self, user: Any) -> WarehouseQuerySet:
        allowed = warehouse_ids_for(user)
        return self if allowed is None else self.filter(pk__in=allowed)


class Warehouse(models.Model):
    """A place that holds stock: an own warehouse, a third-party (3PL) warehouse or a store."""

    code = models.CharField(_("仓库编码"), max_length=20, unique=True)
    name = models.CharField(_("仓库名称"), max_length=60, unique=True)
    kind = models.CharField(
        _("类型"), max_length=10, choices=WarehouseKind.choices, default=WarehouseKind.OWN
    )
    is_active = models.BooleanField(_("启用"), default=True)
    receives_purchases = models.BooleanField(
        _("接收采购入库"),
        default=True,
        help_text=_("门店和残次品仓默认不接收采购单；补货建议只为接收采购的仓库生成"),
    )
    address = models.CharField(_("地址"), max_length=300, blank=True)
    created_at = models.DateTimeField(_("创建时间"), auto_now_add=True)

    objects = WarehouseQuerySet.as_manager()

    class Meta:
        verbose_name = _("仓库")
        verbose_name_plural = _("仓库")
        ordering = ["code"]

    def __str__(self) -> str:
        return f"{self.code} {self.name}"


class Location(models.Model):
    """A storage location (库位) inside a warehouse, e.g. A-01-03; optional."""

    warehouse = models.ForeignKey(
        Warehouse, verbose_name=_("仓库"), on_delete=models.CASCADE, related_name="locations"
    )
    code = models.CharField(_("库位编码"), max_length=40)
    name = models.CharField(_("库位名称"), max_length=60, blank=True)
    is_active = models.BooleanField(_("启用"), default=True)

    class Meta:
        verbose_name = _("库位")
        verbose_name_plural = _("库位")
        ordering = ["warehouse_id", "code"]
        constraints = [
            models.UniqueConstraint(
                fields=["warehouse", "code"], name="inventory_location_unique_code_per_warehouse"
            )
        ]

    def __str__(self) -> str:
        return f"{self.warehouse_id}:{self.code}"


class WarehouseScopeSetting(models.Model):
    """Whether a user sees every warehouse or only the ones granted to them (see `warehouse_ids_for`)."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        verbose_name=_("用户"),
        on_delete=models.CASCADE,
        related_name="warehouse_scope_setting",
    )
    has_all_warehouses = models.BooleanField(_("可访问全部仓库"), default=True)

    class Meta:
        verbose_name = _("仓库权限设置")
        verbose_name_plural = _("仓库权限设置")

    def __str__(self) -> str:
        return f"{self.user_id}: {'全部' if self.has_all_warehouses else '限定'}"


class UserWarehouseScope(models.Model):
    """One warehouse a user may work with when their warehouse access is restricted."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("用户"),
        on_delete=models.CASCADE,
        related_name="warehouse_scope",
    )
    warehouse = models.ForeignKey(
        Warehouse, verbose_name=_("仓库"), on_delete=models.CASCADE, related_name="scoped_users"
    )

    class Meta:
        verbose_name = _("用户仓库范围")
        verbose_name_plural = _("用户仓库范围")
        constraints = [
            models.UniqueConstraint(
                fields=["user", "warehouse"], name="inventory_scope_unique_user_warehouse"
            )
        ]

    def __str__(self) -> str:
        return f"{self.user_id} → {self.warehouse_id}"


class StockLevelQuerySet(models.QuerySet["StockLevel"]):
    def with_available(self) -> StockLevelQuerySet:
        return self.annotate(available_quantity=F("on_hand") - F("reserved") - F("safety_stock"))

    def for_user(self, user: Any) -> StockLevelQuerySet:
        allowed = warehouse_ids_for(user)
        return self if allowed is None else self.filter(warehouse_id__in=allowed)


class StockLevel(models.Model):
    """How many units of one SKU one warehouse holds (on hand), has promised (reserved) and keeps back.

    `on_hand` and `reserved` change only through the inventory services, each change a ledger row;
    `available = on_hand − reserved − safety_stock` is what may still be reserved.
    """

    sku = models.ForeignKey(
        "catalog.Sku", verbose_name=_("SKU"), on_delete=models.PROTECT, related_name="stock_levels"
    )
    warehouse = models.ForeignKey(
        Warehouse, verbose_name=_("仓库"), on_delete=models.PROTECT, related_name="stock_levels"
    )
    on_hand = models.IntegerField(_("在库"), default=0)
    reserved = models.IntegerField(_("预占"), default=0)
    safety_stock = models.IntegerField(_("安全库存"), default=0)
    in_transit = models.IntegerField(_("在途"), default=0)
    location = models.ForeignKey(
        Location,
        verbose_name=_("库位"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="stock_levels",
        help_text=_("该SKU在本仓的主库位；按库位盘点时使用"),
    )
    updated_at = models.DateTimeField(_("更新时间"), auto_now=True)

    objects = StockLevelQuerySet.as_manager()

    class Meta:
        verbose_name = _("库存")
        verbose_name_plural = _("库存")
        ordering = ["sku_id", "warehouse_id"]
        constraints = [
            models.UniqueConstraint(fields=["sku", "warehouse"], name="inventory_level_unique_sku_warehouse"),
            models.CheckConstraint(condition=Q(on_hand__gte=0), name="inventory_level_on_hand_not_negative"),
            models.CheckConstraint(
                condition=Q(reserved__gte=0), name="inventory_level_reserved_not_negative"
            ),
            models.CheckConstraint(
                condition=Q(reserved__lte=F("on_hand")), name="inventory_level_reserved_within_on_hand"
            ),
            models.CheckConstraint(
                condition=Q(safety_stock__gte=0), name="inventory_level_safety_stock_not_negative"
            ),
            models.CheckConstraint(
                condition=Q(in_transit__gte=0), name="inventory_level_in_transit_not_negative"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.sku_id}@{self.warehouse_id}: {self.on_hand}/{self.reserved}"

    @property
    def available(self) -> int:
        return self.on_hand - self.reserved - self.safety_stock


class MovementType(models.TextChoices):
    PURCHASE_IN = "purchase_in", _("采购入库")
    SALE_OUT = "sale_out", _("销售出库")
    RETURN_IN = "return_in", _("退货入库")
    COUNT_GAIN = "count_gain", _("盘盈")
    COUNT_LOSS = "count_loss", _("盘亏")
    TRANSFER_OUT = "transfer_out", _("调拨出")
    TRANSFER_IN = "transfer_in", _("调拨入")
    DAMAGE = "damage", _("报损")
    RESERVE = "reserve", _("预占")
    RELEASE = "release", _("释放")
    OPENING = "opening", _("期初")
    ADJUST = "adjust", _("调整")


INBOUND_TYPES = frozenset(
    {
        MovementType.PURCHASE_IN,
        MovementType.RETURN_IN,
        MovementType.COUNT_GAIN,
        MovementType.TRANSFER_IN,
        MovementType.OPENING,
        MovementType.ADJUST,
    }
)
OUTBOUND_TYPES = frozenset(
    {
        MovementType.SALE_OUT,
        MovementType.COUNT_LOSS,
        MovementType.TRANSFER_OUT,
        MovementType.DAMAGE,
        MovementType.ADJUST,
    }
)


class StockMovementQuerySet(models.QuerySet["StockMovement"]):
    def update(self, **kwargs: Any) -> int:
        raise AppendOnlyError("stock movements are append-only")

    def delete(self) -> tuple[int, dict[str, int]]:
        raise AppendOnlyError("stock movements are append-only")

    def for_user(self, user: Any) -> StockMovementQuerySet:
        allowed = warehouse_ids_for(user)
        return self if allowed is None else self.filter(warehouse_id__in=allowed)


class StockMovement(models.Model):
    """One change of one stock level (库存流水): the ledger. Append-only; levels equal its sums.

    The level before the change is `on_hand_after − on_hand_delta` (and likewise for reserved).
    """

    sku = models.ForeignKey("catalog.Sku", verbose_name=_("SKU"), on_delete=models.PROTECT, related_name="+")
    warehouse = models.ForeignKey(
        Warehouse, verbose_name=_("仓库"), on_delete=models.PROTECT, related_name="+"
    )
    movement_type = models.CharField(_("类型"), max_length=20, choices=MovementType.choices)
    on_hand_delta = models.IntegerField(_("在库变动"), default=0)
    reserved_delta = models.IntegerField(_("预占变动"), default=0)
    on_hand_after = models.IntegerField(_("变动后在库"))
    reserved_after = models.IntegerField(_("变动后预占"))
    reference_type = models.CharField(_("单据类型"), max_length=30, blank=True)
    reference_id = models.CharField(_("单据号"), max_length=64, blank=True, db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("操作人"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    created_at = models.DateTimeField(_("时间"), default=timezone.now, db_index=True)
    note = models.CharField(_("备注"), max_length=300, blank=True)

    objects = StockMovementQuerySet.as_manager()

    class Meta:
        verbose_name = _("库存流水")
        verbose_name_plural = _("库存流水")
        ordering = ["-id"]
        default_permissions = ("view",)
        indexes = [models.Index(fields=["sku", "warehouse", "id"], name="inventory_movement_level_idx")]

    def __str__(self) -> str:
        return f"{self.get_movement_type_display()} {self.sku_id}@{self.warehouse_id} {self.on_hand_delta:+d}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.pk is not None:
            raise AppendOnlyError("stock movements are append-only")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        raise AppendOnlyError("stock movements are append-only")

    @property
    def on_hand_before(self) -> int:
        return self.on_hand_after - self.on_hand_delta

    @property
    def reserved_before(self) -> int:
        return self.reserved_after - self.reserved_delta


class ReservationStatus(models.TextChoices):
    ACTIVE = "active", _("预占中")
    RELEASED = "released", _("已释放")
    COMMITTED = "committed", _("已出库")
    EXPIRED = "expired", _("已过期")


RESERVATION_TRANSITIONS: dict[str, set[str]] = {
    ReservationStatus.ACTIVE: {
        ReservationStatus.RELEASED,
        ReservationStatus.COMMITTED,
        ReservationStatus.EXPIRED,
    },
    ReservationStatus.RELEASED: set(),
    ReservationStatus.COMMITTED: set(),
    ReservationStatus.EXPIRED: set(),
}
HOLDING_STATUSES = (ReservationStatus.ACTIVE, ReservationStatus.COMMITTED)


class ReservationQuerySet(models.QuerySet["Reservation"]):
    def for_user(self, user: Any) -> ReservationQuerySet:
        allowed = warehouse_ids_for(user)
        return self if allowed is None else self.filter(warehouse_id__in=allowed)


class Reservation(models.Model):
    """Units of one SKU in one warehouse promised to a document (an order line) until shipped or released.

    A request for a bundle makes one reservation per component, all with `requested_sku` = the bundle.
    At most one active or committed reservation exists per (reference, requested SKU, SKU): that is
    what makes reserving idempotent.
    """

    reference_type = models.CharField(_("单据类型"), max_length=30, default="order")
    reference = models.CharField(_("单据号"), max_length=64, db_index=True)
    requested_sku = models.ForeignKey(
        "catalog.Sku", verbose_name=_("下单SKU"), on_delete=models.PROTECT, related_name="+"
    )
    sku = models.ForeignKey(
        "catalog.Sku", verbose_name=_("SKU"), on_delete=models.PROTECT, related_name="reservations"
    )
    warehouse = models.ForeignKey(
        Warehouse, verbose_name=_("仓库"), on_delete=models.PROTECT, related_name="reservations"
    )
    quantity = models.PositiveIntegerField(_("数量"))
    status = models.CharField(
        _("状态"),
        max_length=20,
        choices=ReservationStatus.choices,
        default=ReservationStatus.ACTIVE,
        db_index=True,
    )
    expires_at = models.DateTimeField(_("过期时间"), null=True, blank=True, db_index=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("创建人"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    created_at = models.DateTimeField(_("创建时间"), default=timezone.now)
    closed_at = models.DateTimeField(_("结束时间"), null=True, blank=True)

    objects = ReservationQuerySet.as_manager()

    class Meta:
        verbose_name = _("库存预占")
        verbose_name_plural = _("库存预占")
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["reference_type", "reference", "requested_sku", "sku"],
                condition=Q(status__in=["active", "committed"]),
                name="inventory_reservation_unique_holding_per_reference",
            ),
            models.CheckConstraint(
                condition=Q(quantity__gt=0), name="inventory_reservation_quantity_positive"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.reference_type}:{self.reference} {self.sku_id}×{self.quantity} ({self.status})"


class BundleComponent(models.Model):
    """One component of a bundle (组合商品/套装): selling one bundle consumes `quantity` of the component.

    A bundle has no stock of its own; its availability follows from its components in one warehouse.
    """

    bundle_sku = models.ForeignKey(
        "catalog.Sku", verbose_name=_("组合SKU"), on_delete=models.CASCADE, related_name="bundle_components"
    )
    component_sku = models.ForeignKey(
        "catalog.Sku", verbose_name=_("子SKU"), on_delete=models.PROTECT, related_name="used_in_bundles"
    )
    quantity = models.PositiveIntegerField(_("数量"), default=1)

    class Meta:
        verbose_name = _("组合明细")
        verbose_name_plural = _("组合明细")
        ordering = ["bundle_sku_id", "component_sku_id"]
        constraints = [
            models.UniqueConstraint(
                fields=["bundle_sku", "component_sku"], name="inventory_bundle_unique_component"
            ),
            models.CheckConstraint(condition=Q(quantity__gt=0), name="inventory_bundle_quantity_positive"),
            models.CheckConstraint(
                condition=~Q(bundle_sku=F("component_sku")), name="inventory_bundle_not_its_own_component"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.bundle_sku_id} ⊃ {self.component_sku_id}×{self.quantity}"


class ChannelStockRule(models.Model):
    """How much of the stock one shop may show and sell (渠道可售库存规则), the figure a marketplace sync pushes.

    The rule (see `services.channel_available`): the pool is the available units (on hand − reserved −
    safety stock, never below zero; bundles as complete bundles per warehouse) in the rule's warehouses
    (none chosen = every active warehouse). From the pool we take away the units other shops keep for
    themselves (`reserved_units` of every other active rule whose warehouses overlap) and this shop's
    `buffer_units`; the result is capped at `quota_percent` % of the pool (rounded down), never below 0.
    """

    shop = models.OneToOneField(
        "channels.Shop", verbose_name=_("店铺"), on_delete=models.CASCADE, related_name="stock_rule"
    )
    warehouses = models.ManyToManyField(
        Warehouse,
        verbose_name=_("供货仓库"),
        blank=True,
        related_name="+",
        help_text=_("不选表示全部启用的仓库"),
    )
    buffer_units = models.PositiveIntegerField(
        _("缓冲数量"), default=0, help_text=_("每个SKU少推送的件数，防止渠道超卖")
    )
    quota_percent = models.PositiveSmallIntegerField(
        _("最多占比(%)"), default=100, help_text=_("本店最多可售库存池的百分之几，如 60")
    )
    reserved_units = models.PositiveIntegerField(
        _("专留数量"), default=0, help_text=_("每个SKU为本店专门保留的件数，其他店铺不可售")
    )
    is_active = models.BooleanField(_("启用"), default=True)
    updated_at = models.DateTimeField(_("更新时间"), auto_now=True)

    class Meta:
        verbose_name = _("渠道库存规则")
        verbose_name_plural = _("渠道库存规则")
        ordering = ["shop_id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(quota_percent__lte=100), name="inventory_channel_rule_quota_at_most_100"
            )
        ]

    def __str__(self) -> str:
        return f"{self.shop_id}: -{self.buffer_units} ≤{self.quota_percent}% 专留{self.reserved_units}"


class WriteOffReason(models.TextChoices):
    """Why units are written off (报损原因)."""

    DAMAGED = "damaged", _("破损")
    EXPIRED = "expired", _("过期")
    LOST = "lost", _("丢失")
    QUALITY = "quality", _("质量问题")
    OTHER = "other", _("其他")


class StocktakeScope(models.TextChoices):
    FULL = "full", _("全盘")
    CATEGORY = "category", _("按类目")
    LOCATION = "location", _("按库位")
    SKUS = "skus", _("按SKU")


class StocktakeStatus(models.TextChoices):
    COUNTING = "counting", _("盘点中")
    SUBMITTED = "submitted", _("待审核")
    POSTED = "posted", _("已过账")
    CANCELLED = "cancelled", _("已取消")


STOCKTAKE_TRANSITIONS: dict[str, set[str]] = {
    StocktakeStatus.COUNTING: {StocktakeStatus.SUBMITTED, StocktakeStatus.CANCELLED},
    StocktakeStatus.SUBMITTED: {StocktakeStatus.POSTED, StocktakeStatus.COUNTING, StocktakeStatus.CANCELLED},
    StocktakeStatus.POSTED: set(),
    StocktakeStatus.CANCELLED: set(),
}


class Stocktake(models.Model):
    """A stock count (盘点单) of one warehouse: full, or a cycle count by category, location or SKU list.

    Started with a snapshot of the on-hand quantity of every line (`StocktakeLine.expected_quantity`);
    stock keeps moving while people count. With `is_blind` the expected quantity is hidden from the
    counters (the count sheet and the UI must not show it). Counted → submitted → approved and posted by
    a different user than the counters, which writes 盘盈/盘亏 ledger rows (see `services.post_stocktake`).
    """

    warehouse = models.ForeignKey(
        Warehouse, verbose_name=_("仓库"), on_delete=models.PROTECT, related_name="stocktakes"
    )
    scope = models.CharField(_("范围"), max_length=10, choices=StocktakeScope.choices)
    category = models.ForeignKey(
        "catalog.Category",
        verbose_name=_("类目"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    location = models.ForeignKey(
        Location, verbose_name=_("库位"), null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    is_blind = models.BooleanField(_("盲盘"), default=True, help_text=_("盘点人看不到账面数量"))
    status = models.CharField(
        _("状态"),
        max_length=10,
        choices=StocktakeStatus.choices,
        default=StocktakeStatus.COUNTING,
        db_index=True,
    )
    note = models.CharField(_("备注"), max_length=300, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("创建人"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    started_at = models.DateTimeField(_("开始时间（快照）"), default=timezone.now)
    submitted_at = models.DateTimeField(_("提交时间"), null=True, blank=True)
    posted_at = models.DateTimeField(_("过账时间"), null=True, blank=True)
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("审核人"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )

    class Meta:
        verbose_name = _("盘点单")
        verbose_name_plural = _("盘点单")
        ordering = ["-id"]
        permissions = [("approve_stocktake", _("可审核并过账盘点单"))]

    def __str__(self) -> str:
        return gettext("盘点单 #%(number)s %(scope)s（%(status)s）") % {
            "number": self.pk,
            "scope": self.get_scope_display(),
            "status": self.get_status_display(),
        }


class StocktakeLine(models.Model):
    """One SKU of a stocktake: the on hand at the snapshot, the count, and the book level at count entry.

    `book_quantity` is the on hand read (under the level's row lock) at the last count entry, i.e. the
    snapshot plus every movement posted between the snapshot and the count. Variance = counted − book,
    so a sale shipped while people count is never mistaken for a loss.
    """

    stocktake = models.ForeignKey(
        Stocktake, verbose_name=_("盘点单"), on_delete=models.CASCADE, related_name="lines"
    )
    sku = models.ForeignKey("catalog.Sku", verbose_name=_("SKU"), on_delete=models.PROTECT, related_name="+")
    expected_quantity = models.IntegerField(_("快照账面数"))
    unit_cost = models.DecimalField(_("成本价"), max_digits=14, decimal_places=2)
    counted_quantity = models.IntegerField(_("实盘数"), null=True, blank=True)
    book_quantity = models.IntegerField(_("录入时账面数"), null=True, blank=True)
    counted_at = models.DateTimeField(_("录入时间"), null=True, blank=True)
    counted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("盘点人"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    posted_quantity = models.IntegerField(_("过账差异"), null=True, blank=True)

    class Meta:
        verbose_name = _("盘点明细")
        verbose_name_plural = _("盘点明细")
        ordering = ["stocktake_id", "sku_id"]
        constraints = [
            models.UniqueConstraint(fields=["stocktake", "sku"], name="inventory_stocktake_unique_sku"),
            models.CheckConstraint(
                condition=Q(counted_quantity__isnull=True) | Q(counted_quantity__gte=0),
                name="inventory_stocktake_counted_not_negative",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.stocktake_id}:{self.sku_id} {self.counted_quantity}"

    @property
    def is_counted(self) -> bool:
        return self.counted_quantity is not None

    @property
    def movement_quantity(self) -> int | None:
        """Net on-hand movements between the snapshot and the count entry."""
        return None if self.book_quantity is None else self.book_quantity - self.expected_quantity

    @property
    def variance(self) -> int | None:
        if self.counted_quantity is None or self.book_quantity is None:
            return None
        return self.counted_quantity - self.book_quantity


class TransferStatus(models.TextChoices):
    DRAFT = "draft", _("草稿")
    SHIPPED = "shipped", _("已发出")
    PARTIALLY_RECEIVED = "partially_received", _("部分收货")
    RECEIVED = "received", _("已收货")
    CLOSED = "closed", _("已关闭（有差异）")
    CANCELLED = "cancelled", _("已取消")


TRANSFER_TRANSITIONS: dict[str, set[str]] = {
    TransferStatus.DRAFT: {TransferStatus.SHIPPED, TransferStatus.CANCELLED},
    TransferStatus.SHIPPED: {
        TransferStatus.PARTIALLY_RECEIVED,
        TransferStatus.RECEIVED,
        TransferStatus.CLOSED,
    },
    TransferStatus.PARTIALLY_RECEIVED: {
        TransferStatus.PARTIALLY_RECEIVED,
        TransferStatus.RECEIVED,
        TransferStatus.CLOSED,
    },
    TransferStatus.RECEIVED: set(),
    TransferStatus.CLOSED: set(),
    TransferStatus.CANCELLED: set(),
}


class Transfer(models.Model):
    """A stock transfer (调拨单) between two warehouses, in transit between shipping and receiving.

    Shipping takes the units off the source (调拨出) and counts them as in transit at the destination;
    receiving (possibly in parts) puts them on hand there (调拨入). Closing with units still missing
    records the difference (lost in transit) and clears the in-transit count.
    """

    source = models.ForeignKey(
        Warehouse, verbose_name=_("调出仓"), on_delete=models.PROTECT, related_name="transfers_out"
    )
    destination = models.ForeignKey(
        Warehouse, verbose_name=_("调入仓"), on_delete=models.PROTECT, related_name="transfers_in"
    )
    status = models.CharField(
        _("状态"), max_length=20, choices=TransferStatus.choices, default=TransferStatus.DRAFT, db_index=True
    )
    note = models.CharField(_("备注"), max_length=300, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("创建人"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    created_at = models.DateTimeField(_("创建时间"), default=timezone.now)
    shipped_at = models.DateTimeField(_("发出时间"), null=True, blank=True)
    closed_at = models.DateTimeField(_("完成时间"), null=True, blank=True)

    class Meta:
        verbose_name = _("调拨单")
        verbose_name_plural = _("调拨单")
        ordering = ["-id"]
        constraints = [
            models.CheckConstraint(
                condition=~Q(source=F("destination")), name="inventory_transfer_distinct_warehouses"
            )
        ]

    def __str__(self) -> str:
        return gettext("调拨单 #%(number)s %(source)s→%(destination)s（%(status)s）") % {
            "number": self.pk,
            "source": self.source.code,
            "destination": self.destination.code,
            "status": self.get_status_display(),
        }


class TransferLine(models.Model):
    """One SKU of a transfer: units asked for, shipped and received so far (the rest is in transit)."""

    transfer = models.ForeignKey(
        Transfer, verbose_name=_("调拨单"), on_delete=models.CASCADE, related_name="lines"
    )
    sku = models.ForeignKey("catalog.Sku", verbose_name=_("SKU"), on_delete=models.PROTECT, related_name="+")
    quantity = models.PositiveIntegerField(_("数量"))
    shipped_quantity = models.PositiveIntegerField(_("已发数量"), default=0)
    received_quantity = models.PositiveIntegerField(_("已收数量"), default=0)

    class Meta:
        verbose_name = _("调拨明细")
        verbose_name_plural = _("调拨明细")
        ordering = ["transfer_id", "sku_id"]
        constraints = [
            models.UniqueConstraint(fields=["transfer", "sku"], name="inventory_transfer_unique_sku"),
            models.CheckConstraint(condition=Q(quantity__gt=0), name="inventory_transfer_quantity_positive"),
            models.CheckConstraint(
                condition=Q(received_quantity__lte=F("shipped_quantity")),
                name="inventory_transfer_received_within_shipped",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.transfer_id}:{self.sku_id} {self.received_quantity}/{self.shipped_quantity}"

    @property
    def in_transit_quantity(self) -> int:
        return self.shipped_quantity - self.received_quantity


class StockThreshold(models.Model):
    """Low-stock and overstock thresholds (库存预警线) of one SKU in one warehouse, or over all warehouses.

    Measured on free stock (on hand − reserved): at or below `low_stock_quantity` (the reorder point)
    is low; above `overstock_quantity` is overstock. A row without a warehouse sums every active one.
    The periodic job `check_stock_alerts` raises and resolves the alerts.
    """

    sku = models.ForeignKey(
        "catalog.Sku", verbose_name=_("SKU"), on_delete=models.CASCADE, related_name="stock_thresholds"
    )
    warehouse = models.ForeignKey(
        Warehouse,
        verbose_name=_("仓库"),
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="+",
        help_text=_("不选表示全部仓库合计"),
    )
    low_stock_quantity = models.PositiveIntegerField(_("低库存线（补货点）"), null=True, blank=True)
    overstock_quantity = models.PositiveIntegerField(_("超储线"), null=True, blank=True)
    is_active = models.BooleanField(_("启用"), default=True)
    updated_at = models.DateTimeField(_("更新时间"), auto_now=True)

    class Meta:
        verbose_name = _("库存预警线")
        verbose_name_plural = _("库存预警线")
        ordering = ["sku_id", "warehouse_id"]
        constraints = [
            models.UniqueConstraint(
                fields=["sku", "warehouse"],
                condition=Q(warehouse__isnull=False),
                name="inventory_threshold_unique_sku_warehouse",
            ),
            models.UniqueConstraint(
                fields=["sku"], condition=Q(warehouse__isnull=True), name="inventory_threshold_unique_sku_all"
            ),
            models.CheckConstraint(
                condition=Q(low_stock_quantity__isnull=True)
                | Q(overstock_quantity__isnull=True)
                | Q(overstock_quantity__gt=F("low_stock_quantity")),
                name="inventory_threshold_overstock_above_low",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.sku_id}@{self.warehouse_id or '全部'}: ≤{self.low_stock_quantity} >{self.overstock_quantity}"
