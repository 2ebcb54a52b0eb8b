import datetime as dt
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test import Client
from django.utils import timezone

from shopops.core import jobs, processes
from shopops.core.models import AuditEntry, ImportJob, ImportJobStatus
from shopops.orders.tests.factories import create_shop

# a process that claims a queued job as a worker does (start_import_job), then hangs in the "import"
CLAIM_AND_HANG = """
import sys, time
import django
django.setup()
from shopops.core import jobs
jobs.start_import_job(job_id=int(sys.argv[1]))
print("running", flush=True)
time.sleep(600)
"""


@pytest.fixture(autouse=True)
def private_root(settings: Any, tmp_path: Any) -> Any:
    settings.PRIVATE_FILES_ROOT = tmp_path / "private"
    return settings.PRIVATE_FILES_ROOT


def database_url() -> str:
    options = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{options['NAME']}"
    return f"postgres://{options['USER']}@{options['HOST']}:{options['PORT'] or 5432}/{options['NAME']}"


@pytest.fixture
def claiming_process() -> Iterator[Any]:
    """Starts a real process (on the test database) that runs the job; stopped at the end either way."""
    started: list[subprocess.Popen[str]] = []

    def start(job: ImportJob) -> subprocess.Popen[str]:
        environment = {
            **os.environ,
            "DATABASE_URL": database_url(),
            "DJANGO_SETTINGS_MODULE": "shopops.settings",
        }
        process = subprocess.Popen(
            [sys.executable, "-c", CLAIM_AND_HANG, str(job.pk)],
            env=environment,
            stdout=subprocess.PIPE,
            text=True,
        )
        started.append(process)
        assert process.stdout is not None
        assert process.stdout.readline().strip() == "running"
        return process

    yield start
    for process in started:
        process.kill()
        process.wait()


def order_import_job(user: Any, shop: Any) -> ImportJob:
    return jobs.create_import_job(
        kind="orders",
        upload=SimpleUploadedFile(
            "订单.csv", "订单号,订单状态,下单时间\nA1,paid,2026-06-01 10:00:00\n".encode()
        ),
        filename="订单.csv",
        mode="all_or_nothing",
        dry_run=False,
        actor=user,
        extra_options={"shop": shop.pk, "format": "template"},
    )


def test_a_job_whose_worker_was_killed_ends_failed_keeps_its_file_and_can_be_rerun_once(
    transactional_db, make_user, api_client_for, claiming_process, django_capture_on_commit_callbacks
):
    # given a job running in a worker process that is then killed
    operator = make_user("operations")
    job = order_import_job(operator, create_shop())
    upload = job.file.name
    worker = claiming_process(job)
    job.refresh_from_db()
    assert (job.status, job.worker) == (ImportJobStatus.RUNNING, processes.identity(worker.pid))
    worker.send_signal(signal.SIGKILL)
    worker.wait()
    # when the jobs are checked (as `shopops worker` does at start and every minute)
    failed = jobs.fail_interrupted_import_jobs()
    # then the job failed, says why, and its upload is still there
    job.refresh_from_db()
    assert failed == [job.pk]
    assert job.status == ImportJobStatus.FAILED
    assert job.result == {
        "message": "导入进程意外中止，可重新导入",
        "code": "worker_died",
        "rerunnable": True,
    }
    assert job.file.name == upload
    assert job.file.storage.exists(upload)
    assert AuditEntry.objects.filter(action="import_job.finished", object_id=str(job.pk)).exists()
    # when its owner re-runs it through the API, twice
    client = api_client_for(operator)
    with django_capture_on_commit_callbacks(execute=False):
        rerun = client.post(f"/api/v1/orders/imports/{job.pk}/rerun")
        again = client.post(f"/api/v1/orders/imports/{job.pk}/rerun")
    # then one new queued job imports the same file with the same options; the second call is refused
    assert rerun.status_code == 202, rerun.content
    new = ImportJob.objects.get(pk=rerun.json()["id"])
    assert (new.status, new.file.name, new.sha256) == (ImportJobStatus.QUEUED, upload, job.sha256)
    assert new.options == {**job.options, "reruns": job.pk}
    assert again.status_code == 409
    assert again.json()["code"] == "import_job_not_rerunnable"


