"""Operating switches kept in the database (see `core.models.Switch`)."""

from __future__ import annotations

from shopops.core.models import Switch

OUTBOUND_PAUSED = "outbound_paused"


def is_on(name: str) -> bool:
    return Switch.objects.filter(name=name, on=True).exists()


def set_switch(name: str, on: bool, reason: str = "") -> None:
    Switch.objects.update_or_create(name=name, defaults={"on": on, "reason": reason[:200]})


def outbound_paused() -> bool:
    """Whether customer messages and platform writes are held (on in a freshly restored copy)."""
    return is_on(OUTBOUND_PAUSED)
