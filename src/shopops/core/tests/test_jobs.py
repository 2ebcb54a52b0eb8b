import csv
import hashlib
import io
from collections.abc import Callable
from typing import Any

import pytest
from django.core.cache import cache
from django.core.files.uploadedfile import SimpleUploadedFile

from shopops.accounts.models import User
from shopops.core import jobs, tabular
from shopops.core.errors import NotFound
from shopops.core.models import AuditEntry, ImportJob, ImportJobStatus
from shopops.core.tabular import Column, ImportRefused

pytestmark = pytest.mark.django_db

CONTENT = "商家编码,售价\nA1,10\nA2,abc\nA3,12\n".encode()


class PriceImporter(tabular.RowImporter):
    columns = (
        Column("code", "商家编码", required=True, parser=tabular.identifier_parser()),
        Column("price", "售价", parser=tabular.parse_money),
    )

    def process(self, rows: list[tabular.TableRow]) -> None:
        for row in rows:
            row.action = tabular.Action.CREATED
            row.key = row.get("code") or ""


def import_prices(*, actor: Any, **options: Any) -> tabular.ImportResult:
    return tabular.run_import(importer=PriceImporter(), chunk_size=1, **options)


@pytest.fixture(autouse=True)
def media_root(settings: Any, tmp_path: Any) -> Any:
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


def make_job(
    user: User, *, content: bytes = CONTENT, mode: str = "skip_bad_rows", dry_run: bool = True
) -> Any:
    return jobs.create_import_job(
        kind="prices",
        upload=SimpleUploadedFile("价格.csv", content),
        filename="价格.csv",
        mode=mode,
        dry_run=dry_run,
        actor=user,
    )


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_create_stores_the_file_its_hash_and_an_audit_entry(make_user: Callable[..., User]) -> None:
    # given
    user = make_user("operations")

    # when
    job = make_job(user)

    # then
    job.refresh_from_db()
    assert job.status == ImportJobStatus.QUEUED
    assert job.sha256 == hashlib.sha256(CONTENT).hexdigest()
    assert job.file.name.startswith("imports/")
    assert job.file.read() == CONTENT
    assert job.options == {"mode": "skip_bad_rows", "dry_run": True}
    entry = AuditEntry.objects.get(action="import_job.created")
    assert entry.actor == user
    assert entry.object_id == str(job.pk)
    assert entry.changes == {
        "kind": "prices",
        "filename": "价格.csv",
        "sha256": job.sha256,
        "mode": "skip_bad_rows",
        "dry_run": True,
    }


def test_run_records_counts_errors_and_rows(make_user: Callable[..., User]) -> None:
    # given
    job = make_job(make_user("operations"))

    # when
    finished = jobs.run_import_job(job_id=job.pk, importer=import_prices)

    # then
    assert finished is not None
    job.refresh_from_db()
    assert job.status == ImportJobStatus.SUCCEEDED
    assert job.rows_done == 3
    assert job.rows_total == 3
    assert job.result["counts"] == {"total": 3, "created": 2, "updated": 0, "unchanged": 0, "skipped": 1}
    assert job.result["errors"] == [{"row": 3, "column": "售价", "message": "“abc”不是有效金额"}]
    assert [row["key"] for row in job.result["preview"]] == ["A1", "A3"]
    rows = list(csv.reader(io.StringIO(job.errors_file.read().decode("utf-8-sig"))))
    assert rows == [["类型", "行号", "列", "说明"], ["错误", "3", "售价", "“abc”不是有效金额"]]
    finished_entry = AuditEntry.objects.get(action="import_job.finished")
    assert finished_entry.changes["status"] == "succeeded"


def test_all_or_nothing_with_a_bad_row_is_refused(make_user: Callable[..., User]) -> None:
    # given
    job = make_job(make_user("operations"), mode="all_or_nothing", dry_run=False)

    # when
    jobs.run_import_job(job_id=job.pk, importer=import_prices)

    # then
    job.refresh_from_db()
    assert job.status == ImportJobStatus.REFUSED
    assert job.result["is_refused"] is True
    assert job.result["committed"] is False


def test_job_runs_only_once(make_user: Callable[..., User]) -> None:
    # given
    job = make_job(make_user("operations"))
    jobs.run_import_job(job_id=job.pk, importer=import_prices)
    calls: list[Any] = []

    # when the task is delivered again
    again = jobs.run_import_job(job_id=job.pk, importer=lambda **options: calls.append(options))

    # then
    assert again is None
    assert calls == []


