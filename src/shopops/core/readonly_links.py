"""Read-only relation fields link to the related record only for a person who may open it.

Django's and unfold's read-only field renders a foreign key as a link to the related admin page whenever the
page exists, without asking whether the viewer may see it: a 美工 on a product page got links to shops and a
仓储 on a purchase order to user accounts, each answering 403. Unfold builds its read-only field itself (no
hook), so `install()` (called from CoreConfig.ready) replaces its `get_admin_url` with one that asks the
related model's admin for view permission on that record, with the request being answered.
"""

from __future__ import annotations

from typing import Any

from django.utils.html import format_html

from shopops.core.context import current_request


def _admin_url(self: Any, remote_field: Any, remote_obj: Any) -> Any:
    request = current_request()
    related_admin = (
        self.model_admin.admin_site._registry.get(remote_field.model) if self.model_admin else None
    )
    if request is not None and (
        related_admin is None or not related_admin.has_view_permission(request, remote_obj)
    ):
        return format_html("{}", remote_obj)
    return _original(self, remote_field, remote_obj)


_original: Any = None


def install() -> None:
    global _original
    from unfold.fields import UnfoldAdminReadonlyField

    if _original is None:
        _original = UnfoldAdminReadonlyField.get_admin_url
        UnfoldAdminReadonlyField.get_admin_url = _admin_url
