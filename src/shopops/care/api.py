"""REST API of care."""

from __future__ import annotations

from ninja import Router

router = Router(tags=["care"])
