"""Admin file imports of any kind: upload → background ImportJob → progress → result → confirm."""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from pathlib import PurePath
from typing import Any

from django import forms
from django.core.exceptions import PermissionDenied
from django.db import models, transaction
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
from django.utils.translation import gettext_lazy as _
from unfold.decorators import action
from unfold.widgets import (
    UnfoldAdminFileFieldWidget,
    UnfoldAdminRadioSelectWidget,
    UnfoldAdminSelectWidget,
    UnfoldBooleanSwitchWidget,
)

from shopops.core import jobs as core_jobs
from shopops.core.admin_tools import ShopOpsModelAdmin, report_refusal
from shopops.core.errors import DomainError
from shopops.core.models import ImportJob
from shopops.core.tabular import CSV_EXTENSIONS, EXCEL_EXTENSIONS, Mode

MAX_IMPORT_BYTES = 100 * 1024 * 1024
RECENT_JOBS = 10
SHOWN_PROBLEMS = 200
CSV_CONTENT_TYPE = "text/csv; charset=utf-8"
MODE_CHOICES = (
    (Mode.ALL_OR_NOTHING.value, _("全部正确才导入：有错误行则整个文件不导入")),
    (Mode.SKIP_BAD_ROWS.value, _("跳过错误行：导入正确的行，错误行列出")),
)
ACTION_LABELS = {"created": _("新增"), "updated": _("更新"), "unchanged": _("未变")}
AUTO_FORMAT = ""
FORM_TEMPLATE = "admin/imports/import_form.html"
JOB_TEMPLATE = "admin/imports/import_job.html"
STATUS_TEMPLATE = "admin/imports/includes/import_job_status.html"


