from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from huey.contrib.djhuey import HUEY

from shopops.accounts.models import User
from shopops.catalog.models import Sku
from shopops.core.models import ImportJob, ImportJobStatus
from shopops.core.tests.xlsx_files import dense_bomb, run_limited, write_wide_file

pytestmark = pytest.mark.django_db

HEADER = ["商品名称", "商家编码", "售价"]
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
GRID_CELLS = 16_384 * 1_048_576
DECLARED_TOO_LARGE = (
    f"工作表声明的范围过大（A1:XFD1048576，约 {GRID_CELLS:,} 个单元格；上限 500 列、10,000,000 个单元格），"
    "请删除多余的空行空列后另存为 CSV 或 XLSX 再导入"
)
MEASURED_TOO_LARGE = DECLARED_TOO_LARGE.replace("工作表声明的范围过大", "工作表的数据范围过大")
MEMORY_BOUND_MIB = 400


@pytest.fixture(scope="module")
def wide_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """400,000 rows × 30 cells (2.3 MB) under a header without 商家编码."""
    path = tmp_path_factory.mktemp("xlsx") / "宽表.xlsx"
    write_wide_file(path, [f"列{number}" for number in range(1, 31)])
    return path


@pytest.fixture
def immediate_huey() -> Iterator[None]:
    was_immediate = HUEY.immediate
    HUEY.immediate = True
    yield
    HUEY.immediate = was_immediate


@pytest.fixture(autouse=True)
def private_root(settings: Any, tmp_path: Path) -> Path:
    settings.PRIVATE_FILES_ROOT = tmp_path / "private"
    return settings.PRIVATE_FILES_ROOT


def test_the_api_answers_the_dense_bomb_with_a_4xx_and_writes_nothing(
    admin_user: User, api_client_for: Callable[[User], Client]
) -> None:
    # given 1.6 KB naming XFD1048576 (calamine would ask for 512 GiB and abort the web server)
    upload = SimpleUploadedFile("商品.xlsx", dense_bomb(HEADER), content_type=XLSX)

    # when
    response = api_client_for(admin_user).post("/api/v1/catalog/imports", {"file": upload})

    # then
    assert response.status_code == 422
    assert response.json() == {
        "code": "import_refused",
        "message": DECLARED_TOO_LARGE,
        "fields": {"file": "工作表范围过大"},
    }
    assert not Sku.objects.exists()


def test_an_admin_upload_of_the_dense_bomb_ends_its_job_refused_with_the_reason_on_the_page(
    make_user: Callable[..., User], immediate_huey: None, django_capture_on_commit_callbacks: Any
) -> None:
    # given an operator in the back office and a bomb whose dimension is honest about nothing
    client = Client()
    client.force_login(make_user("operations"))
    upload = SimpleUploadedFile("商品.xlsx", dense_bomb(HEADER, dimension="A1:C2"), content_type=XLSX)

    # when it is uploaded and its job runs
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("admin:catalog_sku_import_products"), {"file": upload, "mode": "all_or_nothing"})
    job = ImportJob.objects.get()
    page = client.get(reverse("admin:catalog_sku_import_job", args=(job.pk,)))

    # then
    assert job.status == ImportJobStatus.REFUSED
    assert job.result == {
        "message": MEASURED_TOO_LARGE,
        "code": "import_refused",
        "fields": {"file": "工作表范围过大"},
    }
    assert MEASURED_TOO_LARGE in page.content.decode()
    assert not Sku.objects.exists()


@pytest.mark.parametrize(
    ("file", "expected"),
    [("dense", DECLARED_TOO_LARGE), ("lying", MEASURED_TOO_LARGE), ("wide", "缺少必需的列：商家编码")],
)
def test_shopops_import_refuses_the_bombs_in_a_process_that_lives_and_stays_small(
    tmp_path: Path, wide_file: Path, file: str, expected: str
) -> None:
    # given the file, and a process allowed 1.5 GiB of address space
    if file == "wide":
        path = wide_file
    else:
        path = tmp_path / "商品.xlsx"
        path.write_bytes(dense_bomb(HEADER, dimension="A1:XFD1048576" if file == "dense" else "A1:C2"))

    # when `shopops import products` reads it
    finished = run_limited(["-m", "shopops.cli", "import", "products", str(path)])

    # then it refuses the file and exits (1, not killed by a signal), its memory peak bounded
    assert finished.returncode == 1, finished.stderr
    assert f"文件被拒绝：{expected}" in finished.stderr
    assert finished.max_rss_mib < MEMORY_BOUND_MIB
