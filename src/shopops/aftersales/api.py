"""After-sales API: cases, their workflow, inspections, refunds and return-rate reports."""

from ninja import Router

router = Router(tags=["aftersales"])
