"""Exchange rates (汇率) into the reporting currency: entered by finance, used by 数据中心 for orders in other
currencies (see warehouse/facts.py)."""

from __future__ import annotations

from django.contrib import admin

from shopops.analytics.models import ExchangeRate
from shopops.core.admin_tools import ShopOpsModelAdmin


@admin.register(ExchangeRate)
class ExchangeRateAdmin(ShopOpsModelAdmin):
    list_display = ("day", "currency", "rate", "updated_at")
    list_filter = ("currency",)
    search_fields = ("currency",)
    date_hierarchy = "day"
    ordering = ("-day", "currency")
