import csv
import io
from collections.abc import Iterator
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from huey.contrib.djhuey import HUEY

from shopops.accounts.models import User
from shopops.core.models import ImportJob, ImportJobStatus
from shopops.orders.models import Order
from shopops.orders.tests.factories import create_shop
from shopops.orders.tests.import_fixtures import TAOBAO_HEADER, counts, csv_bytes, taobao_row

pytestmark = pytest.mark.django_db

IMPORT_URL = "admin:orders_order_import_orders"
CHANGELIST_URL = "admin:orders_order_changelist"
ORDER_A = "2876543210987654321"
ORDER_B = "2876543210987654322"


@pytest.fixture(autouse=True)
def media_root(settings: Any, tmp_path: Any) -> Any:
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


@pytest.fixture
def immediate_huey() -> Iterator[None]:
    was_immediate = HUEY.immediate
    HUEY.immediate = True
    yield
    HUEY.immediate = was_immediate


def client_for(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def job_url(name: str, job: ImportJob) -> str:
    return reverse(f"admin:orders_order_{name}", args=(job.pk,))


def good_and_bad() -> SimpleUploadedFile:
    rows = [taobao_row(ORDER_A), taobao_row(ORDER_B, paid="abc元")]
    return SimpleUploadedFile("ExportOrderList.csv", csv_bytes(TAOBAO_HEADER, rows, encoding="gb18030"))


def upload(client: Client, capture: Any, shop: Any, **fields: Any) -> tuple[Any, ImportJob | None]:
    data = {"file": good_and_bad(), "shop": shop.pk, "format": "taobao", "mode": "all_or_nothing"}
    with capture(execute=True):
        response = client.post(reverse(IMPORT_URL), {**data, "dry_run": "on", **fields})
    return response, ImportJob.objects.order_by("pk").last()


def test_form_offers_the_shops_in_scope_and_the_platform_formats(make_user: Any) -> None:
    # given an operator limited to one of two shops
    own = create_shop(name="天猫旗舰店")
    create_shop(name="京东自营店")
    client = client_for(make_user("operations", shops=[own]))

    # when
    page = client.get(reverse(IMPORT_URL))
    changelist = client.get(reverse(CHANGELIST_URL))

    # then
    assert page.status_code == 200
    content = page.content.decode()
    assert "天猫旗舰店" in content
    assert "京东自营店" not in content
    for label in (
        "自动识别（按表头）",
        "淘宝/天猫 订单报表",
        "淘宝/天猫 宝贝报表",
        "京东 订单导出",
        "拼多多 订单导出",
    ):
        assert label in content
    assert reverse(IMPORT_URL) in changelist.content.decode()


def test_dry_run_shows_counts_unknown_columns_and_row_errors_and_writes_nothing(
    make_user: Any, immediate_huey: None, django_capture_on_commit_callbacks: Any
) -> None:
    # given
    shop = create_shop(name="天猫旗舰店")
    client = client_for(make_user("operations"))
    before = counts()

    # when
    response, job = upload(client, django_capture_on_commit_callbacks, shop)
    assert job is not None
    page = client.get(response["Location"])

    # then
    assert response.status_code == 302
    assert response["Location"] == job_url("import_job", job)
    assert job.status == ImportJobStatus.REFUSED
    assert job.options == {
        "mode": "all_or_nothing",
        "dry_run": True,
        "shop": shop.pk,
        "shop_name": str(shop),
        "format": "taobao",
        "format_label": "淘宝/天猫 订单报表",
    }
    assert job.result["counts"] == {"total": 2, "created": 1, "updated": 0, "unchanged": 0, "skipped": 1}
    assert job.result["errors"] == [
        {"row": 3, "column": "买家实际支付金额", "message": "“abc元”不是有效金额"}
    ]
    assert {**counts(), "audit": 0} == {**before, "audit": 0}
    content = page.content.decode()
    assert "“abc元”不是有效金额" in content
    assert "买家实际支付金额" in content
    assert "未识别的列（已忽略）：神秘新列" in content
    assert 'data-count="created">1<' in content
    assert 'data-count="skipped">1<' in content
    assert str(shop) in content
    assert "淘宝/天猫 订单报表" in content
    assert "确认导入" in content


def test_confirm_imports_the_good_orders_into_the_chosen_shop(
    make_user: Any, immediate_huey: None, django_capture_on_commit_callbacks: Any
) -> None:
    # given a dry run with one bad row
    shop = create_shop()
    operator = make_user("operations")
    client = client_for(operator)
    _, checked = upload(client, django_capture_on_commit_callbacks, shop, format="")
    assert checked is not None

    # when the user confirms, keeping the good rows
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(job_url("import_job_confirm", checked), {"mode": "skip_bad_rows"})
    job = ImportJob.objects.latest("pk")
    page = client.get(job_url("import_job", job))

    # then
    assert response.status_code == 302
    assert response["Location"] == job_url("import_job", job)
    assert job.options == {
        "mode": "skip_bad_rows",
        "dry_run": False,
        "shop": shop.pk,
        "shop_name": str(shop),
        "format": "",
        "format_label": "自动识别（按表头）",
        "confirms": checked.pk,
    }
    assert (job.status, job.created_by, job.result["committed"]) == (
        ImportJobStatus.SUCCEEDED,
        operator,
        True,
    )
    order = Order.objects.get()
    assert (order.shop, order.external_id) == (shop, ORDER_A)
    content = page.content.decode()
    assert "导入完成，数据已写入。" in content
    assert job_url("import_job", checked) in content
    assert "确认导入" not in content


def test_errors_file_lists_each_error_with_row_and_column(
    make_user: Any, immediate_huey: None, django_capture_on_commit_callbacks: Any
) -> None:
    # given
    client = client_for(make_user("operations"))
    _, job = upload(client, django_capture_on_commit_callbacks, create_shop())
    assert job is not None

    # when
    response = client.get(job_url("import_job_errors", job))

    # then
    assert response.status_code == 200
    text = b"".join(response.streaming_content).decode("utf-8-sig")
    assert list(csv.reader(io.StringIO(text))) == [
        ["类型", "行号", "列", "说明"],
        ["错误", "3", "买家实际支付金额", "“abc元”不是有效金额"],
    ]


def test_status_block_is_polled_until_the_job_ends(
    make_user: Any, django_capture_on_commit_callbacks: Any
) -> None:
    # given a job not yet run (the task is enqueued, the worker has not taken it)
    client = client_for(make_user("operations"))
    with django_capture_on_commit_callbacks(execute=False):
        response, job = upload(client, django_capture_on_commit_callbacks, create_shop())
    assert job is not None

    # when
    status = client.get(job_url("import_job_status", job))

    # then
    assert response.status_code == 302
    assert job.status == ImportJobStatus.QUEUED
    assert status.status_code == 200
    assert 'hx-trigger="every 1s"' in status.content.decode()
    assert "no-store" in status["Cache-Control"]


def test_shop_outside_the_users_scope_is_refused_by_the_form(
    make_user: Any, django_capture_on_commit_callbacks: Any
) -> None:
    # given
    own = create_shop()
    other = create_shop()
    client = client_for(make_user("operations", shops=[own]))

    # when
    response, job = upload(client, django_capture_on_commit_callbacks, other)

    # then
    assert response.status_code == 200
    assert "选择一个有效的选项" in response.content.decode()
    assert job is None
    assert Order.objects.count() == 0


def test_role_without_order_change_permission_cannot_import(
    make_user: Any, immediate_huey: None, django_capture_on_commit_callbacks: Any
) -> None:
    # given a job of an operator, and a finance user (orders: view only)
    shop = create_shop()
    _, job = upload(client_for(make_user("operations")), django_capture_on_commit_callbacks, shop)
    assert job is not None
    finance = client_for(make_user("finance"))

    # when
    form = finance.get(reverse(IMPORT_URL))
    posted, latest = upload(finance, django_capture_on_commit_callbacks, shop)
    job_page = finance.get(job_url("import_job", job))
    changelist = finance.get(reverse(CHANGELIST_URL))

    # then
    assert (form.status_code, posted.status_code, job_page.status_code) == (403, 403, 403)
    assert latest == job
    assert changelist.status_code == 200
    assert reverse(IMPORT_URL) not in changelist.content.decode()


def test_another_users_job_is_not_found(
    make_user: Any, immediate_huey: None, django_capture_on_commit_callbacks: Any
) -> None:
    # given
    _, job = upload(client_for(make_user("operations")), django_capture_on_commit_callbacks, create_shop())
    assert job is not None
    colleague = client_for(make_user("operations"))

    # when
    page = colleague.get(job_url("import_job", job))
    confirm = colleague.post(job_url("import_job_confirm", job), {"mode": "skip_bad_rows"})

    # then
    assert (page.status_code, confirm.status_code) == (404, 404)
    assert ImportJob.objects.count() == 1
    assert Order.objects.count() == 0


def test_anonymous_visitor_is_sent_to_the_login_page() -> None:
    # when
    response = Client().get(reverse(IMPORT_URL))

    # then
    assert response.status_code == 302
    assert "/login/" in response["Location"]
