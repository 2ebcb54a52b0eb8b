"""The inventory ledger check for the restore drill (`integrity` extension): what `shopops stock verify` proves."""

from __future__ import annotations

from shopops.inventory import queries as inventory_queries


def verify() -> list[str]:
    """One line per stock level that differs from its ledger sum or its active reservations; [] when sound."""
    return [
        f"库存与流水不符：SKU {drift.sku_id} 仓库 {drift.warehouse_id}：在库 {drift.on_hand}，流水合计 "
        f"{drift.ledger_on_hand}；预占 {drift.reserved}，流水预占 {drift.ledger_reserved}，"
        f"有效预占单 {drift.reserved_by_reservations}"
        for drift in inventory_queries.verify_stock()
    ]
