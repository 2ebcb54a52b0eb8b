"""Orders API: orders, lines, timeline, review issues, saved filters, import and export."""

from ninja import Router

router = Router(tags=["orders"])
