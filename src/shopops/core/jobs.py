"""Background import jobs: create one from an upload, run it with throttled progress, record its result."""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import hashlib
import logging
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path, PurePath
from typing import IO, Any

from django.core.cache import cache
from django.core.files import File
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from shopops.core import audit, processes, tabular
from shopops.core.errors import Conflict, DomainError, InvalidInput, NotFound
from shopops.core.models import IMPORT_JOB_FINISHED, ImportJob, ImportJobStatus
from shopops.core.storage import private_storage

logger = logging.getLogger(__name__)

Importer = Callable[..., tabular.ImportResult]

PROGRESS_EVERY_ROWS = 1000
PROGRESS_EVERY_SECONDS = 0.5
PROGRESS_TIMEOUT_SECONDS = 24 * 60 * 60
PROBLEM_LIMIT = 1000  # errors (and warnings) kept in `result`; the errors file has them all
PROBLEM_HEADERS = ("类型", "行号", "列", "说明")
MODES = frozenset(str(mode) for mode in tabular.Mode)
RUN_OPTIONS = frozenset({"mode", "dry_run", "confirms", "reruns"})
# a running job says every HEARTBEAT_SECONDS that its process lives; silent for STALE_AFTER, it is
# taken for dead where its process cannot be looked up (another host)
HEARTBEAT_SECONDS = 30
STALE_AFTER = dt.timedelta(minutes=5)
INTERRUPTED_MESSAGE = "导入进程意外中止，可重新导入"
# how long a finished dry run's upload waits to be confirmed; also the age of a file no job row names
# (its job rolled back) before it is deleted
UNCONFIRMED_FILE_LIFETIME = dt.timedelta(hours=24)
FILE_EXPIRED_MESSAGE = "文件已过期，请重新上传"
FILE_EXPIRED_FIELD = "试导入的文件已删除（已确认导入或超过 24 小时未确认）"


class ImportJobNotConfirmable(Conflict):
    code = "import_job_not_confirmable"


class ImportFileExpired(Conflict):
    code = "import_file_expired"


class ImportJobNotRerunnable(Conflict):
    code = "import_job_not_rerunnable"


def _sha256(handle: IO[bytes]) -> str:
    digest = hashlib.sha256()
    handle.seek(0)
    while block := handle.read(1024 * 1024):
        digest.update(block)
    handle.seek(0)
    return digest.hexdigest()


def _options(mode: str, dry_run: bool, **extra: Any) -> dict[str, Any]:
    if mode not in MODES:
        raise InvalidInput(f"导入方式无效：{mode}", fields={"mode": "须为 all_or_nothing 或 skip_bad_rows"})
    return {"mode": mode, "dry_run": dry_run, **extra}


def create_import_job(
    *,
    kind: str,
    upload: IO[bytes],
    filename: str,
    mode: str,
    dry_run: bool,
    actor: Any,
    extra_options: dict[str, Any] | None = None,
) -> ImportJob:
    """Store the uploaded file (private storage, a random name) and a queued job for it. The caller
    enqueues the task with `transaction.on_commit`, so the worker never sees an uncommitted job.
    `extra_options` (e.g. the shop and format of an order import) are kept in `options` for the task."""
    name = PurePath(filename.replace("\\", "/")).name[:255] or "upload"
    options = _options(mode, dry_run, **(extra_options or {}))
    with transaction.atomic():
        job = ImportJob(
            kind=kind, original_filename=name, sha256=_sha256(upload), options=options, created_by=actor
        )
        job.file.save(name, File(upload, name=name), save=False)
        job.save()
        audit.record(
            actor=actor,
            action="import_job.created",
            instance=job,
            changes={"kind": kind, "filename": name, "sha256": job.sha256, **options},
        )
    return job


