"""Fulfillment's part of the order workspace (orders.admin.workspace discovers this module): the order's
parcels with carrier, tracking number and status, and the parcel steps in place — pack the order into a
parcel, split it, merge it with the receiver's other open orders, pick → pack → ship with carrier and
tracking number, cancel a parcel. Each button shows only when the parcel's transitions and the user's
permission allow it; the services decide again under their locks."""

from __future__ import annotations

from typing import Any

from django.db.models import Prefetch
from django.http import HttpRequest
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.translation import gettext as _

from shopops.core.errors import DomainError, InvalidInput
from shopops.fulfillment import queries, services
from shopops.fulfillment.models import (
    SHIPMENT_TRANSITIONS,
    Carrier,
    Shipment,
    ShipmentLine,
    ShipmentStatus,
)
from shopops.fulfillment.services.common import check_shippable
from shopops.orders.admin.workspace import Panel, WorkspaceAction, action_url
from shopops.orders.models import Order

CHANGE = "fulfillment.change_shipment"
SHIP = "fulfillment.ship_shipment"
VIEW = "fulfillment.view_shipment"


def parcels_of(order: Order) -> list[Shipment]:
    lines = ShipmentLine.objects.select_related("order_line__sku").order_by("order_line__line_no")
    return list(
        Shipment.objects.filter(lines__order_line__order=order)
        .distinct()
        .select_related("carrier", "warehouse")
        .prefetch_related(Prefetch("lines", queryset=lines))
        .order_by("created_at", "pk")
    )


def _shippable_reason(order: Order) -> str | None:
    """Why the order cannot be packed now (the services' own check), or None."""
    try:
        check_shippable(order)
    except DomainError as error:
        return error.message
    return None


def _merge_partners(request: HttpRequest, order: Order) -> list[tuple[int, str]]:
    for group in queries.merge_candidates(shop_id=order.shop_id, user=request.user):
        if order.pk in group.order_ids:
            return [
                (pk, external_id)
                for pk, external_id in zip(group.order_ids, group.external_ids, strict=True)
                if pk != order.pk
            ]
    return []


