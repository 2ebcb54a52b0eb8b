"""Admin for fulfillment: carriers, parcels (pick, pack, ship, cancel), shipping selected orders, orders at risk."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from unfold.admin import TabularInline
from unfold.contrib.filters.admin import ChoicesDropdownFilter, RelatedDropdownFilter
from unfold.decorators import action
from unfold.widgets import (
    UnfoldAdminDecimalFieldWidget,
    UnfoldAdminIntegerFieldWidget,
    UnfoldAdminSelectWidget,
    UnfoldAdminTextInputWidget,
)

from shopops.channels.models import Shop
from shopops.core.admin_tools import ReadOnlyAdmin, ReasonForm, ShopOpsModelAdmin, action_page, money
from shopops.fulfillment import queries, services
from shopops.fulfillment.models import Carrier, Shipment, ShipmentLine, TrackingEvent
from shopops.inventory.models import Warehouse
from shopops.orders.models import Order

SHIP_PERMISSION = "fulfillment.ship_shipment"
MAX_ORDERS_PER_PAGE = 200


class CarrierAdmin(ShopOpsModelAdmin):
    list_display = ("code", "name", "kuaidi100_code", "kdniao_code", "tracking_pattern", "is_active")
    list_filter = ("is_active",)
    search_fields = ("code", "name", "kuaidi100_code", "kdniao_code")
    fields = ("code", "name", "aliases", "kuaidi100_code", "kdniao_code", "tracking_pattern", "is_active")

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # parcels point at carriers: deactivate instead


class ShipmentLineInline(TabularInline):
    model = ShipmentLine
    fields = ("order_line", "order_shown", "quantity")
    readonly_fields = fields
    extra = 0
    can_delete = False

    @admin.display(description=_("订单"))
    def order_shown(self, line: ShipmentLine) -> str:
        return line.order_line.order.external_id

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class TrackingEventInline(TabularInline):
    model = TrackingEvent
    fields = ("occurred_at", "state", "description", "location", "source")
    readonly_fields = fields
    extra = 0
    can_delete = False
    tab = True

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


def _carrier_field() -> forms.ModelChoiceField:
    return forms.ModelChoiceField(
        label=_("快递公司"), queryset=Carrier.objects.filter(is_active=True), widget=UnfoldAdminSelectWidget()
    )


def _tracking_field(label: str) -> forms.CharField:
    return forms.CharField(label=label, max_length=40, required=False, widget=UnfoldAdminTextInputWidget())


def _cost_field(label: str) -> forms.DecimalField:
    return forms.DecimalField(
        label=label,
        min_value=0,
        max_digits=14,
        decimal_places=2,
        initial="0.00",
        widget=UnfoldAdminDecimalFieldWidget(),
    )


class ShipForm(forms.Form):
    """One carrier for all; a tracking number and a shipping cost per parcel (or per order)."""

    def __init__(
        self,
        *args: Any,
        keys: list[tuple[int, str]],
        warehouses: QuerySet[Warehouse] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.keys = keys
        self.fields["carrier"] = _carrier_field()
        if warehouses is not None:
            self.fields["warehouse"] = forms.ModelChoiceField(
                label=_("发货仓"),
                queryset=warehouses,
                required=False,
                help_text=_("留空：从预占库存的仓库发出"),
                widget=UnfoldAdminSelectWidget(),
            )
        for key, label in keys:
            self.fields[f"tracking_{key}"] = _tracking_field(f"{label} {_('运单号')}")
            self.fields[f"cost_{key}"] = _cost_field(f"{label} {_('运费成本')}")

    def entries(self) -> list[tuple[int, str, Any]]:
        """(key, tracking number, cost) for every row, blank tracking numbers included: the service
        reports a row left blank instead of it vanishing."""
        return [
            (key, (self.cleaned_data.get(f"tracking_{key}") or "").strip(), self.cleaned_data[f"cost_{key}"])
            for key, _label in self.keys
        ]


class AtRiskForm(forms.Form):
    within_hours = forms.IntegerField(
        label=_("预警窗口(小时)"),
        min_value=0,
        max_value=24 * 30,
        initial=queries.DEFAULT_WARNING_HOURS,
        widget=UnfoldAdminIntegerFieldWidget(),
    )

    def __init__(self, *args: Any, shops: QuerySet[Shop], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["shop"] = forms.ModelChoiceField(
            label=_("店铺"), queryset=shops, required=False, widget=UnfoldAdminSelectWidget()
        )


def report_bulk_ship(request: HttpRequest, results: list[tuple[Any, Any]], *, shipped_text: Any) -> None:
    """One message per outcome of a bulk ship, each row named as a person knows it (包裹 #12（顺丰 SF…）,
    订单 T…): how many shipped, which were left blank (no tracking number), why each refusal happened."""
    shipped = [result for _label, result in results if result.is_shipped]
    if shipped:
        messages.success(request, shipped_text % {"count": len(shipped)})
    blank = [str(label) for label, result in results if result.is_skipped]
    if blank:
        messages.warning(
            request,
            _("未填运单号，未发货（%(count)d）：%(rows)s") % {"count": len(blank), "rows": "、".join(blank)},
        )
    for label, result in results:
        if result.warnings:
            messages.warning(request, f"{label}：" + "；".join(result.warnings))
        if not result.is_shipped and not result.is_skipped:
            # a refusal that already names its order or parcel is not prefixed with it again
            named = result.message.startswith(("订单 ", "包裹 #"))
            messages.error(request, result.message if named else f"{label}：{result.message}")


class ShipmentAdmin(ShopOpsModelAdmin):
    # the 工作台's to-do counts link here with these filters (shopops.dashboard)
    linked_lookups = ("status__exact",)
    list_display = (
        "id",
        "shop",
        "warehouse",
        "status",
        "carrier",
        "tracking_number",
        "orders_shown",
        "cost_shown",
        "has_problem",
        "created_at",
        "shipped_at",
    )
    list_filter = (
        ("status", ChoicesDropdownFilter),
        "source",
        "has_problem",
        ("shop", RelatedDropdownFilter),
        ("warehouse", RelatedDropdownFilter),
        ("carrier", RelatedDropdownFilter),
    )
    search_fields = ("tracking_number", "lines__order_line__order__external_id")
    list_select_related = ("shop", "warehouse", "carrier")
    inlines = (ShipmentLineInline, TrackingEventInline)
    actions = ["pick_selected", "pack_selected", "ship_selected", "cancel_selected"]
    actions_list = ["at_risk", "ship_orders"]
    fields = (
        "shop",
        "warehouse",
        "status",
        "source",
        "carrier",
        "tracking_number",
        "cost_shown",
        "weight_grams",
        "warnings",
        "tracking_state",
        "has_problem",
        "problem_note",
        "created_by",
        "created_at",
        "picked_at",
        "packed_at",
        "shipped_at",
        "delivered_at",
        "last_tracked_at",
        "note",
    )
    readonly_fields = fields

    @admin.display(description=_("订单"))
    def orders_shown(self, shipment: Shipment) -> str:
        return "、".join(sorted({line.order_line.order.external_id for line in shipment.lines.all()}))

    @admin.display(description=_("运费成本"), ordering="shipping_cost")
    def cost_shown(self, shipment: Shipment) -> str:
        return money(shipment.shipping_cost)

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        return super().get_queryset(request).prefetch_related("lines__order_line__order")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # parcels are made from orders: "发货" page, split/merge, or the API

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # cancelled, never deleted

    def has_ship_permission(self, request: HttpRequest, object_id: Any = None) -> bool:
        return request.user.has_perm(SHIP_PERMISSION)

    # Changelist actions.

    def _each(
        self, request: HttpRequest, queryset: QuerySet[Shipment], function: Callable[..., Any], label: Any
    ) -> None:
        done = sum(
            1
            for shipment in queryset
            if self.call_service(request, function, shipment_id=shipment.pk, actor=request.user)
        )
        messages.success(request, _("%(action)s完成：%(count)d 个包裹") % {"action": label, "count": done})

    @admin.action(description=_("拣货"), permissions=["change"])
    def pick_selected(self, request: HttpRequest, queryset: QuerySet[Shipment]) -> None:
        self._each(request, queryset, services.pick_shipment, _("拣货"))

    @admin.action(description=_("打包"), permissions=["change"])
    def pack_selected(self, request: HttpRequest, queryset: QuerySet[Shipment]) -> None:
        self._each(request, queryset, services.pack_shipment, _("打包"))

    @admin.action(description=_("取消包裹"), permissions=["change"])
    def cancel_selected(self, request: HttpRequest, queryset: QuerySet[Shipment]) -> HttpResponse | None:
        form = ReasonForm(request.POST if request.POST.get("step") == "apply" else None)
        if request.POST.get("step") == "apply" and form.is_valid():
            done = sum(
                1
                for shipment in queryset
                if self.call_service(
                    request,
                    services.cancel_shipment,
                    shipment_id=shipment.pk,
                    actor=request.user,
                    reason=form.cleaned_data["reason"],
                )
            )
            messages.success(request, _("已取消 %(count)d 个包裹") % {"count": done})
            return None
        return action_page(
            self,
            request,
            queryset,
            action_name="cancel_selected",
            title=_("取消包裹"),
            form=form,
            next_step="apply",
            submit_label=_("取消包裹"),
            description=_("只能取消尚未发货的包裹；取消不影响库存，商品可重新建包。"),
        )

    @admin.action(description=_("发货"), permissions=["ship"])
    def ship_selected(self, request: HttpRequest, queryset: QuerySet[Shipment]) -> HttpResponse | None:
        parcels = list(queryset.order_by("pk"))
        keys = [(parcel.pk, f"#{parcel.pk}") for parcel in parcels]
        form = ShipForm(request.POST if request.POST.get("step") == "apply" else None, keys=keys)
        if request.POST.get("step") == "apply" and form.is_valid():
            items = [
                services.BulkShipItem(
                    shipment_id=key,
                    carrier=form.cleaned_data["carrier"].pk,
                    tracking_number=number,
                    shipping_cost=cost,
                )
                for key, number, cost in form.entries()
            ]
            results = services.bulk_ship(actor=request.user, items=items)
            labels = {parcel.pk: services.parcel_label(parcel) for parcel in parcels}
            report_bulk_ship(
                request,
                [(labels.get(r.shipment_id, f"#{r.shipment_id}"), r) for r in results],
                shipped_text=_("已发货 %(count)d 个包裹"),
            )
            return None
        preview = {
            "headers": [_("包裹"), _("店铺"), _("发货仓"), _("状态"), _("订单")],
            "rows": [
                [f"#{p.pk}", p.shop, p.warehouse, p.get_status_display(), self.orders_shown(p)]
                for p in parcels
            ],
        }
        return action_page(
            self,
            request,
            queryset,
            action_name="ship_selected",
            title=_("确认发货"),
            form=form,
            next_step="apply",
            submit_label=_("确认发货"),
            description=_("填写运单号的包裹发货（扣减库存）；运单号格式不符只提醒，不阻止。"),
            preview=preview,
        )

    # Pages.

    @action(description=_("发货超时预警"), url_path="at-risk", permissions=["view"], icon="timer")
    def at_risk(self, request: HttpRequest) -> HttpResponse:
        """Paid orders not fully shipped whose shipping deadline is passed or near."""
        shops = Shop.objects.for_user(request.user).order_by("code")
        form = AtRiskForm(request.POST or request.GET or None, shops=shops)
        data = form.cleaned_data if form.is_bound and form.is_valid() else {}
        shop = data.get("shop")
        rows = queries.orders_at_risk(
            within_hours=data.get("within_hours", queries.DEFAULT_WARNING_HOURS),
            shop_id=shop.pk if shop else None,
            user=request.user,
        )
        now = timezone.localtime()
        preview = {
            "headers": [
                _("订单"),
                _("店铺"),
                _("状态"),
                _("付款时间"),
                _("发货截止"),
                _("剩余小时"),
                _("待发件数"),
            ],
            "rows": [
                [
                    row.external_id,
                    row.shop_name,
                    row.status,
                    timezone.localtime(row.paid_at).strftime("%Y-%m-%d %H:%M"),
                    timezone.localtime(row.deadline).strftime("%Y-%m-%d %H:%M"),
                    f"{'已超时 ' if row.is_overdue else ''}{row.hours_left}",
                    row.unshipped_units,
                ]
                for row in rows
            ],
        }
        return action_page(
            self,
            request,
            Shipment.objects.none(),
            action_name="at_risk",
            title=_("发货超时预警（%(count)d 单，%(now)s）")
            % {"count": len(rows), "now": f"{now:%m-%d %H:%M}"},
            form=form,
            next_step="refresh",
            submit_label=_("刷新"),
            description=_(
                "已付款未发完的订单：发货截止 = 付款时间 + 店铺承诺时效（默认 48 小时），已超时或在预警窗口内到期。"
            ),
            preview=preview,
        )

    def _orders_from(self, request: HttpRequest) -> list[Order]:
        wanted = []
        for part in (request.GET.get("orders") or "").split(","):
            if part.strip().isdigit():
                wanted.append(int(part.strip()))
        return list(
            Order.objects.for_user(request.user).filter(pk__in=wanted[:MAX_ORDERS_PER_PAGE]).order_by("pk")
        )

    @action(description=_("订单发货"), url_path="ship-orders", permissions=["ship"], icon="local_shipping")
    def ship_orders(self, request: HttpRequest) -> HttpResponse:
        """`?orders=1,2,3`: one parcel per order with everything it still has to ship, shipped at once."""
        orders = self._orders_from(request)
        keys = [(order.pk, order.external_id) for order in orders]
        warehouses = Warehouse.objects.for_user(request.user).filter(is_active=True)
        form = ShipForm(
            request.POST if request.POST.get("step") == "apply" else None, keys=keys, warehouses=warehouses
        )
        if request.POST.get("step") == "apply" and form.is_valid():
            warehouse = form.cleaned_data.get("warehouse")
            results = services.bulk_ship_orders(
                actor=request.user,
                carrier=form.cleaned_data["carrier"],
                items=[
                    services.OrderShipItem(order_id=key, tracking_number=number, shipping_cost=cost)
                    for key, number, cost in form.entries()
                ],
                warehouse_id=warehouse.pk if warehouse else None,
            )
            report_bulk_ship(
                request,
                [(_("订单 %(number)s") % {"number": r.order_number}, r) for r in results],
                shipped_text=_("已发货 %(count)d 个订单"),
            )
            return HttpResponseRedirect(reverse("admin:fulfillment_shipment_changelist"))
        left = services.open_quantities(line for order in orders for line in order.lines.all())
        preview = {
            "headers": [_("订单"), _("店铺"), _("状态"), _("待发件数")],
            "rows": [
                [
                    order.external_id,
                    order.shop,
                    order.get_status_display(),
                    sum(left.get(line.pk, 0) for line in order.lines.all()),
                ]
                for order in orders
            ],
        }
        if not orders:
            messages.info(request, _("请先在订单列表中选择要发货的订单（?orders=1,2,3）"))
        return action_page(
            self,
            request,
            Shipment.objects.none(),
            action_name="ship_orders",
            title=_("订单发货"),
            form=form,
            next_step="apply",
            submit_label=_("确认发货"),
            description=_(
                "每个订单一个包裹，包含全部待发商品，从预占仓库发出并扣减库存；没填运单号的订单不发货，结果中会列出。"
            ),
            preview=preview,
        )


class TrackingEventAdmin(ReadOnlyAdmin):
    list_display = (
        "shipment",
        "tracking_number",
        "occurred_at",
        "state",
        "description",
        "location",
        "source",
    )
    list_filter = (("state", ChoicesDropdownFilter), "source")
    search_fields = ("shipment__tracking_number", "description")
    list_select_related = ("shipment",)

    @admin.display(description=_("运单号"), ordering="shipment__tracking_number")
    def tracking_number(self, event: TrackingEvent) -> str:
        return event.shipment.tracking_number

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        # events belong to a shop through their parcel
        visible = Shipment.objects.for_user(request.user).values("pk")
        return super().get_queryset(request).filter(shipment__in=visible)


admin.site.register(Carrier, CarrierAdmin)
admin.site.register(TrackingEvent, TrackingEventAdmin)
admin.site.register(Shipment, ShipmentAdmin)
