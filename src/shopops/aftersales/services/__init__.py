"""After-sales actions: apply, decide, return, inspect, refund, ship a replacement, cancel, close; SLA alerts.

Workflow (statuses and allowed moves are data: `aftersales.models.CASE_TRANSITIONS`):
refund-only  applied → approved → refunded → closed
return       applied → approved → awaiting_return → received → inspected → refunded → closed
exchange     applied → approved → awaiting_return → received → inspected → exchange_shipped → closed
re-ship      applied → approved → exchange_shipped → closed
plus rejected (→ closed) from applied and cancelled (buyer) from applied / approved / awaiting_return.
Every step writes who/when on the case, a CaseEvent, an order timeline entry and an audit entry.
Lock order: the order, then the case (then stock levels, inside inventory).
"""

from shopops.aftersales.services.cases import (
    apply_case,
    approve_case,
    cancel_case,
    case_stage,
    close_case,
    line_share,
    order_claims,
    reject_case,
    set_return_tracking,
    ship_replacement,
)
from shopops.aftersales.services.common import (
    REFERENCE_TYPE,
    IllegalCaseTransition,
    InspectionMismatch,
    OrderNotEligible,
    RefundTooLarge,
    UnitsNotAvailable,
    WarehouseNotDefective,
)
from shopops.aftersales.services.refunds import refund_case
from shopops.aftersales.services.returns import InspectionResult, inspect_return, receive_return
from shopops.aftersales.services.sla import (
    OVERDUE_KIND,
    OverdueCheck,
    check_overdue_cases,
    overdue_alert_key,
    overdue_cases,
)

__all__ = [
    "OVERDUE_KIND",
    "REFERENCE_TYPE",
    "IllegalCaseTransition",
    "InspectionMismatch",
    "InspectionResult",
    "OrderNotEligible",
    "OverdueCheck",
    "RefundTooLarge",
    "UnitsNotAvailable",
    "WarehouseNotDefective",
    "apply_case",
    "approve_case",
    "cancel_case",
    "case_stage",
    "check_overdue_cases",
    "close_case",
    "inspect_return",
    "line_share",
    "order_claims",
    "overdue_alert_key",
    "overdue_cases",
    "receive_return",
    "refund_case",
    "reject_case",
    "set_return_tracking",
    "ship_replacement",
]
