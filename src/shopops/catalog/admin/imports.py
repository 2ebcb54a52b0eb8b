"""Admin product import (upload → background job → progress → result → confirm) and changelist export."""

from __future__ import annotations

import functools
import tempfile
from pathlib import PurePath
from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.admin.options import IncorrectLookupParameters
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import (
    FileResponse,
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseNotAllowed,
    HttpResponseRedirect,
)
from django.http.response import HttpResponseBase
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from unfold.decorators import action
from unfold.widgets import UnfoldAdminFileFieldWidget, UnfoldAdminRadioSelectWidget, UnfoldBooleanSwitchWidget

from shopops.catalog import imports as catalog_imports
from shopops.catalog import tasks as catalog_tasks
from shopops.core import jobs as core_jobs
from shopops.core.admin_tools import ShopOpsModelAdmin, report_refusal
from shopops.core.errors import DomainError
from shopops.core.models import ImportJob
from shopops.core.tabular import CSV_EXTENSIONS, EXCEL_EXTENSIONS, Mode

IMPORT_KIND = "products"
IMPORT_PERMISSIONS = ("catalog.add_sku", "catalog.change_sku", "catalog.change_price")
MAX_IMPORT_BYTES = 100 * 1024 * 1024
RECENT_JOBS = 10
SHOWN_PROBLEMS = 200
EXPORT_CONTENT_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}
MODE_CHOICES = (
    (Mode.ALL_OR_NOTHING.value, _("全部正确才导入：有错误行则整个文件不导入")),
    (Mode.SKIP_BAD_ROWS.value, _("跳过错误行：导入正确的行，错误行列出")),
)
ACTION_LABELS = {"created": _("新增"), "updated": _("更新"), "unchanged": _("未变")}


class ProductImportForm(forms.Form):
    file = forms.FileField(
        label=_("文件"),
        widget=UnfoldAdminFileFieldWidget(),
        help_text=_(
            "CSV（UTF-8 或 GB18030）或 XLSX，中文表头：商品名称、商家编码、类目、品牌、规格、售价、成本价…"
        ),
    )
    mode = forms.ChoiceField(
        label=_("导入方式"),
        choices=MODE_CHOICES,
        initial=Mode.ALL_OR_NOTHING.value,
        widget=UnfoldAdminRadioSelectWidget(),
    )
    dry_run = forms.BooleanField(
        label=_("先试导入"),
        initial=True,
        required=False,
        widget=UnfoldBooleanSwitchWidget(),
        help_text=_("只检查并预览，不写入任何数据；结果无误后点“确认导入”"),
    )

    def clean_file(self) -> Any:
        upload = self.cleaned_data["file"]
        suffix = PurePath(upload.name or "").suffix.lower()
        if suffix not in CSV_EXTENSIONS | EXCEL_EXTENSIONS:
            raise forms.ValidationError(_("只支持 CSV 或 XLSX 文件"))
        if upload.size is not None and upload.size > MAX_IMPORT_BYTES:
            raise forms.ValidationError(_("文件过大（上限 100 MB），请拆分后导入"))
        return upload


class ConfirmImportForm(forms.Form):
    mode = forms.ChoiceField(label=_("导入方式"), choices=MODE_CHOICES, widget=UnfoldAdminRadioSelectWidget())


def may_import(request: HttpRequest) -> bool:
    return all(request.user.has_perm(permission) for permission in IMPORT_PERMISSIONS)


def enqueue_import(job: ImportJob) -> None:
    """Run the job once its row is committed (the worker reads it from the database)."""
    transaction.on_commit(functools.partial(catalog_tasks.run_product_import, job.pk))


