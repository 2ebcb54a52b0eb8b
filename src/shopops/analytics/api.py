"""Analytics API (/api/v1/analytics/…): metrics, reports, imports of platform traffic and ad spend."""

from ninja import Router

router = Router(tags=["analytics"])
