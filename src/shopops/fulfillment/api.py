"""Fulfillment API: carriers, shipments, tracking events, delivery timeliness."""

from ninja import Router

router = Router(tags=["fulfillment"])
