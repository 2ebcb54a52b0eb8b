"""Catalog and pricing API: categories, brands, products, SKUs, prices, promotions, listings."""

from shopops.catalog.api.common import router

# Importing a sub-module registers its operations on the shared router, and the OpenAPI document
# lists operations in registration order: keep this order (the order the API guide follows).
from shopops.catalog.api import categories, products, pricing, listings, transfer  # isort: skip

__all__ = ["categories", "listings", "pricing", "products", "router", "transfer"]
