"""Loyalty's ledger check for the restore drill: every balance equals its points ledger."""

from __future__ import annotations

from shopops.loyalty.queries import verify_points


def verify() -> list[str]:
    """Problems found in the points ledger; [] when every balance equals its ledger sum."""
    return [
        f"积分账户 {drift.account_id}（客户 {drift.customer_id}）余额 {drift.balance}，流水合计 {drift.ledger_sum}"
        for drift in verify_points()
    ]
