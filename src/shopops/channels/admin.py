"""Admin for shops: saved through the shop services, personal data masked unless the user may see it."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _
from unfold.contrib.filters.admin import ChoicesDropdownFilter

from shopops.channels import services as channel_services
from shopops.channels.models import Shop
from shopops.core.admin_tools import RevealPersonalDataMixin, adopt_saved, changed_values


class ShopAdmin(RevealPersonalDataMixin):
    list_display = ("code", "name", "platform", "is_active", "contact_name", "contact_phone", "updated_at")
    list_display_links = ("code", "name")
    list_filter = (("platform", ChoicesDropdownFilter), "is_active")
    search_fields = ("code", "name")
    readonly_fields = ("settings", "created_at", "updated_at")
    fieldsets = (
        (None, {"fields": ("code", "name", "platform", "timezone", "is_active")}),
        (_("联系信息"), {"fields": ("contact_name", "contact_phone", "return_address")}),
        (_("其他"), {"fields": ("settings", "created_at", "updated_at")}),
    )

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        if change:
            changes = changed_values(form, channel_services.EDITABLE_FIELDS)
            saved = channel_services.update_shop(actor=request.user, shop_id=obj.pk, changes=changes)
        else:
            values = {
                name: form.cleaned_data[name]
                for name in channel_services.EDITABLE_FIELDS
                if name in form.cleaned_data
            }
            saved = channel_services.create_shop(actor=request.user, **values)
        adopt_saved(obj, saved)


admin.site.register(Shop, ShopAdmin)
