from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class PurchasingConfig(AppConfig):
    name = "shopops.purchasing"
    label = "purchasing"
    verbose_name = _("采购管理")
