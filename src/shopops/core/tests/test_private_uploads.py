import datetime as dt
import http.client
import json
import os
import re
import signal
import stat
import subprocess
import sys
import textwrap
import urllib.parse
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from huey.contrib.djhuey import HUEY

from shopops.accounts.management.commands.serve import granian_command
from shopops.accounts.models import User
from shopops.analytics.collect.testing import free_port, server_env, wait_for_port
from shopops.core import jobs, tabular
from shopops.core.models import AuditEntry, ImportJob, ImportJobStatus
from shopops.core.storage import private_storage
from shopops.orders.tests.factories import create_shop
from shopops.orders.tests.import_fixtures import TAOBAO_HEADER, csv_bytes, taobao_row

pytestmark = pytest.mark.django_db

ORIGINAL_NAME = "ExportOrderList.csv"
RANDOM_NAME = re.compile(r"imports/\d{4}/\d{2}/[0-9a-f]{32}\.csv")
ADMIN_IMPORT = "admin:orders_order_import_orders"
API_IMPORTS = "/api/v1/orders/imports"
SHANGHAI = ZoneInfo("Asia/Shanghai")
DRY_RUN_AT = dt.datetime(2026, 3, 2, 10, 0, tzinfo=SHANGHAI)


@pytest.fixture(autouse=True)
def var_dir(settings: Any, tmp_path: Path) -> Path:
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.PRIVATE_FILES_ROOT = tmp_path / "private"
    settings.STATIC_ROOT = tmp_path / "static"
    return tmp_path


@pytest.fixture
def immediate_huey() -> Iterator[None]:
    was_immediate = HUEY.immediate
    HUEY.immediate = True
    yield
    HUEY.immediate = was_immediate


def order_export(name: str = ORIGINAL_NAME) -> SimpleUploadedFile:
    rows = [taobao_row("2876543210987654321"), taobao_row("2876543210987654322", paid="abc元")]
    return SimpleUploadedFile(
        name, csv_bytes(TAOBAO_HEADER, rows, encoding="gb18030"), content_type="text/csv"
    )


def admin_client(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def admin_upload(client: Client, shop: Any, capture: Any, **fields: Any) -> ImportJob:
    data = {"file": order_export(), "shop": shop.pk, "format": "taobao", "mode": "all_or_nothing", **fields}
    with capture(execute=True):
        response = client.post(reverse(ADMIN_IMPORT), data)
    assert response.status_code == 302, response.content
    return ImportJob.objects.latest("pk")


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def files_under(folder: Path) -> list[Path]:
    return [path for path in folder.rglob("*") if path.is_file()] if folder.exists() else []


def assert_private(job: ImportJob, root: Path) -> Path:
    """The upload is 0600 under a random name in 0700 folders of the private root."""
    assert RANDOM_NAME.fullmatch(job.file.name), job.file.name
    path = root / job.file.name
    assert path.is_file()
    assert mode_of(path) == 0o600
    for folder in path.relative_to(root).parents:
        assert mode_of(root / folder) == 0o700, folder
    return path


def test_admin_upload_is_stored_privately_under_a_random_name(
    make_user: Callable[..., User], var_dir: Path, django_capture_on_commit_callbacks: Any
) -> None:
    # given
    shop = create_shop()
    client = admin_client(make_user("operations"))

    # when an order export is uploaded (the worker has not run it yet)
    job = admin_upload(client, shop, django_capture_on_commit_callbacks, dry_run="on")

    # then nothing lands in the public media tree and no path names the user's file
    assert job.status == ImportJobStatus.QUEUED
    assert files_under(var_dir / "media") == []
    path = assert_private(job, var_dir / "private")
    assert path.read_bytes() == order_export().read()
    assert [str(file) for file in files_under(var_dir) if "ExportOrderList" in str(file)] == []
    assert job.original_filename == ORIGINAL_NAME


def test_api_upload_is_stored_privately_under_a_random_name(
    make_user: Callable[..., User],
    api_client_for: Callable[[User], Client],
    var_dir: Path,
    django_capture_on_commit_callbacks: Any,
) -> None:
    # given
    shop = create_shop()
    client = api_client_for(make_user("operations"))

    # when
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            API_IMPORTS, {"file": order_export(), "shop": shop.pk, "format": "taobao", "dry_run": "true"}
        )

    # then
    assert response.status_code == 202, response.content
    job = ImportJob.objects.get(pk=response.json()["id"])
    assert files_under(var_dir / "media") == []
    assert_private(job, var_dir / "private")
    assert [str(file) for file in files_under(var_dir) if "ExportOrderList" in str(file)] == []


