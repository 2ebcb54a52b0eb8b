"""Permission checks and row scoping (shops, warehouses), decided in one place."""

from __future__ import annotations

from typing import Any, TypeVar

from django.db import models

from shopops.core.errors import PermissionDeniedError

M = TypeVar("M", bound=models.Model)


def check_permission(user: Any, permission: str) -> None:
    """Refuse with a 403 domain error unless `user` holds `permission` (`app_label.codename`)."""
    if user is None or not getattr(user, "is_authenticated", False) or not user.is_active:
        raise PermissionDeniedError("请先登录", code="not_authenticated")
    if not user.has_perm(permission):
        raise PermissionDeniedError(f"没有权限：{permission}", fields={"permission": permission})


def shop_ids_for(user: Any) -> set[int] | None:
    """The shop ids this user is limited to, or None when the user sees every shop."""
    if user is None or not getattr(user, "is_authenticated", False):
        return set()
    if user.is_superuser or getattr(user, "has_all_shops", True):
        return None
    return set(user.shop_scope.values_list("pk", flat=True))


class ScopedQuerySet(models.QuerySet[M]):
    """A queryset that knows which field ties a row to a shop: `SCOPE_SHOP_FIELD` on the model.

    `for_user(user)` is applied by the API, the admin and exports alike; rows outside the scope
    behave as if they did not exist (404).
    """

    def for_user(self, user: Any) -> ScopedQuerySet[M]:
        field = getattr(self.model, "SCOPE_SHOP_FIELD", None)
        if field is None:
            return self
        allowed = shop_ids_for(user)
        if allowed is None:
            return self
        return self.filter(**{f"{field}__in": allowed})
