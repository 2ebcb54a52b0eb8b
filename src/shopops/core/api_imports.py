"""API building blocks for background import jobs of any kind: the job as JSON, its owner check, uploads."""

import datetime as dt
from pathlib import PurePath
from typing import Any

from ninja import Field, Schema

from shopops.core import jobs as core_jobs
from shopops.core.errors import InvalidInput, NotFound
from shopops.core.models import ImportJob
from shopops.core.tabular import CSV_EXTENSIONS, EXCEL_EXTENSIONS

MAX_IMPORT_BYTES = 100 * 1024 * 1024


class ImportJobProblemOut(Schema):
    row: int = Field(description="Row number as the user sees it (the header is row 1); 0: the whole file")
    column: str
    message: str


class ImportJobCountsOut(Schema):
    total: int
    created: int
    updated: int
    unchanged: int
    skipped: int


class ImportJobProgressOut(Schema):
    rows_done: int
    rows_total: int | None
    percent: int = Field(description="0–100; 100 once the job has ended")


class ImportJobOut(Schema):
    id: int
    kind: str
    status: str = Field(description="queued, running, succeeded, failed or refused")
    filename: str
    sha256: str
    mode: str
    dry_run: bool
    options: dict[str, Any] = Field(description="How the job imports (mode, dry_run and the kind's own)")
    confirms: int | None = Field(description="The dry-run job this real run confirms")
    progress: ImportJobProgressOut
    committed: bool | None = Field(description="Once ended: whether anything was written")
    counts: ImportJobCountsOut | None
    unknown_columns: list[str]
    errors: list[ImportJobProblemOut] = Field(description="The first 1,000 errors")
    error_count: int
    warnings: list[ImportJobProblemOut]
    warning_count: int
    message: str = Field(description="Why a refused or failed job ended without a result")
    rerunnable: bool = Field(description="Its import process died: POST …/rerun imports the file again")
    created_at: dt.datetime
    started_at: dt.datetime | None
    finished_at: dt.datetime | None


def import_job_out(job: ImportJob) -> dict[str, Any]:
    rows_done, rows_total = core_jobs.job_progress(job)
    percent = 100 if job.is_finished else min(99, rows_done * 100 // rows_total) if rows_total else 0
    result = job.result or {}
    return {
        "id": job.pk,
        "kind": job.kind,
        "status": job.status,
        "filename": job.original_filename,
        "sha256": job.sha256,
        "mode": job.mode,
        "dry_run": job.is_dry_run,
        "options": job.options,
        "confirms": job.options.get("confirms"),
        "progress": {"rows_done": rows_done, "rows_total": rows_total, "percent": percent},
        "committed": result.get("committed") if job.is_finished else None,
        "counts": result.get("counts"),
        "unknown_columns": result.get("unknown_columns", []),
        "errors": result.get("errors", []),
        "error_count": result.get("error_count", 0),
        "warnings": result.get("warnings", []),
        "warning_count": result.get("warning_count", 0),
        "message": str(result.get("message", "")),
        "rerunnable": core_jobs.is_rerunnable(job),
        "created_at": job.created_at,
        "started_at": job.started_at,
        "finished_at": job.finished_at,
    }


def own_import_job(*, user: Any, kind: str, job_id: int) -> ImportJob:
    """The user's own job of `kind` (any one for a superuser); NotFound otherwise."""
    job = ImportJob.objects.filter(pk=job_id, kind=kind).first()
    if job is None or (job.created_by_id != user.pk and not user.is_superuser):
        raise NotFound("导入任务不存在", fields={"job_id": "不存在"})
    return job


def check_upload(upload: Any) -> None:
    """Refuse (422) what no importer reads: another file type, or a file over 100 MB."""
    suffix = PurePath(upload.name or "").suffix.lower()
    if suffix not in CSV_EXTENSIONS | EXCEL_EXTENSIONS:
        raise InvalidInput("只支持 CSV 或 XLSX 文件", fields={"file": f"文件类型：{suffix or '无扩展名'}"})
    if upload.size is not None and upload.size > MAX_IMPORT_BYTES:
        raise InvalidInput("文件过大（上限 100 MB），请拆分后导入", fields={"file": "文件过大"})