class ProductImportExportAdmin(ShopOpsModelAdmin):
    """The SKU changelist's "导入商品" button and "导出商品" menu, and the import job pages."""

    actions_list = [
        "import_products",
        {
            "title": _("导出商品"),
            "icon": "download",
            "items": ["export_products_csv", "export_products_xlsx"],
        },
    ]

    def has_import_permission(self, request: HttpRequest) -> bool:
        return may_import(request)

    # URLs.

    def get_urls(self) -> list[URLPattern]:
        prefix = f"{self.opts.app_label}_{self.opts.model_name}"
        views = (
            ("import-jobs/<int:job_id>/", self.import_job_view, "import_job"),
            ("import-jobs/<int:job_id>/status/", self.import_job_status_view, "import_job_status"),
            ("import-jobs/<int:job_id>/confirm/", self.import_job_confirm_view, "import_job_confirm"),
            ("import-jobs/<int:job_id>/errors/", self.import_job_errors_view, "import_job_errors"),
        )
        own = [
            path(route, self.admin_site.admin_view(view), name=f"{prefix}_{name}")
            for route, view, name in views
        ]
        return own + super().get_urls()

    def job_url(self, name: str, job: ImportJob) -> str:
        return reverse(
            f"{self.admin_site.name}:{self.opts.app_label}_{self.opts.model_name}_{name}", args=(job.pk,)
        )

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

    # Import.

    # "import" means has_import_permission: unfold's system check looks dotted permission names up in
    # the database, which fails before the first migrate.
    @action(description=_("导入商品"), url_path="import", permissions=["import"], icon="upload")
    def import_products(self, request: HttpRequest) -> HttpResponse:
        form = ProductImportForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            upload = form.cleaned_data["file"]
            with transaction.atomic():
                job = core_jobs.create_import_job(
                    kind=IMPORT_KIND,
                    upload=upload,
                    filename=upload.name or "upload",
                    mode=form.cleaned_data["mode"],
                    dry_run=form.cleaned_data["dry_run"],
                    actor=request.user,
                )
                enqueue_import(job)
            return HttpResponseRedirect(self.job_url("import_job", job))
        recent = ImportJob.objects.filter(kind=IMPORT_KIND, created_by_id=request.user.pk)[:RECENT_JOBS]
        context = {
            **self.admin_site.each_context(request),
            "title": _("导入商品"),
            "opts": self.opts,
            "form": form,
            "recent_jobs": [(job, self.job_url("import_job", job)) for job in recent],
            "headers": catalog_imports.EXPORT_HEADERS,
        }
        return TemplateResponse(request, "admin/catalog/product_import.html", context)

    def get_job(self, request: HttpRequest, job_id: int) -> ImportJob:
        """The user's own product import job (any one for a superuser); 403 without import permissions."""
        if not may_import(request):
            raise PermissionDenied
        job = ImportJob.objects.filter(pk=job_id, kind=IMPORT_KIND).select_related("created_by").first()
        if job is None or (job.created_by_id != request.user.pk and not request.user.is_superuser):
            raise Http404
        return job

    def job_context(self, request: HttpRequest, job: ImportJob) -> dict[str, Any]:
        rows_done, rows_total = core_jobs.job_progress(job)
        percent = 100 if job.is_finished else min(99, rows_done * 100 // rows_total) if rows_total else 0
        result = job.result or {}
        is_confirmable = (
            job.is_dry_run and job.is_finished and "counts" in result and job.created_by_id == request.user.pk
        )
        return {
            "job": job,
            "rows_done": rows_done,
            "rows_total": rows_total,
            "percent": percent,
            "result": result,
            "counts": result.get("counts"),
            "errors_table": _problem_table(result.get("errors", [])[:SHOWN_PROBLEMS]),
            "warnings_table": _problem_table(result.get("warnings", [])[:SHOWN_PROBLEMS]),
            "preview_table": _preview_table(result.get("preview", [])),
            "shown_problems": SHOWN_PROBLEMS,
            "status_url": self.job_url("import_job_status", job),
            "errors_url": self.job_url("import_job_errors", job) if job.errors_file else "",
            "confirm_url": self.job_url("import_job_confirm", job),
            "confirm_form": ConfirmImportForm(initial={"mode": job.mode}) if is_confirmable else None,
            "confirms_url": self._confirms_url(job),
        }

    def _confirms_url(self, job: ImportJob) -> str:
        checked_id = job.options.get("confirms")
        if not checked_id:
            return ""
        return reverse(
            f"{self.admin_site.name}:{self.opts.app_label}_{self.opts.model_name}_import_job",
            args=(checked_id,),
        )

    def import_job_view(self, request: HttpRequest, job_id: int) -> HttpResponse:
        job = self.get_job(request, job_id)
        context = {
            **self.admin_site.each_context(request),
            "title": _("导入任务 #%(id)s：%(name)s") % {"id": job.pk, "name": job.original_filename},
            "opts": self.opts,
            "import_url": reverse(
                f"{self.admin_site.name}:{self.opts.app_label}_{self.opts.model_name}_import_products"
            ),
            **self.job_context(request, job),
        }
        return TemplateResponse(request, "admin/catalog/import_job.html", context)

    def import_job_status_view(self, request: HttpRequest, job_id: int) -> HttpResponse:
        """The status block alone, polled every second by htmx until the job ends."""
        job = self.get_job(request, job_id)
        response = TemplateResponse(
            request, "admin/catalog/includes/import_job_status.html", self.job_context(request, job)
        )
        response["Cache-Control"] = "no-store"
        return response

    def import_job_confirm_view(self, request: HttpRequest, job_id: int) -> HttpResponse:
        """Run the file a dry run checked, for real (a new job), in the mode chosen on the result page."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        checked = self.get_job(request, job_id)
        form = ConfirmImportForm(request.POST)
        mode = form.cleaned_data["mode"] if form.is_valid() else checked.mode
        try:
            with transaction.atomic():
                job = core_jobs.confirm_import_job(job_id=checked.pk, mode=mode, actor=request.user)
                enqueue_import(job)
        except DomainError as error:
            report_refusal(request, error)
            return HttpResponseRedirect(self.job_url("import_job", checked))
        return HttpResponseRedirect(self.job_url("import_job", job))

    def import_job_errors_view(self, request: HttpRequest, job_id: int) -> HttpResponseBase:
        job = self.get_job(request, job_id)
        if not job.errors_file:
            raise Http404
        stem = PurePath(job.original_filename).stem or "import"
        return FileResponse(
            job.errors_file.open("rb"),
            as_attachment=True,
            filename=f"{stem}-错误明细.csv",
            content_type=EXPORT_CONTENT_TYPES["csv"],
        )


def _problem_table(problems: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "headers": [_("行号"), _("列"), _("说明")],
        "rows": [[problem["row"], problem["column"], problem["message"]] for problem in problems],
    }


def _change_text(changes: dict[str, Any]) -> str:
    parts = []
    for name, value in changes.items():
        if isinstance(value, list) and len(value) == 2:
            parts.append(f"{name}: {value[0] if value[0] is not None else '∅'} → {value[1]}")
        else:
            parts.append(f"{name}: {value}")
    return "；".join(parts)


def _preview_table(preview: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "headers": [_("行号"), _("商家编码"), _("动作"), _("变更")],
        "rows": [
            [
                row["row"],
                row["key"],
                ACTION_LABELS.get(row["action"], row["action"]),
                _change_text(row.get("changes") or {}),
            ]
            for row in preview
        ],
    }
