import csv
import io
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

import openpyxl
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from huey.contrib.djhuey import HUEY

from shopops.accounts.models import User
from shopops.catalog.models import PriceHistory, Product, Sku
from shopops.catalog.tests.factories import create_category, create_product, create_sku
from shopops.core.models import AuditEntry, ImportJob, ImportJobStatus

pytestmark = pytest.mark.django_db

IMPORT_URL = "admin:catalog_sku_import_products"
CHANGELIST_URL = "admin:catalog_sku_changelist"
HEADER = "商品名称,商品编码,商家编码,类目,品牌,规格,售价,成本价,运营备注"
GOOD_ROWS = [
    "真丝连衣裙,P100,P100-BK-M,女装/连衣裙,素语,颜色:黑色;尺码:M,299,120,夏季主推",
    "真丝连衣裙,P100,P100-BK-L,女装/连衣裙,素语,颜色:黑色;尺码:L,299,120,",
]
BAD_ROW = "真丝连衣裙,P100,P100-BK-XL,女装/连衣裙,素语,颜色:黑色;尺码:XL,abc,120,"


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


def csv_upload(lines: list[str], name: str = "商品.csv") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, ("\n".join(lines) + "\n").encode("utf-8"), content_type="text/csv")


def job_url(name: str, job: ImportJob) -> str:
    return reverse(f"admin:catalog_sku_{name}", args=(job.pk,))


def upload(
    client: Client, capture: Callable[..., Any], lines: list[str], **fields: Any
) -> tuple[Any, ImportJob]:
    data = {"file": csv_upload(lines), "mode": "all_or_nothing", "dry_run": "on", **fields}
    with capture(execute=True):
        response = client.post(reverse(IMPORT_URL), data)
    return response, ImportJob.objects.latest("pk")


def test_dry_run_shows_the_bad_row_and_writes_nothing(
    make_user: Callable[..., User], immediate_huey: None, django_capture_on_commit_callbacks: Any
) -> None:
    # given
    operator = make_user("operations")
    client = client_for(operator)

    # when
    response, job = upload(client, django_capture_on_commit_callbacks, [HEADER, *GOOD_ROWS, BAD_ROW])
    page = client.get(response["Location"])

    # then
    assert response.status_code == 302
    assert response["Location"] == job_url("import_job", job)
    assert job.status == ImportJobStatus.REFUSED
    assert job.options == {"mode": "all_or_nothing", "dry_run": True}
    assert job.original_filename == "商品.csv"
    assert job.result["counts"] == {"total": 3, "created": 2, "updated": 0, "unchanged": 0, "skipped": 1}
    assert job.result["errors"] == [{"row": 4, "column": "售价", "message": "“abc”不是有效金额"}]
    assert job.result["error_count"] == 1
    assert job.result["unknown_columns"] == ["运营备注"]
    assert job.result["committed"] is False
    assert Sku.objects.count() == 0
    assert Product.objects.count() == 0
    content = page.content.decode()
    assert "“abc”不是有效金额" in content
    assert "运营备注" in content
    assert "确认导入" in content
    assert 'hx-trigger="every 1s"' not in content  # finished: polling stops


def test_confirm_imports_the_checked_file_for_real(
    make_user: Callable[..., User], immediate_huey: None, django_capture_on_commit_callbacks: Any
) -> None:
    # given a dry run with one bad row
    operator = make_user("operations")
    client = client_for(operator)
    _, checked = upload(client, django_capture_on_commit_callbacks, [HEADER, *GOOD_ROWS, BAD_ROW])

    # when the user confirms, keeping the good rows
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(job_url("import_job_confirm", checked), {"mode": "skip_bad_rows"})
    job = ImportJob.objects.latest("pk")

    # then
    assert response.status_code == 302
    assert response["Location"] == job_url("import_job", job)
    assert job.pk != checked.pk
    assert job.options == {"mode": "skip_bad_rows", "dry_run": False, "confirms": checked.pk}
    assert job.file.name == ""  # the checked file, deleted once imported for real
    assert job.status == ImportJobStatus.SUCCEEDED
    assert job.result["counts"] == {"total": 3, "created": 2, "updated": 0, "unchanged": 0, "skipped": 1}
    assert job.result["committed"] is True
    assert sorted(Sku.objects.values_list("merchant_code", "sale_price")) == [
        ("P100-BK-L", Decimal("299.00")),
        ("P100-BK-M", Decimal("299.00")),
    ]
    assert PriceHistory.objects.filter(source="import").count() == 4  # sale and cost price of 2 SKUs
    assert AuditEntry.objects.filter(action="catalog.imported", actor=operator).count() == 1


