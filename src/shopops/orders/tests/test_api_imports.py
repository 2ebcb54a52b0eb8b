from collections.abc import Iterator
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from huey.contrib.djhuey import HUEY

from shopops.core.models import ImportJob, ImportJobStatus
from shopops.orders.models import Order
from shopops.orders.tests.factories import create_shop
from shopops.orders.tests.import_fixtures import TAOBAO_HEADER, counts, csv_bytes, taobao_row

pytestmark = pytest.mark.django_db

IMPORTS = "/api/v1/orders/imports"
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


def taobao_file(*rows: list[str], name: str = "ExportOrderList.csv") -> SimpleUploadedFile:
    return SimpleUploadedFile(
        name, csv_bytes(TAOBAO_HEADER, rows, encoding="gb18030"), content_type="text/csv"
    )


def good_and_bad() -> SimpleUploadedFile:
    return taobao_file(taobao_row(ORDER_A), taobao_row(ORDER_B, paid="abc元"))


def upload(client: Client, capture: Any, shop: Any, file: Any = None, **fields: Any) -> Any:
    data = {"file": file or good_and_bad(), "shop": shop.pk, "format": "taobao", **fields}
    with capture(execute=True):
        return client.post(IMPORTS, data)


def test_upload_queues_a_job_that_imports_the_good_orders(
    make_user: Any, api_client_for: Any, immediate_huey: None, django_capture_on_commit_callbacks: Any
) -> None:
    # given
    shop = create_shop(name="天猫旗舰店")
    operator = make_user("operations")
    client = api_client_for(operator)

    # when
    response = upload(client, django_capture_on_commit_callbacks, shop, mode="skip_bad_rows")
    job_id = response.json()["id"]
    polled = client.get(f"{IMPORTS}/{job_id}")

    # then the answer is the queued job, the poll its result
    assert response.status_code == 202, response.content
    queued = response.json()
    assert (queued["status"], queued["kind"], queued["filename"]) == (
        "queued",
        "orders",
        "ExportOrderList.csv",
    )
    assert (queued["mode"], queued["dry_run"], queued["committed"], queued["counts"]) == (
        "skip_bad_rows",
        False,
        None,
        None,
    )
    assert queued["options"] == {
        "mode": "skip_bad_rows",
        "dry_run": False,
        "shop": shop.pk,
        "shop_name": str(shop),
        "format": "taobao",
        "format_label": "淘宝/天猫 订单报表",
    }
    assert polled.status_code == 200
    data = polled.json()
    assert data["status"] == "succeeded"
    assert data["committed"] is True
    assert data["counts"] == {"total": 2, "created": 1, "updated": 0, "unchanged": 0, "skipped": 1}
    assert data["errors"] == [{"row": 3, "column": "买家实际支付金额", "message": "“abc元”不是有效金额"}]
    assert data["error_count"] == 1
    assert data["unknown_columns"] == ["神秘新列"]
    assert data["progress"] == {"rows_done": 2, "rows_total": 2, "percent": 100}
    order = Order.objects.get()
    assert (order.shop, order.external_id, order.source) == (shop, ORDER_A, "import")
    job = ImportJob.objects.get(pk=job_id)
    assert (job.created_by, job.status) == (operator, ImportJobStatus.SUCCEEDED)


def test_dry_run_writes_nothing_until_confirmed(
    make_user: Any, api_client_for: Any, immediate_huey: None, django_capture_on_commit_callbacks: Any
) -> None:
    # given a dry run of a file whose format is detected from the header
    shop = create_shop()
    client = api_client_for(make_user("customer_service"))
    before = counts()
    checked = upload(client, django_capture_on_commit_callbacks, shop, format="auto", dry_run="true").json()
    after_dry_run = counts()
    result = client.get(f"{IMPORTS}/{checked['id']}").json()

    # when
    with django_capture_on_commit_callbacks(execute=True):
        confirmed = client.post(f"{IMPORTS}/{checked['id']}/confirm", {"mode": "skip_bad_rows"})
    real = client.get(f"{IMPORTS}/{confirmed.json()['id']}").json()

    # then
    assert {**after_dry_run, "audit": 0} == {**before, "audit": 0}  # only the job's own audit rows
    assert (result["status"], result["dry_run"], result["committed"]) == ("refused", True, False)
    assert result["counts"] == {"total": 2, "created": 1, "updated": 0, "unchanged": 0, "skipped": 1}
    assert result["options"]["format"] == ""
    assert confirmed.status_code == 202, confirmed.content
    assert (confirmed.json()["confirms"], confirmed.json()["dry_run"]) == (checked["id"], False)
    assert (real["status"], real["committed"], real["mode"]) == ("succeeded", True, "skip_bad_rows")
    assert real["options"]["shop"] == shop.pk
    assert real["counts"] == {"total": 2, "created": 1, "updated": 0, "unchanged": 0, "skipped": 1}
    assert list(Order.objects.values_list("external_id", flat=True)) == [ORDER_A]


