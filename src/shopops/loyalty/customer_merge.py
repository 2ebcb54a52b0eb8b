"""Loyalty's part in a customer merge: the source's points move to the target through the ledger (lot by
lot, expiry dates kept); an unmerge writes them back. Earlier rows never change (append-only)."""

from __future__ import annotations

from typing import Any

from shopops.loyalty import services


def merged(source: Any, target: Any) -> dict[str, list[int]]:
    moved = services.move_to(source_customer_id=source.pk, target_customer_id=target.pk, actor=None)
    return {"loyalty.PointsEntry": moved} if moved else {}


def unmerged(source: Any, target: Any, moved: dict[str, list[int]]) -> None:
    services.move_back(
        source_customer_id=source.pk,
        target_customer_id=target.pk,
        entry_ids=list(moved.get("loyalty.PointsEntry", [])),
        actor=None,
    )