def test_finished_job_records_rows_done_and_its_times(
    make_user: Callable[..., User], immediate_huey: None, django_capture_on_commit_callbacks: Any
) -> None:
    # given
    client = client_for(make_user("operations"))

    # when
    _, job = upload(client, django_capture_on_commit_callbacks, [HEADER, *GOOD_ROWS], dry_run="")
    status = client.get(job_url("import_job_status", job))

    # then
    assert job.rows_done == 2
    assert job.rows_total == 2
    assert job.started_at is not None
    assert job.finished_at is not None
    assert job.created_at <= job.started_at <= job.finished_at
    assert status.status_code == 200
    assert 'data-status="succeeded"' in status.content.decode()
    assert "已处理 2 行" in status.content.decode()
    assert Sku.objects.count() == 2


def test_reimporting_the_same_file_changes_nothing(
    make_user: Callable[..., User], immediate_huey: None, django_capture_on_commit_callbacks: Any
) -> None:
    # given
    client = client_for(make_user("operations"))
    _, first = upload(client, django_capture_on_commit_callbacks, [HEADER, *GOOD_ROWS], dry_run="")
    skus_before = list(Sku.objects.order_by("pk").values())

    # when
    _, second = upload(client, django_capture_on_commit_callbacks, [HEADER, *GOOD_ROWS], dry_run="")

    # then
    assert first.result["counts"]["created"] == 2
    assert second.sha256 == first.sha256
    assert second.result["counts"] == {"total": 2, "created": 0, "updated": 0, "unchanged": 2, "skipped": 0}
    assert list(Sku.objects.order_by("pk").values()) == skus_before


def test_errors_file_lists_every_error(
    make_user: Callable[..., User], immediate_huey: None, django_capture_on_commit_callbacks: Any
) -> None:
    # given
    client = client_for(make_user("operations"))
    _, job = upload(client, django_capture_on_commit_callbacks, [HEADER, *GOOD_ROWS, BAD_ROW])

    # when
    response = client.get(job_url("import_job_errors", job))

    # then
    assert response.status_code == 200
    assert response["Content-Disposition"].startswith("attachment;")
    text = b"".join(response.streaming_content).decode("utf-8-sig")
    assert list(csv.reader(io.StringIO(text))) == [
        ["类型", "行号", "列", "说明"],
        ["错误", "4", "售价", "“abc”不是有效金额"],
    ]


def test_file_refused_as_a_whole_shows_the_reason(
    make_user: Callable[..., User], immediate_huey: None, django_capture_on_commit_callbacks: Any
) -> None:
    # given a file without the 商家编码 column
    client = client_for(make_user("operations"))

    # when
    _, job = upload(client, django_capture_on_commit_callbacks, ["商品名称,售价", "连衣裙,10"])
    page = client.get(job_url("import_job", job))

    # then
    assert job.status == ImportJobStatus.REFUSED
    assert job.result == {
        "message": "缺少必需的列：商家编码",
        "code": "import_refused",
        "fields": {"file": "缺少列：商家编码"},
    }
    assert "缺少必需的列：商家编码" in page.content.decode()
    assert "确认导入" not in page.content.decode()


def test_upload_queues_the_job_until_commit(
    make_user: Callable[..., User], django_capture_on_commit_callbacks: Any
) -> None:
    # given a worker that has not run yet
    client = client_for(make_user("operations"))

    # when
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = client.post(
            reverse(IMPORT_URL), {"file": csv_upload([HEADER, *GOOD_ROWS]), "mode": "skip_bad_rows"}
        )
    job = ImportJob.objects.get()
    page = client.get(response["Location"])

    # then
    assert len(callbacks) == 1
    assert job.status == ImportJobStatus.QUEUED
    assert job.options == {"mode": "skip_bad_rows", "dry_run": False}
    assert 'hx-trigger="every 1s"' in page.content.decode()
    assert job_url("import_job_status", job) in page.content.decode()


def test_designer_without_price_permission_cannot_import(
    make_user: Callable[..., User], immediate_huey: None, django_capture_on_commit_callbacks: Any
) -> None:
    # given
    designer = client_for(make_user("designer"))
    _, job = upload(client_for(make_user("operations")), django_capture_on_commit_callbacks, [HEADER])

    # when
    changelist = designer.get(reverse(CHANGELIST_URL))
    form = designer.get(reverse(IMPORT_URL))
    with django_capture_on_commit_callbacks(execute=True):
        posted = designer.post(reverse(IMPORT_URL), {"file": csv_upload([HEADER, *GOOD_ROWS])})
    job_page = designer.get(job_url("import_job", job))

    # then
    assert changelist.status_code == 200
    assert reverse(IMPORT_URL) not in changelist.content.decode()
    assert form.status_code == 403
    assert posted.status_code == 403
    assert job_page.status_code == 403
    assert ImportJob.objects.count() == 1
    assert Sku.objects.count() == 0


