"""Inventory: warehouses, stock levels per SKU × warehouse, the stock ledger, reservations and bundles."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class AppendOnlyError(Exception):
    """Stock movements are the ledger: they are never changed or deleted, only appended."""


class WarehouseKind(models.TextChoices):
    OWN = "own", _("自营仓")
    THIRD_PARTY = "3pl", _("第三方仓")
    STORE = "store", _("门店")


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
