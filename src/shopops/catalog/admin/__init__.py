"""Admin for the catalog and prices: every save and action goes through the catalog services."""

from django.contrib import admin

from shopops.catalog.admin.common import CategoryTreeFilter
from shopops.catalog.admin.listings import ChannelListingAdmin, ListingEventAdmin
from shopops.catalog.admin.pricing import (
    PriceHistoryAdmin,
    PricingPolicyAdmin,
    PromoPriceAdmin,
    ScheduledPriceChangeAdmin,
)
from shopops.catalog.admin.products import ProductAdmin, SkuAdmin
from shopops.catalog.admin.taxonomy import BrandAdmin, CategoryAdmin, CodingRuleAdmin
from shopops.catalog.models import (
    Brand,
    Category,
    ChannelListing,
    CodingRule,
    ListingEvent,
    PriceHistory,
    PricingPolicy,
    Product,
    PromoPrice,
    ScheduledPriceChange,
    Sku,
)

# other apps' admin filter their rows by the category tree too
__all__ = ["CategoryTreeFilter"]

admin.site.register(Category, CategoryAdmin)
admin.site.register(Brand, BrandAdmin)
admin.site.register(Product, ProductAdmin)
admin.site.register(Sku, SkuAdmin)
admin.site.register(ChannelListing, ChannelListingAdmin)
admin.site.register(ListingEvent, ListingEventAdmin)
admin.site.register(PriceHistory, PriceHistoryAdmin)
admin.site.register(ScheduledPriceChange, ScheduledPriceChangeAdmin)
admin.site.register(PromoPrice, PromoPriceAdmin)
admin.site.register(PricingPolicy, PricingPolicyAdmin)
admin.site.register(CodingRule, CodingRuleAdmin)
