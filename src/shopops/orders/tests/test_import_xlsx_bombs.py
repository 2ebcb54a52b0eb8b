from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from huey.contrib.djhuey import HUEY

from shopops.accounts.models import User
from shopops.core.models import ImportJob, ImportJobStatus
from shopops.core.tests.xlsx_files import dense_bomb, run_limited, write_wide_file
from shopops.orders.models import Order
from shopops.orders.tests.factories import create_shop

IMPORTS = "/api/v1/orders/imports"
TEMPLATE_HEADER = ["订单号", "商家编码", "数量", "下单时间", "订单状态"]
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
GRID_CELLS = 16_384 * 1_048_576
DECLARED_TOO_LARGE = (
    f"工作表声明的范围过大（A1:XFD1048576，约 {GRID_CELLS:,} 个单元格；上限 500 列、10,000,000 个单元格），"
    "请删除多余的空行空列后另存为 CSV 或 XLSX 再导入"
)
MEASURED_TOO_LARGE = DECLARED_TOO_LARGE.replace("工作表声明的范围过大", "工作表的数据范围过大")
MEMORY_BOUND_MIB = 400
# what the job worker does with a queued order import (the Huey task, run in this process)
RUN_AS_THE_WORKER = """
import sys
import django
django.setup()
from shopops.orders.tasks import run_order_import
run_order_import.call_local(int(sys.argv[1]))
"""


@pytest.fixture(scope="module")
def wide_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """400,000 rows × 30 cells (2.3 MB) under a header no order format has."""
    path = tmp_path_factory.mktemp("xlsx") / "宽表.xlsx"
    write_wide_file(path, [f"列{number}" for number in range(1, 31)])
    return path


@pytest.fixture(autouse=True)
def private_root(settings: Any, tmp_path: Path) -> Path:
    settings.PRIVATE_FILES_ROOT = tmp_path / "private"
    return settings.PRIVATE_FILES_ROOT


@pytest.fixture
def immediate_huey() -> Iterator[None]:
    was_immediate = HUEY.immediate
    HUEY.immediate = True
    yield
    HUEY.immediate = was_immediate


@pytest.mark.parametrize(
    ("file", "expected"),
    [
        ("dense", DECLARED_TOO_LARGE),
        ("lying", MEASURED_TOO_LARGE),
        ("wide", "无法从表头识别订单格式，请用 --format 指定"),
    ],
)
def test_an_uploaded_bomb_ends_its_job_refused_in_a_worker_that_lives_and_stays_small(
    transactional_db: None,
    make_user: Callable[..., User],
    api_client_for: Callable[[User], Client],
    wide_file: Path,
    file: str,
    expected: str,
) -> None:
    # given the file uploaded through the API (the job is queued, not run here)
    shop = create_shop(name="天猫旗舰店")
    client = api_client_for(make_user("operations"))
    if file == "wide":
        data = wide_file.read_bytes()
    else:
        data = dense_bomb(TEMPLATE_HEADER, dimension="A1:XFD1048576" if file == "dense" else "A1:E2")
    upload = SimpleUploadedFile("订单.xlsx", data, content_type=XLSX)
    queued = client.post(IMPORTS, {"file": upload, "shop": shop.pk})
    assert queued.status_code == 202, queued.content

    # when a process allowed 1.5 GiB of address space runs the job as the worker does
    finished = run_limited(["-c", RUN_AS_THE_WORKER, str(queued.json()["id"])])
    job = client.get(f"{IMPORTS}/{queued.json()['id']}").json()

    # then the process ended normally, its memory peak bounded, and the job says why it refused the file
    assert finished.returncode == 0, finished.stderr
    assert finished.max_rss_mib < MEMORY_BOUND_MIB
    assert (job["status"], job["message"], job["committed"]) == ("refused", expected, None)
    assert not Order.objects.exists()


@pytest.mark.django_db
def test_an_admin_upload_of_the_dense_bomb_shows_the_refusal_on_the_job_page(
    make_user: Callable[..., User], immediate_huey: None, django_capture_on_commit_callbacks: Any
) -> None:
    # given an operator in the back office
    shop = create_shop(name="天猫旗舰店")
    client = Client()
    client.force_login(make_user("operations"))
    upload = SimpleUploadedFile("订单.xlsx", dense_bomb(TEMPLATE_HEADER), content_type=XLSX)

    # when the file is uploaded and its job runs
    with django_capture_on_commit_callbacks(execute=True):
        client.post(
            reverse("admin:orders_order_import_orders"),
            {"file": upload, "shop": shop.pk, "format": "template", "mode": "all_or_nothing"},
        )
    job = ImportJob.objects.get()
    page = client.get(reverse("admin:orders_order_import_job", args=(job.pk,)))

    # then
    assert job.status == ImportJobStatus.REFUSED
    assert job.result == {
        "message": DECLARED_TOO_LARGE,
        "code": "import_refused",
        "fields": {"file": "工作表范围过大"},
    }
    assert DECLARED_TOO_LARGE in page.content.decode()
    assert not Order.objects.exists()
