"""Admin product import (the core import pages, see core.admin_imports) and changelist export."""

from __future__ import annotations

import tempfile
from typing import Any

from django.contrib import messages
from django.contrib.admin.options import IncorrectLookupParameters
from django.core.exceptions import PermissionDenied
from django.http import FileResponse, HttpRequest, HttpResponseRedirect
from django.http.response import HttpResponseBase
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from unfold.decorators import action

from shopops.catalog import imports as catalog_imports
from shopops.catalog import tasks as catalog_tasks
from shopops.core.admin_imports import ImportJobAdminMixin, import_action
from shopops.core.errors import DomainError

EXPORT_CONTENT_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


class ProductImportExportAdmin(ImportJobAdminMixin):
    """The SKU changelist's "导入商品" button and "导出商品" menu, and the import job pages."""

    actions_list = [
        "import_products",
        {
            "title": _("导出商品"),
            "icon": "download",
            "items": ["export_products_csv", "export_products_xlsx"],
        },
    ]
    import_kind = "products"
    import_title = _("导入商品")
    import_permissions = ("catalog.add_sku", "catalog.change_sku", "catalog.change_price")
    import_task = catalog_tasks.run_product_import
    import_action_name = "import_products"
    import_file_help = _(
        "CSV（UTF-8 或 GB18030）或 XLSX，中文表头：商品名称、商家编码、类目、品牌、规格、售价、成本价…"
    )
    import_headers = catalog_imports.EXPORT_HEADERS
    import_preview_key_label = _("商家编码")
    import_form_template = "admin/catalog/product_import.html"

    import_products = import_action(_("导入商品"))

    # Export.

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> Any:
        """The export buttons carry the changelist's filters, search and ordering."""
        response = super().changelist_view(request, extra_context)
        query = request.GET.urlencode()
        context = getattr(response, "context_data", None)
        if not query or not context:
            return response
        export_paths = {self.export_url(file_format) for file_format in EXPORT_CONTENT_TYPES}
        for item in context.get("actions_list", []):
            for entry in item.get("items", [item]) if isinstance(item, dict) else []:
                if entry.get("path") in export_paths:
                    entry["path"] = f"{entry['path']}?{query}"
        return response

    def export_url(self, file_format: str) -> str:
        return reverse(
            f"{self.admin_site.name}:{self.opts.app_label}_{self.opts.model_name}_export_products_{file_format}"
        )

    @action(description=_("导出 CSV"), url_path="export-csv", permissions=["view"], icon="csv")
    def export_products_csv(self, request: HttpRequest) -> HttpResponseBase:
        return self.export_filtered(request, "csv")

    @action(description=_("导出 Excel（XLSX）"), url_path="export-xlsx", permissions=["view"], icon="table")
    def export_products_xlsx(self, request: HttpRequest) -> HttpResponseBase:
        return self.export_filtered(request, "xlsx")

    def export_filtered(self, request: HttpRequest, file_format: str) -> HttpResponseBase:
        """The SKUs of the changelist as filtered by this request's query string, in import format."""
        try:
            queryset = self.get_changelist_instance(request).queryset
        except IncorrectLookupParameters:
            messages.error(request, _("筛选条件无效，未导出"))
            return HttpResponseRedirect(reverse(f"{self.admin_site.name}:catalog_sku_changelist"))
        handle = tempfile.TemporaryFile()  # closed by FileResponse
        try:
            catalog_imports.export_products(
                user=request.user, destination=handle, file_format=file_format, queryset=queryset
            )
        except DomainError as error:
            handle.close()
            raise PermissionDenied(error.message) from error
        handle.seek(0)
        stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
        return FileResponse(
            handle,
            as_attachment=True,
            filename=f"products-{stamp}.{file_format}",
            content_type=EXPORT_CONTENT_TYPES[file_format],
        )
