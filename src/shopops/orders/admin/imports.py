"""Admin order import: the core import pages (core.admin_imports) for platform order export files."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

from shopops.channels.queries import load_platform_format, platform_format_names
from shopops.core.admin_imports import ImportJobAdminMixin, import_action
from shopops.orders import tasks as order_tasks


def platform_formats() -> list[tuple[str, str]]:
    """(name, label) of every shipped platform export format, for the 平台格式 choice."""
    return [(name, str(load_platform_format(name).label)) for name in platform_format_names()]


class OrderImportAdminMixin(ImportJobAdminMixin):
    """The order list's "导入订单" button (`import_orders` in `actions_list`) and the import job pages."""

    import_kind = "orders"
    import_title = _("导入订单")
    import_permissions = ("orders.add_order", "orders.change_order")
    import_task = order_tasks.run_order_import
    import_action_name = "import_orders"
    import_shop_field = "shop"
    import_formats = staticmethod(platform_formats)
    import_intro = _(
        "平台后台导出的订单文件（淘宝/天猫、京东、拼多多、Shopify、抖店或我们的模板）：按店铺 + 订单号匹配，"
        "已有的订单按平台状态更新，新的创建；地址不全、买家留言等问题进入审单异常。"
    )
    import_file_help = _('CSV（UTF-8 或 GB18030，淘宝的 ="…" 订单号可直接导入）或 XLSX')
    import_preview_key_label = _("订单号")

    import_orders = import_action(_("导入订单"))
