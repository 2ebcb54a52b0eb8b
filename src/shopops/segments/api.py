"""REST API of segments."""

from __future__ import annotations

from ninja import Router

router = Router(tags=["segments"])