def test_confirming_a_real_run_is_a_conflict(
    make_user: Any, api_client_for: Any, immediate_huey: None, django_capture_on_commit_callbacks: Any
) -> None:
    # given
    shop = create_shop()
    client = api_client_for(make_user("operations"))
    job = upload(
        client, django_capture_on_commit_callbacks, shop, file=taobao_file(taobao_row(ORDER_A))
    ).json()

    # when
    response = client.post(f"{IMPORTS}/{job['id']}/confirm")

    # then
    assert response.status_code == 409
    assert response.json()["code"] == "import_job_not_confirmable"
    assert ImportJob.objects.count() == 1


def test_anonymous_caller_is_refused_and_nothing_is_queued() -> None:
    # given
    shop = create_shop()

    # when
    response = Client().post(IMPORTS, {"file": good_and_bad(), "shop": shop.pk})

    # then
    assert response.status_code == 401
    assert ImportJob.objects.count() == 0


def test_role_without_order_change_permission_is_refused(
    make_user: Any, api_client_for: Any, django_capture_on_commit_callbacks: Any
) -> None:
    # given
    shop = create_shop()
    finance = api_client_for(make_user("finance"))

    # when
    response = upload(finance, django_capture_on_commit_callbacks, shop)

    # then
    assert response.status_code == 403
    assert ImportJob.objects.count() == 0
    assert Order.objects.count() == 0


def test_shop_outside_the_users_scope_is_not_found_and_nothing_is_imported(
    make_user: Any, api_client_for: Any, immediate_huey: None, django_capture_on_commit_callbacks: Any
) -> None:
    # given an operator limited to one shop
    own = create_shop()
    other = create_shop()
    client = api_client_for(make_user("operations", shops=[own]))

    # when
    response = upload(client, django_capture_on_commit_callbacks, other)

    # then
    assert response.status_code == 404
    assert response.json()["fields"] == {"shop": "不存在"}
    assert ImportJob.objects.count() == 0
    assert Order.objects.count() == 0


def test_other_file_types_are_refused(make_user: Any, api_client_for: Any) -> None:
    # given
    shop = create_shop()
    client = api_client_for(make_user("operations"))

    # when
    response = client.post(IMPORTS, {"file": SimpleUploadedFile("订单.pdf", b"%PDF"), "shop": shop.pk})

    # then
    assert response.status_code == 422
    assert response.json()["fields"] == {"file": "文件类型：.pdf"}
    assert ImportJob.objects.count() == 0


def test_another_users_job_is_not_found(
    make_user: Any, api_client_for: Any, immediate_huey: None, django_capture_on_commit_callbacks: Any
) -> None:
    # given a dry run by one operator
    shop = create_shop()
    owner = api_client_for(make_user("operations"))
    job = upload(owner, django_capture_on_commit_callbacks, shop, dry_run="true").json()
    colleague = api_client_for(make_user("operations"))

    # when
    read = colleague.get(f"{IMPORTS}/{job['id']}")
    confirm = colleague.post(f"{IMPORTS}/{job['id']}/confirm")

    # then
    assert (read.status_code, confirm.status_code) == (404, 404)
    assert ImportJob.objects.count() == 1
    assert Order.objects.count() == 0


def test_reading_a_job_needs_the_import_permissions(make_user: Any, api_client_for: Any) -> None:
    # given
    finance = api_client_for(make_user("finance"))

    # when
    response = finance.get(f"{IMPORTS}/1")

    # then
    assert response.status_code == 403
