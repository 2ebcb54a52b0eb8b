"""The extra permissions of the after-sales steps, checked in the services for people (not for jobs)."""

from __future__ import annotations

from typing import Any

from shopops.core.audit import user_or_none
from shopops.core.permissions import check_permission


def require_permission(actor: Any, permission: str) -> None:
    """A person must hold `permission`; system actors (None, "cli:…", jobs, imports) are trusted callers."""
    user = user_or_none(actor)
    if user is not None:
        check_permission(user, permission)