class ImportUploadForm(forms.Form):
    """The file and how to import it; kinds importing into a shop also get 店铺 and 平台格式."""

    shop: forms.ModelChoiceField[Any] = forms.ModelChoiceField(
        label=_("店铺"), queryset=None, widget=UnfoldAdminSelectWidget()
    )
    format = forms.ChoiceField(label=_("平台格式"), required=False, widget=UnfoldAdminSelectWidget())
    file = forms.FileField(label=_("文件"), widget=UnfoldAdminFileFieldWidget())
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

    def __init__(
        self,
        *args: Any,
        shops: models.QuerySet[Any] | None = None,
        formats: Sequence[tuple[str, str]] | None = None,
        file_help: str = "",
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        if shops is None:
            del self.fields["shop"]
        else:
            shop_field = self.fields["shop"]
            assert isinstance(shop_field, forms.ModelChoiceField)
            shop_field.queryset = shops
            shop_field.help_text = _("只列出您有权限的店铺")
        if formats is None:
            del self.fields["format"]
        else:
            format_field = self.fields["format"]
            assert isinstance(format_field, forms.ChoiceField)
            format_field.choices = [(AUTO_FORMAT, _("自动识别（按表头）")), *formats]
            self.format_labels = dict(format_field.choices)
        self.fields["file"].help_text = file_help or _("CSV（UTF-8 或 GB18030）或 XLSX")

    def clean_file(self) -> Any:
        upload = self.cleaned_data["file"]
        suffix = PurePath(upload.name or "").suffix.lower()
        if suffix not in CSV_EXTENSIONS | EXCEL_EXTENSIONS:
            raise forms.ValidationError(_("只支持 CSV 或 XLSX 文件"))
        if upload.size is not None and upload.size > MAX_IMPORT_BYTES:
            raise forms.ValidationError(_("文件过大（上限 100 MB），请拆分后导入"))
        return upload

    def extra_options(self) -> dict[str, Any]:
        """The kind's own options for the job (shown on its page, read by its task)."""
        options: dict[str, Any] = {}
        if "shop" in self.fields:
            shop = self.cleaned_data["shop"]
            options.update(shop=shop.pk, shop_name=str(shop))
        if "format" in self.fields:
            name = self.cleaned_data.get("format") or AUTO_FORMAT
            options.update(format=name, format_label=str(self.format_labels.get(name, name)))
        return options


class ConfirmImportForm(forms.Form):
    mode = forms.ChoiceField(label=_("导入方式"), choices=MODE_CHOICES, widget=UnfoldAdminRadioSelectWidget())


def import_action(description: Any, icon: str = "upload") -> Any:
    """The changelist button opening the import form; assign it to the name in `import_action_name`.
    "import" means has_import_permission: unfold's system check looks dotted permission names up in
    the database, which fails before the first migrate."""

    def import_file(self: ImportJobAdminMixin, request: HttpRequest) -> HttpResponse:
        return self.import_view(request)

    return action(description=description, url_path="import", permissions=["import"], icon=icon)(import_file)


class ImportJobAdminMixin(ShopOpsModelAdmin):
    """The import pages of one kind of file, hung on a model's changelist.

    A subclass sets `import_kind` (ImportJob.kind), `import_permissions` (all needed), `import_task`
    (a Huey task taking the job id, e.g. one calling `core.jobs.run_import_job`), `import_action_name`
    with `<that name> = import_action(...)` in `actions_list`; optionally `import_shop_field` (the
    model's shop foreign key: the form offers the shops in the user's scope) and `import_formats`
    (a callable giving (name, label) pairs: the form offers them and 自动识别).
    """

    import_kind: str = ""
    import_title: Any = _("导入")
    import_permissions: tuple[str, ...] = ()
    import_task: Any = None
    import_action_name: str = "import_file"
    import_shop_field: str | None = None
    import_formats: Callable[[], Sequence[tuple[str, str]]] | None = None
    import_file_help: Any = ""
    import_intro: Any = ""
    import_headers: Sequence[str] = ()
    import_preview_key_label: Any = _("编码")
    import_form_template = FORM_TEMPLATE
    import_job_template = JOB_TEMPLATE

    def has_import_permission(self, request: HttpRequest) -> bool:
        return bool(self.import_permissions) and all(
            request.user.has_perm(permission) for permission in self.import_permissions
        )

    # URLs.

    def get_urls(self) -> list[URLPattern]:
        prefix = f"{self.opts.app_label}_{self.opts.model_name}"
        views = (
            ("import-jobs/<int:job_id>/", self.import_job_view, "import_job"),
            ("import-jobs/<int:job_id>/status/", self.import_job_status_view, "import_job_status"),
            ("import-jobs/<int:job_id>/confirm/", self.import_job_confirm_view, "import_job_confirm"),
            ("import-jobs/<int:job_id>/rerun/", self.import_job_rerun_view, "import_job_rerun"),
            ("import-jobs/<int:job_id>/errors/", self.import_job_errors_view, "import_job_errors"),
        )
        own = [
            path(route, self.admin_site.admin_view(view), name=f"{prefix}_{name}")
            for route, view, name in views
        ]
        return own + super().get_urls()

    def admin_url(self, name: str, *args: Any) -> str:
        return reverse(
            f"{self.admin_site.name}:{self.opts.app_label}_{self.opts.model_name}_{name}", args=args
        )

    def job_url(self, name: str, job: ImportJob) -> str:
        return self.admin_url(name, job.pk)

    # The form.

    def enqueue_import(self, job: ImportJob) -> None:
        """Run the job once its row is committed (the worker reads it from the database)."""
        task = type(self).import_task  # from the class: a plain function must not bind to self
        transaction.on_commit(functools.partial(task, job.pk))

    def import_shops(self, request: HttpRequest) -> models.QuerySet[Any] | None:
        if self.import_shop_field is None:
            return None
        related = self.opts.get_field(self.import_shop_field).related_model
        assert related is not None
        assert not isinstance(related, str)
        shops = related._default_manager.all()
        return shops.for_user(request.user) if hasattr(shops, "for_user") else shops

    def import_form(self, request: HttpRequest) -> ImportUploadForm:
        formats = type(self).import_formats
        return ImportUploadForm(
            request.POST or None,
            request.FILES or None,
            shops=self.import_shops(request),
            formats=list(formats()) if formats is not None else None,
            file_help=str(self.import_file_help),
        )

    def import_view(self, request: HttpRequest) -> HttpResponse:
        if not self.has_import_permission(request):
            raise PermissionDenied
        form = self.import_form(request)
        if request.method == "POST" and form.is_valid():
            upload = form.cleaned_data["file"]
            with transaction.atomic():
                job = core_jobs.create_import_job(
                    kind=self.import_kind,
                    upload=upload,
                    filename=upload.name or "upload",
                    mode=form.cleaned_data["mode"],
                    dry_run=form.cleaned_data["dry_run"],
                    actor=request.user,
                    extra_options=form.extra_options(),
                )
                self.enqueue_import(job)
            return HttpResponseRedirect(self.job_url("import_job", job))
        recent = ImportJob.objects.filter(kind=self.import_kind, created_by_id=request.user.pk)[:RECENT_JOBS]
        context = {
            **self.admin_site.each_context(request),
            "title": self.import_title,
            "opts": self.opts,
            "form": form,
            "intro": self.import_intro,
            "recent_jobs": [(job, self.job_url("import_job", job)) for job in recent],
            "headers": self.import_headers,
        }
        return TemplateResponse(request, self.import_form_template, context)

    # The job.

    def get_job(self, request: HttpRequest, job_id: int) -> ImportJob:
        """The user's own job of this kind (any one for a superuser) into a shop still in the user's
        scope; 403 without import permissions, 404 otherwise."""
        if not self.has_import_permission(request):
            raise PermissionDenied
        job = ImportJob.objects.filter(pk=job_id, kind=self.import_kind).select_related("created_by").first()
        if job is None or (job.created_by_id != request.user.pk and not request.user.is_superuser):
            raise Http404
        shops = self.import_shops(request)
        if shops is not None and "shop" in job.options and not shops.filter(pk=job.options["shop"]).exists():
            raise Http404
        return job

    def job_details(self, job: ImportJob) -> list[tuple[Any, str]]:
        details: list[tuple[Any, str]] = []
        if "shop_name" in job.options:
            details.append((_("店铺"), str(job.options["shop_name"])))
        if "format" in job.options:
            details.append((_("平台格式"), str(job.options.get("format_label") or job.options["format"])))
        return details

    def job_context(self, request: HttpRequest, job: ImportJob) -> dict[str, Any]:
        rows_done, rows_total = core_jobs.job_progress(job)
        percent = 100 if job.is_finished else min(99, rows_done * 100 // rows_total) if rows_total else 0
        result = job.result or {}
        is_checked = (
            job.is_dry_run and job.is_finished and "counts" in result and job.created_by_id == request.user.pk
        )
        is_confirmable = is_checked and bool(job.file)
        return {
            "job": job,
            "rows_done": rows_done,
            "rows_total": rows_total,
            "percent": percent,
            "result": result,
            "counts": result.get("counts"),
            "errors_table": problem_table(result.get("errors", [])[:SHOWN_PROBLEMS]),
            "warnings_table": problem_table(result.get("warnings", [])[:SHOWN_PROBLEMS]),
            "preview_table": preview_table(result.get("preview", []), self.import_preview_key_label),
            "shown_problems": SHOWN_PROBLEMS,
            "status_url": self.job_url("import_job_status", job),
            "errors_url": self.job_url("import_job_errors", job) if job.errors_file else "",
            "confirm_url": self.job_url("import_job_confirm", job),
            "confirm_form": ConfirmImportForm(initial={"mode": job.mode}) if is_confirmable else None,
            "rerun_url": self.job_url("import_job_rerun", job) if self._is_rerunnable(request, job) else "",
            # confirmed or not confirmed in time: the upload is deleted (core.jobs)
            "is_file_expired": is_checked and not job.file,
            "confirms_url": self._confirms_url(job),
        }

    @staticmethod
    def _is_rerunnable(request: HttpRequest, job: ImportJob) -> bool:
        return core_jobs.is_rerunnable(job) and bool(job.file) and job.created_by_id == request.user.pk

    def _confirms_url(self, job: ImportJob) -> str:
        checked_id = job.options.get("confirms")
        return self.admin_url("import_job", checked_id) if checked_id else ""

    def import_job_view(self, request: HttpRequest, job_id: int) -> HttpResponse:
        job = self.get_job(request, job_id)
        context = {
            **self.admin_site.each_context(request),
            "title": _("导入任务 #%(id)s：%(name)s") % {"id": job.pk, "name": job.original_filename},
            "opts": self.opts,
            "import_url": self.admin_url(self.import_action_name),
            "details": self.job_details(job),
            **self.job_context(request, job),
        }
        return TemplateResponse(request, self.import_job_template, context)

    def import_job_status_view(self, request: HttpRequest, job_id: int) -> HttpResponse:
        """The status block alone, polled every second by htmx until the job ends."""
        job = self.get_job(request, job_id)
        response = TemplateResponse(request, STATUS_TEMPLATE, self.job_context(request, job))
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
                self.enqueue_import(job)
        except DomainError as error:
            report_refusal(request, error)
            return HttpResponseRedirect(self.job_url("import_job", checked))
        return HttpResponseRedirect(self.job_url("import_job", job))

    def import_job_rerun_view(self, request: HttpRequest, job_id: int) -> HttpResponse:
        """Import again, as a new job, the file of a job that failed because its import process died."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        failed = self.get_job(request, job_id)
        try:
            with transaction.atomic():
                job = core_jobs.rerun_import_job(job_id=failed.pk, actor=request.user)
                self.enqueue_import(job)
        except DomainError as error:
            report_refusal(request, error)
            return HttpResponseRedirect(self.job_url("import_job", failed))
        return HttpResponseRedirect(self.job_url("import_job", job))

    def import_job_errors_view(self, request: HttpRequest, job_id: int) -> HttpResponseBase:
        job = self.get_job(request, job_id)
        if not job.errors_file or not job.errors_file.storage.exists(job.errors_file.name):
            raise Http404
        stem = PurePath(job.original_filename).stem or "import"
        return FileResponse(
            job.errors_file.open("rb"),
            as_attachment=True,
            filename=f"{stem}-错误明细.csv",
            content_type=CSV_CONTENT_TYPE,
        )


def problem_table(problems: list[dict[str, Any]]) -> dict[str, Any]:
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


def preview_table(preview: list[dict[str, Any]], key_label: Any) -> dict[str, Any]:
    return {
        "headers": [_("行号"), key_label, _("动作"), _("变更")],
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