def test_progress_is_readable_while_the_job_runs(make_user: Callable[..., User]) -> None:
    # given an importer that looks at its own job from "another request" after each chunk
    job = make_job(make_user("operations"))
    seen: list[tuple[int, int | None]] = []

    def importer(*, progress: tabular.Progress, **options: Any) -> tabular.ImportResult:
        for done in (1000, 1500, 2000, 2999):
            progress(done, 3000)
            seen.append(jobs.job_progress(ImportJob.objects.get(pk=job.pk)))
        return tabular.ImportResult(
            filename="价格.csv",
            sha256="",
            file_format="csv",
            encoding="utf-8",
            mode="skip_bad_rows",
            dry_run=True,
            total_rows=3000,
            unchanged=3000,
        )

    # when
    jobs.run_import_job(job_id=job.pk, importer=importer)

    # then: saved at 1,000 and 2,000 rows; 1,500 and 2,999 come less than 1,000 rows and 0.5 s later
    assert seen == [(1000, 3000), (1000, 3000), (2000, 3000), (2000, 3000)]
    job.refresh_from_db()
    assert jobs.job_progress(job) == (3000, 3000)
    assert cache.get(f"shopops:import-job:{job.pk}:progress") is None


def test_progress_recorder_saves_after_half_a_second_even_for_few_rows() -> None:
    # given
    clock = FakeClock()
    recorder = jobs.ProgressRecorder(job_id=987654, clock=clock)

    # when
    recorder(10, None)
    clock.now += 0.4
    recorder(20, None)
    clock.now += 0.2
    recorder(30, None)

    # then
    assert recorder.saves == 1
    assert cache.get("shopops:import-job:987654:progress") == (30, None)
    cache.delete("shopops:import-job:987654:progress")


def test_refused_file_ends_the_job_with_the_reason(make_user: Callable[..., User]) -> None:
    # given
    job = make_job(make_user("operations"))

    def refuse(**options: Any) -> tabular.ImportResult:
        raise ImportRefused("缺少必需的列：商家编码", fields={"file": "缺少列：商家编码"})

    # when
    jobs.run_import_job(job_id=job.pk, importer=refuse)

    # then
    job.refresh_from_db()
    assert job.status == ImportJobStatus.REFUSED
    assert job.result == {
        "message": "缺少必需的列：商家编码",
        "code": "import_refused",
        "fields": {"file": "缺少列：商家编码"},
    }
    assert job.finished_at is not None
    assert not job.errors_file


def test_unexpected_failure_ends_the_job_as_failed(make_user: Callable[..., User]) -> None:
    # given
    job = make_job(make_user("operations"))

    def crash(**options: Any) -> tabular.ImportResult:
        raise RuntimeError("disk full")

    # when
    jobs.run_import_job(job_id=job.pk, importer=crash)

    # then
    job.refresh_from_db()
    assert job.status == ImportJobStatus.FAILED
    assert job.result == {"message": "导入失败：RuntimeError: disk full"}


def test_result_keeps_the_first_thousand_errors_and_their_count() -> None:
    # given
    result = tabular.ImportResult(
        filename="x.csv", sha256="", file_format="csv", encoding="utf-8", mode="skip_bad_rows", dry_run=True
    )
    result.errors = [tabular.RowError(number, "售价", "不是有效金额") for number in range(2, 1502)]

    # when
    data = jobs.result_data(result)

    # then
    assert data["error_count"] == 1500
    assert len(data["errors"]) == jobs.PROBLEM_LIMIT == 1000
    assert data["errors"][-1] == {"row": 1001, "column": "售价", "message": "不是有效金额"}


def test_confirm_needs_a_finished_dry_run_of_the_same_user(make_user: Callable[..., User]) -> None:
    # given
    owner = make_user("operations")
    real = make_job(owner, dry_run=False)
    checked = make_job(owner)
    jobs.run_import_job(job_id=checked.pk, importer=import_prices)

    # when / then
    with pytest.raises(jobs.ImportJobNotConfirmable):
        jobs.confirm_import_job(job_id=real.pk, mode="skip_bad_rows", actor=owner)
    with pytest.raises(NotFound):
        jobs.confirm_import_job(job_id=checked.pk, mode="skip_bad_rows", actor=make_user("operations"))
    confirmed = jobs.confirm_import_job(job_id=checked.pk, mode="all_or_nothing", actor=owner)
    assert confirmed.options == {"mode": "all_or_nothing", "dry_run": False, "confirms": checked.pk}
    assert confirmed.file.name == checked.file.name
    assert confirmed.status == ImportJobStatus.QUEUED
