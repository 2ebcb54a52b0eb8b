"""A block of an operator page that another app contributes (order workspace, customer profile …)."""

from __future__ import annotations

from dataclasses import dataclass

from django.utils.safestring import SafeString


@dataclass(frozen=True)
class Panel:
    """One block of the page: a title and its rendered body; `order` sorts panels (lower first)."""

    key: str
    title: str
    body: SafeString
    order: int = 100
    side: bool = False  # the narrow right-hand column