def confirm_import_job(*, job_id: int, mode: str, actor: Any) -> ImportJob:
    """A new, real (not dry-run) job for the file a finished dry run checked."""
    with transaction.atomic():
        # locked: the expiry sweep (release_import_file) must not delete the file under a new job
        checked = ImportJob.objects.select_for_update().filter(pk=job_id, created_by=actor).first()
        if checked is None:
            raise NotFound("导入任务不存在")
        if not checked.is_dry_run or not checked.is_finished or "counts" not in checked.result:
            raise ImportJobNotConfirmable(
                "只有已完成的试导入才能确认导入", fields={"job": f"任务状态：{checked.get_status_display()}"}
            )
        if not checked.file or not checked.file.storage.exists(checked.file.name):
            raise ImportFileExpired(FILE_EXPIRED_MESSAGE, fields={"file": FILE_EXPIRED_FIELD})
        # the kind's own options (shop, format …) carry over to the real run
        extra = {key: value for key, value in checked.options.items() if key not in RUN_OPTIONS}
        options = _options(mode, False, **extra, confirms=checked.pk)
        job = ImportJob.objects.create(
            kind=checked.kind,
            file=checked.file.name,
            original_filename=checked.original_filename,
            sha256=checked.sha256,
            options=options,
            created_by=actor,
        )
        audit.record(
            actor=actor,
            action="import_job.created",
            instance=job,
            changes={"kind": job.kind, "filename": job.original_filename, "sha256": job.sha256, **options},
        )
    return job


def start_import_job(*, job_id: int) -> ImportJob | None:
    """Mark a queued job running; None when it is gone or already started (a task delivered twice)."""
    with transaction.atomic():
        job = ImportJob.objects.select_for_update().filter(pk=job_id).first()
        if job is None or job.status != ImportJobStatus.QUEUED:
            return None
        job.status = ImportJobStatus.RUNNING
        job.started_at = job.heartbeat_at = timezone.now()
        job.worker = processes.identity()
        job.save(update_fields=["status", "started_at", "heartbeat_at", "worker"])
    return job


# Progress.


def _progress_key(job_id: int) -> str:
    return f"shopops:import-job:{job_id}:progress"


def save_progress(*, job_id: int, rows_done: int, rows_total: int | None) -> None:
    """Progress of a running job, in the cache: the import's transaction would hide (or roll back) a
    database write, and the cache (file-based or Redis) is shared by the web server and the worker."""
    cache.set(_progress_key(job_id), (rows_done, rows_total), PROGRESS_TIMEOUT_SECONDS)


def job_progress(job: ImportJob) -> tuple[int, int | None]:
    """(rows done, rows total if known) of a job, for any request."""
    if job.status == ImportJobStatus.RUNNING:
        cached = cache.get(_progress_key(job.pk))
        if cached is not None:
            return int(cached[0]), cached[1]
    return job.rows_done, job.rows_total