def test_a_job_whose_worker_lives_stays_running(transactional_db, make_user, claiming_process):
    # given a job running in a live worker process
    job = order_import_job(make_user("operations"), create_shop())
    claiming_process(job)
    # when the jobs are checked
    failed = jobs.fail_interrupted_import_jobs()
    # then it is left alone
    job.refresh_from_db()
    assert (failed, job.status) == ([], ImportJobStatus.RUNNING)


@pytest.mark.parametrize(("silent_minutes", "is_failed"), [(6, True), (4, False)])
def test_a_job_of_another_host_fails_once_its_heartbeat_is_five_minutes_old(
    db, make_user, silent_minutes, is_failed
):
    # given a job a worker on another machine runs, last heard of some minutes ago
    job = order_import_job(make_user("operations"), create_shop())
    now = timezone.now()
    ImportJob.objects.filter(pk=job.pk).update(
        status=ImportJobStatus.RUNNING,
        worker="another-host|boot|4242|1000",
        started_at=now - dt.timedelta(hours=1),
        heartbeat_at=now - dt.timedelta(minutes=silent_minutes),
    )
    # when the jobs are checked
    failed = jobs.fail_interrupted_import_jobs(now=now)
    # then it failed only if silent for more than five minutes
    job.refresh_from_db()
    assert (failed == [job.pk], job.status == ImportJobStatus.FAILED) == (is_failed, is_failed)


def test_only_a_job_failed_by_its_workers_death_can_be_rerun(db, make_user, api_client_for):
    # given a job that failed for another reason, and a queued one
    operator = make_user("operations")
    shop = create_shop()
    broken, queued = order_import_job(operator, shop), order_import_job(operator, shop)
    jobs.finish_import_job(job_id=broken.pk, status=ImportJobStatus.FAILED, result={"message": "导入失败：x"})
    client = api_client_for(operator)
    # when re-running them
    responses = [client.post(f"/api/v1/orders/imports/{job.pk}/rerun") for job in (broken, queued)]
    # then both are refused and no job was added
    assert [(response.status_code, response.json()["code"]) for response in responses] == [
        (409, "import_job_not_rerunnable"),
        (409, "import_job_not_rerunnable"),
    ]
    assert ImportJob.objects.count() == 2


def test_rerun_authorization(db, make_user, api_client_for):
    # given a job of one operator that its worker's death failed
    shop = create_shop()
    owner = make_user("operations")
    job = order_import_job(owner, shop)
    jobs.finish_import_job(
        job_id=job.pk,
        status=ImportJobStatus.FAILED,
        result={"message": jobs.INTERRUPTED_MESSAGE, "rerunnable": True},
    )
    path = f"/api/v1/orders/imports/{job.pk}/rerun"
    # when / then: anonymous, no permission, another operator's job
    assert Client().post(path).status_code == 401
    assert api_client_for(make_user("warehouse")).post(path).status_code == 403
    assert api_client_for(make_user("operations")).post(path).status_code == 404
    assert ImportJob.objects.count() == 1
    # when / then: its owner
    assert api_client_for(owner).post(path).status_code == 202
    assert ImportJob.objects.count() == 2


def test_rerun_from_the_admin_job_page(db, make_user, django_capture_on_commit_callbacks):
    # given an operator's order import job that its worker's death failed
    operator = make_user("operations")
    job = order_import_job(operator, create_shop())
    jobs.finish_import_job(
        job_id=job.pk,
        status=ImportJobStatus.FAILED,
        result={"message": jobs.INTERRUPTED_MESSAGE, "rerunnable": True},
    )
    client = Client()
    client.force_login(operator)
    page = client.get(f"/admin/orders/order/import-jobs/{job.pk}/")
    # when the 重新导入 button is pressed
    with django_capture_on_commit_callbacks(execute=False):
        response = client.post(f"/admin/orders/order/import-jobs/{job.pk}/rerun/")
    # then the page offered it, and a new queued job for the same file opens
    assert 'data-testid="import-rerun-form"' in page.content.decode()
    new = ImportJob.objects.exclude(pk=job.pk).get()
    assert (new.status, new.file.name, new.options["reruns"]) == (
        ImportJobStatus.QUEUED,
        job.file.name,
        job.pk,
    )
    assert response.status_code == 302
    assert response["Location"] == f"/admin/orders/order/import-jobs/{new.pk}/"
