"""Shared pieces of the after-sales services: errors, locking, the status move with its timeline rows."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.utils import timezone

from shopops.aftersales.models import (
    CASE_TRANSITIONS,
    AfterSaleCase,
    CaseEvent,
    CaseStatus,
    sla_hours,
)
from shopops.core import audit
from shopops.core.audit import user_or_none
from shopops.core.errors import Conflict, InvalidInput, NotFound
from shopops.orders import services as order_services
from shopops.orders.models import Order
from shopops.orders.services.common import RefundTooLarge as RefundTooLarge  # one error: orders owns refunds

REFERENCE_TYPE = "aftersale"
VIA_VALUES = frozenset({"admin", "api", "import", "system", "demo"})


class IllegalCaseTransition(Conflict):
    """The case's status (or kind) does not allow this step."""

    code = "illegal_case_transition"


class UnitsNotAvailable(Conflict):
    """More units than the order line still has (bought − refunded − in other open cases)."""

    code = "units_not_available"


class OrderNotEligible(Conflict):
    code = "order_not_eligible"


class WarehouseNotDefective(InvalidInput):
    """Grade B and supplier claims go to a defective-goods warehouse (残次品仓) only."""

    code = "warehouse_not_defective"


class InspectionMismatch(InvalidInput):
    """Inspected units per line must equal the units received."""

    code = "inspection_mismatch"


def status_label(status: str) -> str:
    return str(CaseStatus(status).label)


def clean_via(via: str) -> str:
    if via not in VIA_VALUES:
        raise InvalidInput("来源无效", fields={"via": f"须为 {', '.join(sorted(VIA_VALUES))} 之一"})
    return via


def lock_case(case_id: int) -> tuple[AfterSaleCase, Order]:
    """Lock the case's order, then the case (the order first everywhere: apply and refund both lock it)."""
    order_id = AfterSaleCase.objects.filter(pk=case_id).values_list("order_id", flat=True).first()
    if order_id is None:
        raise NotFound("售后单不存在", fields={"case_id": "不存在"})
    order = Order.objects.select_for_update().get(pk=order_id)
    case = AfterSaleCase.objects.select_for_update().get(pk=case_id)
    return case, order


def refuse(case: AfterSaleCase, step: str) -> IllegalCaseTransition:
    return IllegalCaseTransition(
        f"售后单 #{case.pk}（{case.get_kind_display()}）当前状态为「{status_label(case.status)}」，不能{step}",
        fields={"status": case.status},
    )


def require_status(case: AfterSaleCase, statuses: set[str] | frozenset[str], step: str) -> None:
    if case.status not in statuses:
        raise refuse(case, step)


def sla_due(case: AfterSaleCase, status: str, now: dt.datetime) -> dt.datetime | None:
    hours = sla_hours(status, case.kind)
    return None if hours is None else now + dt.timedelta(hours=hours)


def record_step(
    case: AfterSaleCase,
    *,
    order: Order,
    actor: Any,
    via: str,
    action: str,
    message: str = "",
    from_status: str = "",
    changes: dict[str, Any] | None = None,
) -> None:
    """The three records of one step: a case event, an order timeline entry and an audit entry."""
    user = user_or_none(actor)
    CaseEvent.objects.create(
        case=case, from_status=from_status, to_status=case.status, actor=user, via=via, message=message[:500]
    )
    summary = f"售后 #{case.pk}（{case.get_kind_display()}）：{status_label(case.status)}"
    order_services.add_order_event(
        order=order,
        kind="aftersale",
        actor=actor,
        via=via,
        message=f"{summary}{'，' + message if message else ''}"[:500],
        changes={"case_id": case.pk, "case_status": [from_status, case.status], **(changes or {})},
    )
    audit.record(
        actor=actor,
        action=action,
        instance=case,
        changes={"status": [from_status, case.status], **(changes or {})},
        reason=message,
    )


def move(
    case: AfterSaleCase,
    to_status: str,
    *,
    order: Order,
    actor: Any,
    via: str,
    action: str,
    message: str = "",
    now: dt.datetime | None = None,
    changes: dict[str, Any] | None = None,
) -> None:
    """Move the case along CASE_TRANSITIONS (refusing anything else), restart its SLA timer, save, record."""
    if to_status not in CASE_TRANSITIONS[case.status]:
        raise IllegalCaseTransition(
            f"售后单 #{case.pk} 不能从「{status_label(case.status)}」变为「{status_label(to_status)}」",
            fields={"status": case.status},
        )
    now = now or timezone.now()
    from_status = case.status
    case.status = to_status
    case.sla_due_at = sla_due(case, to_status, now)
    user = user_or_none(actor)
    if user is not None:
        case.handler = user
    case.save()
    record_step(
        case,
        order=order,
        actor=actor,
        via=via,
        action=action,
        message=message,
        from_status=from_status,
        changes=changes,
    )