class ProgressRecorder:
    """The `progress` callback of an import: saves when 1,000 rows or 0.5 s have passed since the last save."""

    def __init__(
        self,
        *,
        job_id: int,
        every_rows: int = PROGRESS_EVERY_ROWS,
        every_seconds: float = PROGRESS_EVERY_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.job_id = job_id
        self.every_rows = every_rows
        self.every_seconds = every_seconds
        self.clock = clock
        self.saved_rows = 0
        self.saved_at = clock()
        self.saves = 0

    def __call__(self, rows_done: int, rows_total: int | None) -> None:
        now = self.clock()
        if rows_done - self.saved_rows < self.every_rows and now - self.saved_at < self.every_seconds:
            return
        save_progress(job_id=self.job_id, rows_done=rows_done, rows_total=rows_total)
        self.saved_rows = rows_done
        self.saved_at = now
        self.saves += 1


# Results.


def _problems(problems: list[tabular.RowError]) -> list[dict[str, Any]]:
    return [
        {"row": problem.row, "column": problem.column, "message": problem.message}
        for problem in problems[:PROBLEM_LIMIT]
    ]


def result_data(result: tabular.ImportResult) -> dict[str, Any]:
    """An ImportResult as JSON for `ImportJob.result`, errors and warnings capped at PROBLEM_LIMIT."""
    return {
        "counts": result.counts(),
        "filtered": dict(result.filtered),
        "filtered_count": sum(result.filtered.values()),
        "committed": result.committed,
        "is_refused": result.is_refused,
        "is_partial": result.is_partial,
        "mode": str(result.mode),
        "dry_run": result.dry_run,
        "file_format": result.file_format,
        "encoding": result.encoding,
        "columns": result.columns,
        "unknown_columns": result.unknown_columns,
        "errors": _problems(result.errors),
        "error_count": len(result.errors),
        "warnings": _problems(result.warnings),
        "warning_count": len(result.warnings),
        "preview": [
            {"row": row.row, "key": row.key, "action": row.action, "changes": row.changes}
            for row in result.preview
        ],
        "duration_seconds": round(result.duration_seconds, 3),
    }


def _save_problems_file(job: ImportJob, result: tabular.ImportResult) -> None:
    """Every error and warning as CSV in private storage (the result keeps only the first ones); it
    outlives the upload."""
    rows = [("错误", error.row, error.column, error.message) for error in result.errors]
    rows += [("警告", warning.row, warning.column, warning.message) for warning in result.warnings]
    if not rows:
        return
    with tempfile.SpooledTemporaryFile(max_size=8 * 1024 * 1024) as buffer:
        tabular.write_table(buffer, headers=PROBLEM_HEADERS, rows=rows, file_format="csv")
        buffer.seek(0)
        # stored under a random name; the download view names it after the upload
        job.errors_file.save("errors.csv", File(buffer, name="errors.csv"), save=False)


def finish_import_job(
    *,
    job_id: int,
    status: ImportJobStatus,
    result: dict[str, Any],
    rows_done: int = 0,
    outcome: tabular.ImportResult | None = None,
) -> ImportJob:
    """Record how a job ended (its result, final row counts, the errors file), audit it, and delete the
    upload unless a dry run keeps it for its confirmation."""
    with transaction.atomic():
        job = ImportJob.objects.select_for_update().get(pk=job_id)
        if outcome is not None:
            _save_problems_file(job, outcome)
        job.status = status
        job.result = result
        job.rows_done = rows_done
        job.rows_total = rows_done
        job.finished_at = timezone.now()
        job.save(update_fields=["status", "result", "rows_done", "rows_total", "errors_file", "finished_at"])
        audit.record(
            actor=job.created_by,
            action="import_job.finished",
            instance=job,
            changes={"status": str(status), "rows": rows_done, **result.get("counts", {})},
            reason=str(result.get("message", "")),
        )
    cache.delete(_progress_key(job_id))
    if job.file:
        release_import_file(name=job.file.name, reason="导入任务已结束")
        job.refresh_from_db(fields=["file"])
    return job


def run_import_job(*, job_id: int, importer: Importer) -> ImportJob | None:
    """Run a queued job with `importer` (e.g. catalog's import_products) as its creator. A refused file
    or a failure ends the job (status refused / failed) instead of raising, so a task never retries it."""
    job = start_import_job(job_id=job_id)
    if job is None:
        return None
    recorder = ProgressRecorder(job_id=job.pk)
    try:
        if not job.file or not job.file.storage.exists(job.file.name):
            raise ImportFileExpired(FILE_EXPIRED_MESSAGE, fields={"file": FILE_EXPIRED_FIELD})
        with heartbeat(job_id=job.pk), job.file.open("rb") as handle:
            outcome = importer(
                source=handle,
                filename=job.original_filename,
                actor=job.created_by,
                mode=job.mode,
                dry_run=job.is_dry_run,
                progress=recorder,
            )
    except DomainError as error:
        refusal = {"message": error.message, "code": error.code, "fields": error.fields}
        return finish_import_job(job_id=job.pk, status=ImportJobStatus.REFUSED, result=refusal)
    except Exception as error:
        logger.exception("import job %s failed", job.pk)
        failure = {"message": f"导入失败：{type(error).__name__}: {error}"}
        return finish_import_job(job_id=job.pk, status=ImportJobStatus.FAILED, result=failure)
    status = ImportJobStatus.REFUSED if outcome.is_refused else ImportJobStatus.SUCCEEDED
    result = result_data(outcome)
    if outcome.is_partial:
        # written in part (SQLite, data changed between check and write): not a success to file away
        status = ImportJobStatus.FAILED
        result["message"] = outcome.errors[0].message
    return finish_import_job(
        job_id=job.pk,
        status=status,
        result=result,
        rows_done=outcome.total_rows,
        outcome=outcome,
    )


# Jobs whose process died.


@contextlib.contextmanager
def heartbeat(*, job_id: int, every: float = HEARTBEAT_SECONDS) -> Iterator[None]:
    """While the block runs, a thread stamps the running job's `heartbeat_at` every `every` seconds on
    its own connection (the import's transaction would hide the stamp until it commits)."""
    stop = threading.Event()

    def beat() -> None:
        try:
            while not stop.wait(every):
                try:
                    ImportJob.objects.filter(pk=job_id, status=ImportJobStatus.RUNNING).update(
                        heartbeat_at=timezone.now()
                    )
                except DatabaseError:
                    logger.warning("import job %s: heartbeat not saved (database busy)", job_id)
        finally:
            connection.close()

    thread = threading.Thread(target=beat, name=f"import-job-{job_id}-heartbeat", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def _is_interrupted(job: ImportJob, now: dt.datetime) -> bool:
    """Its process is gone (looked up on this host), or silent for STALE_AFTER (another host)."""
    alive = processes.is_alive(job.worker) if job.worker else None
    if alive is not None:
        return not alive
    last_sign = job.heartbeat_at or job.started_at
    return last_sign is None or last_sign < now - STALE_AFTER


def fail_interrupted_import_jobs(*, now: dt.datetime | None = None) -> list[int]:
    """End as failed, and re-runnable, every running job whose process died (killed, crashed, the machine
    restarted): it would stay `running` for ever, its file kept. Run by `shopops worker` at start and every
    minute; idempotent. The ids of the jobs failed."""
    now = now or timezone.now()
    failed = []
    for job in ImportJob.objects.filter(status=ImportJobStatus.RUNNING).order_by("pk"):
        if not _is_interrupted(job, now):
            continue
        with transaction.atomic():
            # still running, by the same process: its worker did not finish it meanwhile
            still = ImportJob.objects.select_for_update().filter(
                pk=job.pk, status=ImportJobStatus.RUNNING, worker=job.worker
            )
            if still.first() is None:
                continue
            rows_done, _rows_total = job_progress(job)
            finish_import_job(
                job_id=job.pk,
                status=ImportJobStatus.FAILED,
                result={"message": INTERRUPTED_MESSAGE, "code": "worker_died", "rerunnable": True},
                rows_done=rows_done,
            )
        logger.warning("import job %s failed: its process %s is gone", job.pk, job.worker or "(unknown)")
        failed.append(job.pk)
    return failed


def is_rerunnable(job: ImportJob) -> bool:
    return job.status == ImportJobStatus.FAILED and bool((job.result or {}).get("rerunnable"))


def rerun_import_job(*, job_id: int, actor: Any) -> ImportJob:
    """A new queued job for the file of a job its process's death failed (same kind and options); once.
    The caller enqueues the kind's task with `transaction.on_commit`."""
    with transaction.atomic():
        failed = ImportJob.objects.select_for_update().filter(pk=job_id, created_by=actor).first()
        if failed is None:
            raise NotFound("导入任务不存在")
        if not is_rerunnable(failed):
            raise ImportJobNotRerunnable(
                "只有因导入进程意外中止而失败、且未重新导入过的任务可以重新导入",
                fields={"job": f"任务状态：{failed.get_status_display()}"},
            )
        if not failed.file or not failed.file.storage.exists(failed.file.name):
            raise ImportFileExpired(FILE_EXPIRED_MESSAGE, fields={"file": "文件已删除，请重新上传"})
        options = {**failed.options, "reruns": failed.pk}
        job = ImportJob.objects.create(
            kind=failed.kind,
            file=failed.file.name,
            original_filename=failed.original_filename,
            sha256=failed.sha256,
            options=options,
            created_by=actor,
        )
        failed.result = {**failed.result, "rerunnable": False, "rerun_job": job.pk}
        failed.save(update_fields=["result"])
        audit.record(
            actor=actor,
            action="import_job.created",
            instance=job,
            changes={"kind": job.kind, "filename": job.original_filename, "sha256": job.sha256, **options},
        )
    return job


# Deleting uploads no job needs.


def _awaits_confirmation(job: ImportJob, now: dt.datetime) -> bool:
    return (
        job.is_dry_run
        and "counts" in job.result
        and job.finished_at is not None
        and job.finished_at > now - UNCONFIRMED_FILE_LIFETIME
    )


def _awaits_rerun(job: ImportJob, now: dt.datetime) -> bool:
    """A job its process's death failed keeps its upload for `rerun_import_job`, as long as a dry run
    waits for its confirmation."""
    return (
        is_rerunnable(job)
        and job.finished_at is not None
        and job.finished_at > now - UNCONFIRMED_FILE_LIFETIME
    )


def _is_file_needed(holders: list[ImportJob], now: dt.datetime) -> bool:
    """Whether the jobs naming one upload (a dry run and the real runs confirming it) still need it."""
    if any(not job.is_finished for job in holders):
        return True
    if _awaits_rerun(holders[-1], now):
        return True
    if any(not job.is_dry_run for job in holders):
        return False  # imported for real: a confirmed dry run is not confirmed twice
    return any(_awaits_confirmation(job, now) for job in holders)


def release_import_file(*, name: str, reason: str, now: dt.datetime | None = None) -> bool:
    """Delete the upload `name` if no job needs it any more: blank `file` on every job naming it and
    remove the file once that is committed. The jobs keep their result and errors file. Whether it was
    deleted."""
    now = now or timezone.now()
    with transaction.atomic():
        holders = list(ImportJob.objects.select_for_update().filter(file=name).order_by("pk"))
        if not holders or _is_file_needed(holders, now):
            return False
        storage = holders[0].file.storage
        ImportJob.objects.filter(pk__in=[job.pk for job in holders]).update(file="")
        audit.record(
            actor=None,
            action="import_job.file_deleted",
            instance=holders[0],
            changes={"file": [name, ""], "jobs": [job.pk for job in holders]},
            reason=reason,
        )
        transaction.on_commit(functools.partial(storage.delete, name))
    return True


def _delete_unnamed_files(now: dt.datetime) -> int:
    """Uploads no job names (their job's transaction rolled back, or the process died between commit
    and delete), once older than a day: a file being saved right now is not named yet either."""
    storage = private_storage()
    root = Path(storage.location) / "imports"
    if not root.is_dir():
        return 0
    named = set(ImportJob.objects.exclude(file="").values_list("file", flat=True))
    named |= set(ImportJob.objects.exclude(errors_file="").values_list("errors_file", flat=True))
    cutoff = (now - UNCONFIRMED_FILE_LIFETIME).timestamp()
    deleted = 0
    for path in root.rglob("*"):
        name = path.relative_to(storage.location).as_posix()
        if path.is_file() and name not in named and path.stat().st_mtime < cutoff:
            path.unlink(missing_ok=True)
            deleted += 1
    return deleted


def delete_expired_import_files(*, now: dt.datetime | None = None) -> int:
    """The periodic sweep: uploads of dry runs not confirmed within UNCONFIRMED_FILE_LIFETIME, of
    finished jobs that did not delete theirs (ended by something other than finish_import_job), and
    files no job names. Idempotent. How many files were deleted."""
    now = now or timezone.now()
    names = set(
        ImportJob.objects.filter(status__in=IMPORT_JOB_FINISHED)
        .exclude(file="")
        .values_list("file", flat=True)
    )
    deleted = sum(release_import_file(name=name, reason="到期清理", now=now) for name in sorted(names))
    return deleted + _delete_unnamed_files(now)
