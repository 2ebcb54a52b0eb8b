from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CoreConfig(AppConfig):
    name = "shopops.core"
    label = "core"
    verbose_name = _("系统")

    def ready(self) -> None:
        from shopops.core import readonly_links

        readonly_links.install()
