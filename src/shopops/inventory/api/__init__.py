"""Inventory API: one router for stock (warehouses, levels, ledger, reservations, reports) and operations."""

from shopops.inventory.api import operations as _operations  # noqa: F401 - registers its endpoints
from shopops.inventory.api.stock import router

__all__ = ["router"]
