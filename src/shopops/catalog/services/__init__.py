"""Catalog and pricing actions: categories, brands, products, SKUs, merchant codes, prices, listings.

One module per area; this package re-exports every public action so callers write
`from shopops.catalog import services as catalog_services` and `catalog_services.change_price(...)`.
"""

from shopops.catalog.services.bulk import (
    apply_bulk_price_adjustment,
    preview_bulk_price_adjustment,
    round_price,
)
from shopops.catalog.services.categories import (
    create_brand,
    create_category,
    generate_merchant_code,
    update_category,
    validate_coding_pattern,
)
from shopops.catalog.services.common import (
    BULK_MODES,
    BULK_ROUNDINGS,
    CATEGORY_PATH_SEPARATOR,
    CODING_PLACEHOLDERS,
    DEFAULT_CODING_PATTERN,
    MAX_CODE_ATTEMPTS,
    AppliedSummary,
    BulkPriceResult,
    BulkPriceRow,
    DuplicateBarcode,
    DuplicateMerchantCode,
    GuardIssue,
    IllegalListingTransition,
    PriceChange,
    PriceGuardBlocked,
    PriceGuardError,
    PriceGuardWarning,
    PriceOutOfRange,
)
from shopops.catalog.services.listings import (
    set_listing_status,
)
from shopops.catalog.services.pricing import (
    PolicyResolver,
    change_price,
    check_price_guard,
    margin_percent,
    price_issues,
)
from shopops.catalog.services.products import (
    PRODUCT_FIELDS,
    create_product,
    save_product_images,
    update_product,
)
from shopops.catalog.services.schedules import (
    OPEN_SCHEDULE_STATUSES,
    apply_due_price_changes,
    cancel_scheduled_price_change,
    create_promo_price,
    deactivate_promo_price,
    schedule_price_change,
)
from shopops.catalog.services.skus import (
    SKU_FIELDS,
    SKU_PRICE_FIELDS,
    create_sku,
    spec_from_attributes,
    update_sku,
)

__all__ = [
    "AppliedSummary",
    "BULK_MODES",
    "BULK_ROUNDINGS",
    "BulkPriceResult",
    "BulkPriceRow",
    "CATEGORY_PATH_SEPARATOR",
    "CODING_PLACEHOLDERS",
    "DEFAULT_CODING_PATTERN",
    "DuplicateBarcode",
    "DuplicateMerchantCode",
    "GuardIssue",
    "IllegalListingTransition",
    "MAX_CODE_ATTEMPTS",
    "OPEN_SCHEDULE_STATUSES",
    "PRODUCT_FIELDS",
    "PolicyResolver",
    "PriceChange",
    "PriceGuardBlocked",
    "PriceGuardError",
    "PriceGuardWarning",
    "PriceOutOfRange",
    "SKU_FIELDS",
    "SKU_PRICE_FIELDS",
    "apply_bulk_price_adjustment",
    "apply_due_price_changes",
    "cancel_scheduled_price_change",
    "change_price",
    "check_price_guard",
    "create_brand",
    "create_category",
    "create_product",
    "save_product_images",
    "create_promo_price",
    "create_sku",
    "deactivate_promo_price",
    "generate_merchant_code",
    "margin_percent",
    "preview_bulk_price_adjustment",
    "price_issues",
    "round_price",
    "schedule_price_change",
    "set_listing_status",
    "spec_from_attributes",
    "update_category",
    "update_product",
    "update_sku",
    "validate_coding_pattern",
]