def get(port: int, path: str) -> tuple[int, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def test_served_app_gives_no_upload_to_an_anonymous_request(
    make_user: Callable[..., User], var_dir: Path, django_capture_on_commit_callbacks: Any
) -> None:
    # given an uploaded order export and a product image, the media tree served by granian as `serve` runs it
    job = admin_upload(
        admin_client(make_user("operations")), create_shop(), django_capture_on_commit_callbacks, dry_run="on"
    )
    with job.file.open("rb") as stored:
        content = stored.read()
    image = var_dir / "media" / "products" / "2026" / "03" / "dress.png"
    image.parent.mkdir(parents=True)
    image.write_bytes(b"\x89PNG product image")
    (var_dir / "static").mkdir()
    port = free_port()
    env = server_env(SHOPOPS_VAR_DIR=str(var_dir))
    env.pop("DATABASE_URL", None)
    env.pop("SHOPOPS_PRIVATE_DIR", None)
    server = subprocess.Popen(
        granian_command(host="127.0.0.1", port=port, workers=1, threads=2),
        env=env,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
    )
    try:
        wait_for_port(port, timeout=60, process=server)

        # when anyone asks for the upload by its stored name or its original name
        month = f"{job.created_at.astimezone(SHANGHAI):%Y/%m}"
        by_stored_name = get(port, f"/media/{job.file.name}")
        by_original_name = get(port, f"/media/imports/{month}/{urllib.parse.quote(ORIGINAL_NAME)}")
        by_private_path = get(port, f"/media/../private/{job.file.name}")
        image_answer = get(port, "/media/products/2026/03/dress.png")
    finally:
        os.killpg(server.pid, signal.SIGTERM)  # granian and its worker
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:  # on a loaded machine granian may not stop while its worker starts
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()

    # then no answer carries the file, while product images are still served
    for status, body in (by_stored_name, by_original_name, by_private_path):
        assert status == 404
        assert content not in body
    assert image_answer == (200, b"\x89PNG product image")


def test_real_import_deletes_its_upload_and_keeps_its_result_and_errors_file(
    make_user: Callable[..., User],
    var_dir: Path,
    immediate_huey: None,
    django_capture_on_commit_callbacks: Any,
) -> None:
    # given
    client = admin_client(make_user("operations"))

    # when a real (not dry-run) import runs to its end
    job = admin_upload(
        client, create_shop(), django_capture_on_commit_callbacks, dry_run="", mode="skip_bad_rows"
    )

    # then the upload is gone from disk and from the job; the result and the errors file remain
    assert job.status == ImportJobStatus.SUCCEEDED
    assert job.file.name == ""
    assert job.result["counts"] == {"total": 2, "created": 1, "updated": 0, "unchanged": 0, "skipped": 1}
    assert RANDOM_NAME.fullmatch(job.errors_file.name)
    assert files_under(var_dir / "private") == [var_dir / "private" / job.errors_file.name]
    assert mode_of(var_dir / "private" / job.errors_file.name) == 0o600
    errors = client.get(reverse("admin:orders_order_import_job_errors", args=(job.pk,)))
    assert errors.status_code == 200
    assert "“abc元”不是有效金额" in b"".join(errors.streaming_content).decode("utf-8-sig")
    deleted = AuditEntry.objects.get(action="import_job.file_deleted")
    assert (deleted.object_id, deleted.changes["jobs"]) == (str(job.pk), [job.pk])


def test_dry_run_keeps_its_upload_until_confirmed(
    make_user: Callable[..., User],
    var_dir: Path,
    immediate_huey: None,
    django_capture_on_commit_callbacks: Any,
) -> None:
    # given a finished dry run
    client = admin_client(make_user("operations"))
    checked = admin_upload(client, create_shop(), django_capture_on_commit_callbacks, dry_run="on")
    upload = var_dir / "private" / checked.file.name
    assert checked.status == ImportJobStatus.REFUSED  # all or nothing, one bad row: confirmable
    assert upload.is_file()

    # when it is confirmed and the real run ends
    with django_capture_on_commit_callbacks(execute=True):
        client.post(
            reverse("admin:orders_order_import_job_confirm", args=(checked.pk,)), {"mode": "skip_bad_rows"}
        )
    real = ImportJob.objects.latest("pk")

    # then the real run read the file, then it was deleted for both jobs
    assert real.options["confirms"] == checked.pk
    assert real.status == ImportJobStatus.SUCCEEDED
    assert real.result["counts"]["created"] == 1
    assert not upload.exists()
    checked.refresh_from_db()
    assert (checked.file.name, real.file.name) == ("", "")
    assert checked.result["counts"]["total"] == 2


class OrderNumbers(tabular.RowImporter):
    columns = (tabular.Column("order", "订单编号", required=True),)

    def process(self, rows: list[tabular.TableRow]) -> None:
        for row in rows:
            row.action = tabular.Action.CREATED
            row.key = row.get("order") or ""


def check_order_numbers(*, actor: Any, **options: Any) -> tabular.ImportResult:
    return tabular.run_import(importer=OrderNumbers(), **options)


def dry_run_job(user: User) -> ImportJob:
    """A finished dry run of an order export (kind orders, so the order import pages and API find it)."""
    job = jobs.create_import_job(
        kind="orders",
        upload=order_export(),
        filename=ORIGINAL_NAME,
        mode="all_or_nothing",
        dry_run=True,
        actor=user,
    )
    finished = jobs.run_import_job(job_id=job.pk, importer=check_order_numbers)
    assert finished is not None
    return finished


def test_unconfirmed_dry_run_upload_is_deleted_after_a_day_and_cannot_be_confirmed(
    make_user: Callable[..., User], var_dir: Path, django_capture_on_commit_callbacks: Any
) -> None:
    # given a dry run finished on DRY_RUN_AT
    owner = make_user("operations")
    with time_machine.travel(DRY_RUN_AT, tick=False):
        checked = dry_run_job(owner)
    upload = var_dir / "private" / checked.file.name
    assert checked.status == ImportJobStatus.SUCCEEDED
    assert upload.is_file()

    # when the hourly sweep runs 23 hours later, then 25 hours later
    with time_machine.travel(DRY_RUN_AT + dt.timedelta(hours=23), tick=False):
        with django_capture_on_commit_callbacks(execute=True):
            early = jobs.delete_expired_import_files()
        kept = upload.is_file()
    with time_machine.travel(DRY_RUN_AT + dt.timedelta(hours=25), tick=False):
        with django_capture_on_commit_callbacks(execute=True):
            late = jobs.delete_expired_import_files()

    # then it was kept within the day, deleted after; the job keeps its result; confirming it is refused
    assert (early, kept) == (0, True)
    assert late == 1
    assert not upload.exists()
    checked.refresh_from_db()
    assert checked.file.name == ""
    assert checked.result["counts"] == {"total": 2, "created": 2, "updated": 0, "unchanged": 0, "skipped": 0}
    with pytest.raises(jobs.ImportFileExpired) as refused:
        jobs.confirm_import_job(job_id=checked.pk, mode="all_or_nothing", actor=owner)
    assert (refused.value.status, refused.value.code, refused.value.message) == (
        409,
        "import_file_expired",
        "文件已过期，请重新上传",
    )
    assert ImportJob.objects.count() == 1


def test_confirming_an_expired_dry_run_answers_409_in_the_api_and_a_message_in_the_admin(
    make_user: Callable[..., User],
    api_client_for: Callable[[User], Client],
    var_dir: Path,
    django_capture_on_commit_callbacks: Any,
) -> None:
    # given an order import dry run whose upload the sweep deleted
    owner = make_user("operations")
    with time_machine.travel(DRY_RUN_AT, tick=False):
        checked = dry_run_job(owner)
    with time_machine.travel(DRY_RUN_AT + dt.timedelta(days=2), tick=False):
        with django_capture_on_commit_callbacks(execute=True):
            jobs.delete_expired_import_files()
    client = admin_client(owner)

    # when the owner confirms it through the API and through the admin
    answer = api_client_for(owner).post(f"{API_IMPORTS}/{checked.pk}/confirm")
    confirm_url = reverse("admin:orders_order_import_job_confirm", args=(checked.pk,))
    page = client.post(confirm_url, {"mode": "all_or_nothing"}, follow=True)

    # then both refuse in Chinese and no job is created
    assert answer.status_code == 409
    assert answer.json() == {
        "code": "import_file_expired",
        "message": "文件已过期，请重新上传",
        "fields": {"file": "试导入的文件已删除（已确认导入或超过 24 小时未确认）"},
    }
    content = page.content.decode()
    assert "文件已过期，请重新上传" in content
    assert 'data-testid="import-confirm-form"' not in content
    assert 'data-testid="import-file-expired"' in content
    assert ImportJob.objects.count() == 1


def test_sweep_deletes_files_no_job_names_once_a_day_old(
    make_user: Callable[..., User], var_dir: Path
) -> None:
    # given two files no job names (their transactions rolled back): one 25 hours old, one an hour old
    storage = private_storage()
    old = var_dir / "private" / storage.save("imports/2026/03/old.csv", ContentFile(b"a,b\n"))
    fresh = var_dir / "private" / storage.save("imports/2026/03/fresh.csv", ContentFile(b"a,b\n"))
    now = DRY_RUN_AT
    old_time = (now - dt.timedelta(hours=25)).timestamp()
    os.utime(old, (old_time, old_time))
    fresh_time = (now - dt.timedelta(hours=1)).timestamp()
    os.utime(fresh, (fresh_time, fresh_time))

    # when
    with time_machine.travel(now, tick=False):
        deleted = jobs.delete_expired_import_files()

    # then
    assert deleted == 1
    assert (old.exists(), fresh.exists()) == (False, True)


def test_errors_file_of_a_shop_out_of_scope_is_not_found(
    make_user: Callable[..., User],
    immediate_huey: None,
    django_capture_on_commit_callbacks: Any,
) -> None:
    # given a user's finished import into a shop later taken out of the user's scope
    shop, other = create_shop(), create_shop()
    user = make_user("operations", shops=[shop])
    job = admin_upload(
        admin_client(user), shop, django_capture_on_commit_callbacks, dry_run="", mode="skip_bad_rows"
    )
    errors_url = reverse("admin:orders_order_import_job_errors", args=(job.pk,))
    assert admin_client(user).get(errors_url).status_code == 200
    user.shop_scope.set([other])

    # when
    answer = admin_client(User.objects.get(pk=user.pk)).get(errors_url)

    # then
    assert answer.status_code == 404


def test_errors_file_missing_on_disk_is_not_found_not_an_error(
    make_user: Callable[..., User],
    var_dir: Path,
    immediate_huey: None,
    django_capture_on_commit_callbacks: Any,
) -> None:
    # given a finished import whose errors file was removed from disk (a restore without private files)
    client = admin_client(make_user("operations"))
    job = admin_upload(
        client, create_shop(), django_capture_on_commit_callbacks, dry_run="", mode="skip_bad_rows"
    )
    (var_dir / "private" / job.errors_file.name).unlink()

    # when
    answer = client.get(reverse("admin:orders_order_import_job_errors", args=(job.pk,)))

    # then
    assert answer.status_code == 404


# run in a fresh process: writes what shopops writes under var/, then prints every path's mode (while the
# database is open: SQLite removes -wal and -shm when the last connection closes)
VAR_SCRIPT = textwrap.dedent(
    """
    import json, os, stat, sys
    import django
    django.setup()
    from django.conf import settings
    from django.core.cache import cache
    from django.core.files.base import ContentFile
    from django.db import connection
    from huey.contrib.djhuey import HUEY
    from shopops.core.storage import private_storage

    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE probe (x integer)")
        cursor.execute("INSERT INTO probe VALUES (1)")
    cache.set("probe", 1)
    HUEY.put("probe", 1)
    private_storage().save("imports/2026/03/probe.csv", ContentFile(b"a,b"))
    modes = {}
    for folder, folders, files in os.walk(settings.VAR_DIR):
        for name in [".", *folders, *files]:
            path = os.path.normpath(os.path.join(folder, name))
            expected = 0o700 if os.path.isdir(path) else 0o600
            modes[os.path.relpath(path, settings.VAR_DIR)] = [stat.S_IMODE(os.stat(path).st_mode), expected]
    json.dump(modes, sys.stdout)
    """
)


def test_var_dir_and_what_shopops_writes_there_are_private(tmp_path: Path) -> None:
    # given a var folder an older version created world-readable
    var = tmp_path / "var"
    var.mkdir(mode=0o755)
    var.chmod(0o755)
    env = server_env(SHOPOPS_VAR_DIR=str(var))
    for name in ("DATABASE_URL", "REDIS_URL", "SECRET_KEY", "SHOPOPS_PRIVATE_DIR"):
        env.pop(name, None)

    # when a shopops process starts under the usual umask and writes its database, queue, cache, a private file
    run = subprocess.run(
        [sys.executable, "-c", VAR_SCRIPT],
        env=env,
        check=True,
        capture_output=True,
        preexec_fn=lambda: os.umask(0o022),
    )
    modes: dict[str, list[int]] = json.loads(run.stdout)

    # then the folder and everything created in it are for the owner only: 0700 folders, 0600 files
    assert {
        ".",
        "secret_key",
        "shopops.sqlite3",
        "shopops.sqlite3-wal",
        "shopops.sqlite3-shm",
        "huey.sqlite3",
        "cache",
        "private/imports/2026/03/probe.csv",
    } <= set(modes)
    assert {path: oct(mode) for path, (mode, expected) in modes.items() if mode != expected} == {}
