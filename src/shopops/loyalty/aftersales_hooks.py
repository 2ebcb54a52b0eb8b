"""Loyalty's part in an after-sales refund: reverse the order's points in proportion, in the same transaction."""

from __future__ import annotations

from typing import Any

from shopops.loyalty import services


def refund_completed(case: Any) -> None:
    """Called by aftersales inside the refund's transaction, after the order's refunded amount rose."""
    services.reconcile_order_refund(order_id=case.order_id, actor=None)
