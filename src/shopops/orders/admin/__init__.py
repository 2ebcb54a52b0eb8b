"""Admin for orders: order list and pages, the exception queue (审单异常) and saved filters."""

from django.contrib import admin

from shopops.orders.admin.issues import OrderIssueAdmin
from shopops.orders.admin.orders import OrderAdmin
from shopops.orders.admin.saved_filters import SavedFilterAdmin
from shopops.orders.admin.sku_mapping import SkuMappingAdmin
from shopops.orders.models import Order, OrderIssue, SavedFilter, SkuMapping

admin.site.register(Order, OrderAdmin)
admin.site.register(OrderIssue, OrderIssueAdmin)
admin.site.register(SavedFilter, SavedFilterAdmin)
admin.site.register(SkuMapping, SkuMappingAdmin)
