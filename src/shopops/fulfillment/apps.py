from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class FulfillmentConfig(AppConfig):
    name = "shopops.fulfillment"
    label = "fulfillment"
    verbose_name = _("发货物流")
