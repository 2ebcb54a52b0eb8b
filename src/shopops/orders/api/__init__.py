"""Orders API: writes (create with Idempotency-Key, transitions, memo, review) and reads (search, detail, export)."""

from shopops.orders.api.common import router

# Importing a sub-module registers its operations on the shared router (see common.py for why it is one).
from shopops.orders.api import imports, sku_mapping, read, actions  # isort: skip  (imports, sku_mapping: before /orders/{id})

__all__ = ["actions", "imports", "read", "router", "sku_mapping"]