def _zone(order: Order) -> Any:
    import zoneinfo

    try:
        return zoneinfo.ZoneInfo(order.shop.timezone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return zoneinfo.ZoneInfo("Asia/Shanghai")


def panels(request: HttpRequest, order: Order) -> list[Panel]:
    user = request.user
    if not user.has_perm(VIEW):
        return []
    can_change, can_ship = user.has_perm(CHANGE), user.has_perm(SHIP)
    zone = _zone(order)
    rows = []
    for parcel in parcels_of(order):
        moves = SHIPMENT_TRANSITIONS.get(parcel.status, frozenset())
        rows.append(
            {
                "parcel": parcel,
                "units": [
                    (
                        line.order_line.sku.merchant_code if line.order_line.sku else line.order_line.title,
                        line.quantity,
                    )
                    for line in parcel.lines.all()
                ],
                "shipped_at": timezone.localtime(parcel.shipped_at, zone) if parcel.shipped_at else None,
                "can_pick": can_change and ShipmentStatus.PICKING in moves,
                "can_pack": can_change and ShipmentStatus.PACKED in moves,
                "can_ship": can_ship and ShipmentStatus.SHIPPED in moves and _shippable_reason(order) is None,
                "can_cancel": can_change and ShipmentStatus.CANCELLED in moves,
            }
        )
    lines = list(order.lines.all())
    refusal = _shippable_reason(order)
    if refusal is not None and not any(queries.left_to_ship(line) for line in lines):
        refusal = None  # everything has left: nothing to explain
    left = sum(queries.open_quantities(lines).values()) if refusal is None else 0
    partners = _merge_partners(request, order) if can_change and refusal is None and left else []
    context = {
        "order": order,
        "rows": rows,
        "left": left,
        "refusal": refusal,
        "can_create": can_change and refusal is None and left > 0,
        "can_split": can_change and refusal is None and left > 0 and len(lines) > 1,
        "partners": partners,
        "carriers": list(Carrier.objects.filter(is_active=True).order_by("code").values_list("pk", "name")),
        "urls": {name: action_url(order, name) for name in ACTIONS},
    }
    body = render_to_string("admin/fulfillment/order_workspace/parcels.html", context, request=request)
    return [Panel(key="parcels", title=_("包裹与物流"), body=body, order=30)]


def _parcel(request: HttpRequest, order: Order) -> Shipment:
    """The parcel named in the POST, only if it carries this order's lines."""
    value = str(request.POST.get("shipment", ""))
    parcel = (
        Shipment.objects.filter(pk=int(value), lines__order_line__order=order).distinct().first()
        if value.isdigit()
        else None
    )
    if parcel is None:
        raise InvalidInput(_("包裹不存在或不属于该订单"), fields={"shipment": _("不存在")})
    return parcel


def _create(request: HttpRequest, order: Order) -> str:
    left = {pk: units for pk, units in queries.open_quantities(order.lines.all()).items() if units > 0}
    if not left:
        raise InvalidInput(_("订单没有待打包的商品"), fields={"lines": _("无待发")})
    parcel = services.create_shipment(actor=request.user, lines=left, via="admin")
    return _("已创建包裹 #%(id)s（待拣货）") % {"id": parcel.pk}


def _split(request: HttpRequest, order: Order) -> str:
    parcels = services.split_order(actor=request.user, order_id=order.pk, via="admin")
    return _("已拆分为 %(count)d 个包裹") % {"count": len(parcels)}


def _merge(request: HttpRequest, order: Order) -> str:
    partners = {pk for pk, _external_id in _merge_partners(request, order)}
    chosen = {int(value) for value in request.POST.getlist("orders") if str(value).isdigit()}
    if not chosen or not chosen <= partners:
        raise InvalidInput(_("请选择同一收货人的其他待发订单"), fields={"orders": _("无效")})
    parcel = services.merge_orders(actor=request.user, order_ids=[order.pk, *sorted(chosen)], via="admin")
    return _("已合并为包裹 #%(id)s") % {"id": parcel.pk}


def _pick(request: HttpRequest, order: Order) -> str:
    parcel = services.pick_shipment(actor=request.user, shipment_id=_parcel(request, order).pk, via="admin")
    return _("包裹 #%(id)s 开始拣货") % {"id": parcel.pk}


def _pack(request: HttpRequest, order: Order) -> str:
    parcel = services.pack_shipment(actor=request.user, shipment_id=_parcel(request, order).pk, via="admin")
    return _("包裹 #%(id)s 已打包") % {"id": parcel.pk}


def _ship(request: HttpRequest, order: Order) -> str:
    parcel = _parcel(request, order)
    carrier = str(request.POST.get("carrier", "")).strip()
    if not carrier:
        raise InvalidInput(_("请选择快递公司"), fields={"carrier": _("必填")})
    shipped = services.ship_shipment(
        actor=request.user,
        shipment_id=parcel.pk,
        carrier=int(carrier) if carrier.isdigit() else carrier,
        tracking_number=str(request.POST.get("tracking_number", "")),
        via="admin",
    )
    text = _("已发货：%(carrier)s %(number)s") % {
        "carrier": shipped.carrier,
        "number": shipped.tracking_number,
    }
    if shipped.warnings:
        text += _("（提醒：%(warnings)s）") % {"warnings": "；".join(shipped.warnings)}
    return text


def _cancel(request: HttpRequest, order: Order) -> str:
    parcel = services.cancel_shipment(
        actor=request.user,
        shipment_id=_parcel(request, order).pk,
        reason=str(request.POST.get("reason", "")).strip(),
        via="admin",
    )
    return _("包裹 #%(id)s 已取消") % {"id": parcel.pk}


ACTIONS: dict[str, WorkspaceAction] = {
    "fulfillment_create": WorkspaceAction(CHANGE, _create),
    "fulfillment_split": WorkspaceAction(CHANGE, _split),
    "fulfillment_merge": WorkspaceAction(CHANGE, _merge),
    "fulfillment_pick": WorkspaceAction(CHANGE, _pick),
    "fulfillment_pack": WorkspaceAction(CHANGE, _pack),
    "fulfillment_ship": WorkspaceAction(SHIP, _ship),
    "fulfillment_cancel": WorkspaceAction(CHANGE, _cancel),
}
