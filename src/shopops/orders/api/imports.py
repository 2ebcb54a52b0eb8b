"""Orders API: import a platform order export in the background (upload → job → result → confirm).

On the shared router, imported before `read`: /orders/imports must come before /orders/{order_id}.
"""

import functools
from typing import Any, Literal

from django.db import transaction
from django.http import HttpRequest
from ninja import File, Form, Status
from ninja.files import UploadedFile

from shopops.channels.queries import load_platform_format, shop_in_scope
from shopops.core import jobs as core_jobs
from shopops.core.api import ERROR_RESPONSES, ObjectId, acting_user, requires
from shopops.core.api_imports import ImportJobOut, check_upload, import_job_out, own_import_job
from shopops.core.permissions import check_permission
from shopops.orders import tasks as order_tasks
from shopops.orders.api.common import router

IMPORT_KIND = "orders"
Mode = Literal["all_or_nothing", "skip_bad_rows"]
PlatformFormatName = Literal["auto", "taobao", "taobao_items", "jd", "pdd", "shopify", "douyin", "template"]


def _importer(request: HttpRequest) -> Any:
    """The caller, holding both import permissions (add for new orders, change for updates)."""
    user = acting_user(request)
    check_permission(user, "orders.change_order")
    return user


def _enqueue(job_id: int) -> None:
    # on commit: the worker must find the job row
    transaction.on_commit(functools.partial(order_tasks.run_order_import, job_id))


@router.post("/orders/imports", response={202: ImportJobOut, **ERROR_RESPONSES})
@requires("orders.add_order")
def import_orders_file(
    request: HttpRequest,
    file: File[UploadedFile],
    shop: Form[ObjectId],
    format: Form[PlatformFormatName] = "auto",  # noqa: A002 - the form field's name
    mode: Form[Mode] = "all_or_nothing",
    dry_run: Form[bool] = False,
) -> Status:
    """Queue an import of a platform order export (CSV/XLSX) into `shop`; poll GET …/imports/{id}.

    format auto: detected from the header. dry_run: check and preview only; confirm it to write.
    Also needs orders.change_order; the shop must be in the caller's scope (else 404).
    """
    user = _importer(request)
    target = shop_in_scope(user, shop, field="shop")
    check_upload(file)
    name = "" if format == "auto" else format
    label = str(load_platform_format(name).label) if name else "自动识别（按表头）"
    with transaction.atomic():
        job = core_jobs.create_import_job(
            kind=IMPORT_KIND,
            upload=file,
            filename=file.name or "upload",
            mode=mode,
            dry_run=dry_run,
            actor=user,
            extra_options={
                "shop": target.pk,
                "shop_name": str(target),
                "format": name,
                "format_label": label,
            },
        )
        _enqueue(job.pk)
    return Status(202, import_job_out(job))


@router.get("/orders/imports/{job_id}", response={200: ImportJobOut, **ERROR_RESPONSES})
@requires("orders.add_order")
def get_order_import(request: HttpRequest, job_id: ObjectId) -> dict[str, Any]:
    """One of the caller's order import jobs: status, progress, counts, unknown columns, row errors."""
    user = _importer(request)
    return import_job_out(own_import_job(user=user, kind=IMPORT_KIND, job_id=job_id))


@router.post("/orders/imports/{job_id}/confirm", response={202: ImportJobOut, **ERROR_RESPONSES})
@requires("orders.add_order")
def confirm_order_import(request: HttpRequest, job_id: ObjectId, mode: Form[Mode | None] = None) -> Status:
    """Import for real the file a finished dry run checked (a new job; 409 unless it is one).
    mode: defaults to the dry run's."""
    user = _importer(request)
    checked = own_import_job(user=user, kind=IMPORT_KIND, job_id=job_id)
    with transaction.atomic():
        job = core_jobs.confirm_import_job(job_id=checked.pk, mode=mode or checked.mode, actor=user)
        _enqueue(job.pk)
    return Status(202, import_job_out(job))


@router.post("/orders/imports/{job_id}/rerun", response={202: ImportJobOut, **ERROR_RESPONSES})
@requires("orders.add_order")
def rerun_order_import(request: HttpRequest, job_id: ObjectId) -> Status:
    """Import again, as a new job, the file of a job that failed because its import process died
    (status failed, `rerunnable` true); 409 for any other job, or one already re-run."""
    user = _importer(request)
    failed = own_import_job(user=user, kind=IMPORT_KIND, job_id=job_id)
    with transaction.atomic():
        job = core_jobs.rerun_import_job(job_id=failed.pk, actor=user)
        _enqueue(job.pk)
    return Status(202, import_job_out(job))
