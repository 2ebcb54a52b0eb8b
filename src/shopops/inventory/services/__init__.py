"""Stock actions: receive, issue, adjust, reserve, release, commit, expire; warehouses, bundles, scope;
channel stock rules, stocktakes, transfers, write-offs, thresholds and stock alerts.

Every change of a stock level is one conditional UPDATE (the rule in its WHERE clause; on PostgreSQL and
SQLite it returns the new level, see `inventory.ledger`) followed by one ledger row carrying the level
after the change, in the same transaction. The ledger row is the record of a stock change; `core.audit` additionally records the
decisions people make (warehouses, scopes, bundles, safety stock, manual adjustments).

Best warehouse rule (`reserve_stock` without `warehouse_id`): among active warehouses that can cover
the whole request (for a bundle: every component, in the same warehouse), take the one with the most
available units (for a bundle: the most complete bundles), ties to the lowest warehouse id; when a
concurrent reservation drains it first, the next candidate is tried. A request is never split.

One module per area; this package re-exports their names, so `from shopops.inventory import services`
stays the entry point.
"""

from shopops.core.errors import Conflict, InvalidInput, NotFound, PermissionDeniedError
from shopops.inventory.services.alerts import (
    ALERT_ROLES,
    LOW_STOCK_KIND,
    OVERSTOCK_KIND,
    VELOCITY_DAYS,
    AlertCheck,
    check_stock_alerts,
    days_of_cover,
    set_stock_threshold,
)
from shopops.inventory.services.channel import (
    channel_available,
    set_channel_stock_rule,
)
from shopops.inventory.services.common import (
    ADJUSTMENT_TYPES,
    WAREHOUSE_FIELDS,
    InsufficientStock,
    ReservationMismatch,
    StockInconsistent,
    _Shortage,
)
from shopops.inventory.services.reservations import (
    _ReservationRequest,
    _reserve_in,
    commit_reservation,
    component_needs,
    expire_reservations,
    release_reservation,
    reserve_stock,
)
from shopops.inventory.services.stock import (
    adjust_stock,
    create_warehouse,
    issue_stock,
    receive_stock,
    set_bundle_components,
    set_safety_stock,
    set_warehouse_scope,
    update_warehouse,
)
from shopops.inventory.services.stocktake import (
    CountMode,
    StocktakeNotCounting,
    VarianceLine,
    VarianceReport,
    cancel_stocktake,
    find_sku_by_code,
    post_stocktake,
    record_count,
    reopen_stocktake,
    start_stocktake,
    stocktake_variance,
    submit_stocktake,
)
from shopops.inventory.services.transfers import (
    TransferStateError,
    _change_in_transit,
    cancel_transfer,
    change_in_transit,
    close_transfer,
    create_transfer,
    receive_transfer,
    ship_transfer,
    transfer_differences,
    write_off_stock,
)

__all__ = [
    "Conflict",
    "InvalidInput",
    "NotFound",
    "PermissionDeniedError",
    "ADJUSTMENT_TYPES",
    "ALERT_ROLES",
    "AlertCheck",
    "CountMode",
    "InsufficientStock",
    "LOW_STOCK_KIND",
    "OVERSTOCK_KIND",
    "ReservationMismatch",
    "StockInconsistent",
    "StocktakeNotCounting",
    "TransferStateError",
    "VELOCITY_DAYS",
    "VarianceLine",
    "VarianceReport",
    "WAREHOUSE_FIELDS",
    "_ReservationRequest",
    "_Shortage",
    "_change_in_transit",
    "_reserve_in",
    "adjust_stock",
    "cancel_stocktake",
    "cancel_transfer",
    "change_in_transit",
    "channel_available",
    "check_stock_alerts",
    "close_transfer",
    "commit_reservation",
    "component_needs",
    "create_transfer",
    "create_warehouse",
    "days_of_cover",
    "expire_reservations",
    "find_sku_by_code",
    "issue_stock",
    "post_stocktake",
    "receive_stock",
    "receive_transfer",
    "record_count",
    "release_reservation",
    "reopen_stocktake",
    "reserve_stock",
    "set_bundle_components",
    "set_channel_stock_rule",
    "set_safety_stock",
    "set_stock_threshold",
    "set_warehouse_scope",
    "ship_transfer",
    "start_stocktake",
    "stocktake_variance",
    "submit_stocktake",
    "transfer_differences",
    "update_warehouse",
    "write_off_stock",
]
