"""What the orders API modules share: one router, so reads and writes on the same path share one URL.

Two routers attached at the same prefix would each get their own URL pattern for `/orders`; Django
dispatches to the first, so POST /orders would answer 405 from the read router.
"""

from ninja import Router

router = Router(tags=["orders"])