def test_another_users_job_is_not_found(
    make_user: Callable[..., User], immediate_huey: None, django_capture_on_commit_callbacks: Any
) -> None:
    # given
    _, job = upload(client_for(make_user("operations")), django_capture_on_commit_callbacks, [HEADER])
    colleague = client_for(make_user("operations"))

    # when
    page = colleague.get(job_url("import_job", job))
    confirm = colleague.post(job_url("import_job_confirm", job), {"mode": "skip_bad_rows"})

    # then
    assert page.status_code == 404
    assert confirm.status_code == 404
    assert ImportJob.objects.count() == 1


def test_import_form_refuses_other_file_types(make_user: Callable[..., User]) -> None:
    # given
    client = client_for(make_user("operations"))

    # when
    response = client.post(
        reverse(IMPORT_URL), {"file": SimpleUploadedFile("商品.pdf", b"%PDF"), "mode": "all_or_nothing"}
    )

    # then
    assert response.status_code == 200
    assert "只支持 CSV 或 XLSX 文件" in response.content.decode()
    assert ImportJob.objects.count() == 0


def make_two_categories() -> tuple[list[Sku], list[Sku]]:
    dresses = create_category(name="连衣裙")
    shirts = create_category(name="衬衫")
    dress = create_product(name="真丝连衣裙", merchant_code="P-DRESS", category=dresses)
    shirt = create_product(name="牛津衬衫", merchant_code="P-SHIRT", category=shirts)
    wanted = [
        create_sku(product=dress, merchant_code="DRESS-M", sale_price="299.00", cost_price="120.00"),
        create_sku(product=dress, merchant_code="DRESS-L", sale_price="309.00", cost_price="125.00"),
    ]
    others = [create_sku(product=shirt, merchant_code="SHIRT-M")]
    return wanted, others


def test_export_button_carries_the_changelist_filter(make_user: Callable[..., User]) -> None:
    # given
    wanted, _ = make_two_categories()
    client = client_for(make_user("operations"))
    category_id = wanted[0].product.category_id

    # when
    changelist = client.get(reverse(CHANGELIST_URL), {"category": category_id})

    # then
    content = changelist.content.decode()
    assert f"{reverse('admin:catalog_sku_export_products_csv')}?category={category_id}" in content
    assert f"{reverse('admin:catalog_sku_export_products_xlsx')}?category={category_id}" in content
    assert reverse(IMPORT_URL) in content


def test_export_csv_holds_the_filtered_skus(make_user: Callable[..., User]) -> None:
    # given
    wanted, _ = make_two_categories()
    client = client_for(make_user("operations"))
    category_id = wanted[0].product.category_id
    expected = sorted(
        Sku.objects.filter(product__category_id=category_id).values_list("merchant_code", flat=True)
    )

    # when
    response = client.get(reverse("admin:catalog_sku_export_products_csv"), {"category": category_id})

    # then
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode("utf-8-sig"))))
    assert sorted(row["商家编码"] for row in rows) == expected == ["DRESS-L", "DRESS-M"]
    assert {row["商家编码"]: row["售价"] for row in rows} == {"DRESS-M": "299.00", "DRESS-L": "309.00"}


def test_export_xlsx_holds_the_searched_skus(make_user: Callable[..., User]) -> None:
    # given
    make_two_categories()
    client = client_for(make_user("operations"))

    # when
    response = client.get(reverse("admin:catalog_sku_export_products_xlsx"), {"q": "SHIRT"})

    # then
    assert response.status_code == 200
    workbook = openpyxl.load_workbook(io.BytesIO(b"".join(response.streaming_content)), read_only=True)
    rows = list(workbook.active.iter_rows(values_only=True))
    code_column = rows[0].index("商家编码")
    assert [row[code_column] for row in rows[1:]] == ["SHIRT-M"]


def test_export_needs_view_permission(make_user: Callable[..., User]) -> None:
    # given a staff user without any role
    make_two_categories()
    nobody = client_for(make_user(None, is_staff=True))

    # when
    response = nobody.get(reverse("admin:catalog_sku_export_products_csv"))

    # then
    assert response.status_code == 403
