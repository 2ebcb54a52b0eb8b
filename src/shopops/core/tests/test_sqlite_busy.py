import contextlib
import csv
import io
import json
import sqlite3
import threading
from collections.abc import Iterator

import psycopg
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test import Client

from shopops.core import jobs, tabular
from shopops.core.db import RETRY_AFTER_SECONDS
from shopops.core.models import ImportJobStatus
from shopops.core.tabular import Column
from shopops.fulfillment.models import Carrier
from shopops.orders.imports import import_orders
from shopops.orders.models import Order
from shopops.orders.tests.factories import create_order, create_shop

on_sqlite = pytest.mark.skipif(connection.vendor != "sqlite", reason="SQLite connection settings")


@contextlib.contextmanager
def database_locked_for_writes(table: str) -> Iterator[None]:
    """Another connection holds the write lock (SQLite: the whole database; PostgreSQL: `table`), and this
    thread's connection gives up waiting after 0.2 s instead of the configured timeout."""
    settings_dict = connection.settings_dict
    connection.ensure_connection()
    if connection.vendor == "sqlite":
        other = sqlite3.connect(settings_dict["NAME"], isolation_level=None)
        other.execute("BEGIN IMMEDIATE")
        with connection.cursor() as cursor:
            cursor.execute("PRAGMA busy_timeout = 200")
    else:
        other = psycopg.connect(
            dbname=settings_dict["NAME"],
            host=settings_dict["HOST"],
            port=settings_dict["PORT"] or 5432,
            user=settings_dict["USER"],
        )
        other.execute(f"LOCK TABLE {table} IN EXCLUSIVE MODE")
        with connection.cursor() as cursor:
            cursor.execute("SET lock_timeout = '200ms'")
    try:
        yield
    finally:
        other.rollback()
        other.close()
        connection.close()  # the next query reconnects with the configured timeout


@on_sqlite
def test_every_sqlite_connection_uses_wal_normal_sync_and_a_short_busy_timeout(db):
    # given a new connection, opened as every request and job opens one
    fresh = connection.copy()
    # when reading its settings back from SQLite
    try:
        with fresh.cursor() as cursor:
            pragmas = {
                name: cursor.execute(f"PRAGMA {name}").fetchone()[0]
                for name in ("journal_mode", "synchronous", "busy_timeout", "foreign_keys")
            }
    finally:
        fresh.close()
    # then readers run beside a writer (WAL), commits skip the extra fsync (NORMAL = 1), and a writer
    # waits at most 5 s for the lock (then 503) instead of 30 s
    assert pragmas == {"journal_mode": "wal", "synchronous": 1, "busy_timeout": 5000, "foreign_keys": 1}


def test_api_write_on_a_busy_database_answers_503_with_retry_after(
    transactional_db, make_user, api_client_for
):
    # given an order and another connection holding the write lock
    order = create_order(shop=create_shop(), lines=[("A", 1, "10.00")])
    client = api_client_for(make_user("operations"))
    # when the memo is changed meanwhile
    with database_locked_for_writes(Order._meta.db_table):
        response = client.patch(
            f"/api/v1/orders/{order.pk}/memo",
            json.dumps({"seller_memo": "加急"}),
            content_type="application/json",
        )
    # then the client is told to come back, in the API's error shape, and nothing changed
    assert response.status_code == 503
    assert response["Retry-After"] == str(RETRY_AFTER_SECONDS)
    assert response.json() == {"code": "database_busy", "message": "数据库繁忙，请稍后重试", "fields": {}}
    order.refresh_from_db()
    assert order.seller_memo == ""


def test_admin_write_on_a_busy_database_answers_a_chinese_503_page(transactional_db, admin_user):
    # given a signed-in administrator and another connection holding the write lock
    client = Client()
    client.force_login(admin_user)
    form = {"code": "TEST1", "name": "测试快递", "aliases": "[]", "is_active": "on"}
    # when a carrier is added meanwhile
    with database_locked_for_writes(Carrier._meta.db_table):
        response = client.post("/admin/fulfillment/carrier/add/", form)
    # then a page says so in Chinese, with Retry-After, and nothing was written
    assert response.status_code == 503
    assert response["Retry-After"] == str(RETRY_AFTER_SECONDS)
    assert "系统繁忙，请稍后重试" in response.content.decode()
    assert not Carrier.objects.filter(code="TEST1").exists()


TEMPLATE_HEADER = ["订单号", "订单状态", "下单时间", "付款时间", "买家ID", "收货人", "收货电话", "省", "市", "区县",
                   "详细地址", "实付金额", "商家编码", "商品标题", "数量", "单价"]  # fmt: skip


def order_file(count: int) -> bytes:
    text = io.StringIO()
    writer = csv.writer(text)
    writer.writerow(TEMPLATE_HEADER)
    for number in range(1, count + 1):
        writer.writerow([f"IMP{number}", "paid", "2016-06-01 10:00:00", "2016-06-01 10:01:00", f"buyer{number}",
                         "孙八", "13600002222", "浙江省", "杭州市", "西湖区", "文一路 9 号", "30.00", "BAG-1", "帆布包",
                         "1", "30.00"])  # fmt: skip
    return text.getvalue().encode()


def imported_carriers() -> dict[str, str]:
    """Carriers of the test files (the database holds seeded ones too), code → name."""
    return dict(Carrier.objects.filter(code__in=["C1", "C2", "C3", "C4"]).values_list("code", "name"))


def carrier_file(codes: list[str]) -> bytes:
    return ("编码,名称\n" + "".join(f"{code},快递{code}\n" for code in codes)).encode()


class CarrierImporter(tabular.RowImporter):
    columns = (Column("code", "编码", required=True), Column("name", "名称", required=True))

    def process(self, rows: list[tabular.TableRow]) -> None:
        for row in rows:
            if not row.get("name"):
                row.add_error("name", "必填")
            if row.is_valid:
                Carrier.objects.create(code=row.get("code"), name=row.get("name"))
                row.action, row.key = tabular.Action.CREATED, row.get("code")


class MemoWriter:
    """Changes an order's memo through the API from another thread (its own connection), once."""

    def __init__(self, client: Client, order: Order) -> None:
        self.client, self.order = client, order
        self.outcomes: list[object] = []

    def write(self) -> None:
        try:
            response = self.client.patch(
                f"/api/v1/orders/{self.order.pk}/memo",
                json.dumps({"seller_memo": "导入期间改的备注"}),
                content_type="application/json",
            )
            self.outcomes.append(response.status_code)
        except Exception as error:
            self.outcomes.append(repr(error))
        finally:
            connection.close()

    def __call__(self, rows_done: int, rows_total: int | None) -> None:
        # the import's progress callback, after its first chunk: the import is not over
        if not self.outcomes:
            thread = threading.Thread(target=self.write)
            thread.start()
            thread.join(timeout=120)


@pytest.mark.parametrize("dry_run", [False, True])
def test_a_writer_gets_through_while_an_all_or_nothing_order_import_runs(
    transactional_db, make_user, api_client_for, dry_run
):
    # given an order outside the file and an import of five orders, one chunk each
    shop = create_shop(platform="own")
    order = create_order(shop=shop, lines=[("A", 1, "10.00")])
    writer = MemoWriter(api_client_for(make_user("operations")), order)
    # when the memo is changed after the import's first chunk
    result = import_orders(
        source=io.BytesIO(order_file(5)),
        filename="orders.csv",
        actor="cli:test",
        shop=shop,
        format="template",
        dry_run=dry_run,
        progress=writer,
        chunk_size=1,
    )
    # then the writer was not locked out, and the import did all it would do
    assert writer.outcomes == [200]
    order.refresh_from_db()
    assert order.seller_memo == "导入期间改的备注"
    assert (result.total_rows, result.created, result.errors) == (5, 5, [])
    assert result.committed is not dry_run
    assert Order.objects.filter(external_id__startswith="IMP").count() == (0 if dry_run else 5)


@pytest.mark.parametrize("dry_run", [False, True])
def test_a_writer_gets_through_while_an_all_or_nothing_import_runs(
    transactional_db, make_user, api_client_for, dry_run
):
    # given an order and a file of four carriers, one chunk each
    order = create_order(shop=create_shop(), lines=[("A", 1, "10.00")])
    writer = MemoWriter(api_client_for(make_user("operations")), order)
    # when the memo is changed after the import's first chunk
    result = tabular.run_import(
        source=io.BytesIO(carrier_file(["C1", "C2", "C3", "C4"])),
        filename="carriers.csv",
        importer=CarrierImporter(),
        dry_run=dry_run,
        progress=writer,
        chunk_size=1,
    )
    # then the writer was not locked out, and the import did all it would do
    assert writer.outcomes == [200]
    assert (result.created, result.errors, result.committed) == (4, [], not dry_run)
    assert imported_carriers() == (
        {} if dry_run else {code: f"快递{code}" for code in ("C1", "C2", "C3", "C4")}
    )


def test_a_writer_gets_through_and_still_nothing_is_written_when_the_last_chunk_has_a_bad_row(
    transactional_db, make_user, api_client_for
):
    # given an order, and a file whose last row lacks its name
    order = create_order(shop=create_shop(), lines=[("A", 1, "10.00")])
    writer = MemoWriter(api_client_for(make_user("operations")), order)
    content = carrier_file(["C1", "C2", "C3"]) + b"C4,\n"
    # when it is imported all or nothing, one row a chunk, and the memo is changed after the first chunk
    result = tabular.run_import(
        source=io.BytesIO(content),
        filename="carriers.csv",
        importer=CarrierImporter(),
        progress=writer,
        chunk_size=1,
    )
    # then the writer was not locked out, the file is refused and no chunk was kept
    assert writer.outcomes == [200]
    assert (result.is_refused, result.committed, result.created, result.skipped) == (True, False, 3, 1)
    assert [(error.row, error.column) for error in result.errors] == [(5, "名称")]
    assert imported_carriers() == {}


@on_sqlite
def test_all_or_nothing_on_sqlite_says_from_which_row_nothing_was_written_when_data_changed_after_the_check(
    transactional_db,
):
    # given a file of four carriers; someone adds C3 after the file was checked, before it is written
    added = []

    def add_c3_after_the_check(rows_done: int, rows_total: int | None) -> None:
        if rows_done == 4 and not added:
            added.append(Carrier.objects.create(code="C3", name="别人加的"))

    # when it is imported all or nothing, one row a chunk
    result = tabular.run_import(
        source=io.BytesIO(carrier_file(["C1", "C2", "C3", "C4"])),
        filename="carriers.csv",
        importer=CarrierImporter(),
        progress=add_c3_after_the_check,
        chunk_size=1,
    )
    # then the rows before C3 are written, C3 and after are not, and the result says so
    assert (result.is_partial, result.is_refused, result.committed) == (True, False, True)
    assert (result.total_rows, result.created, result.skipped) == (3, 2, 1)
    assert result.errors[0].row == 4
    assert result.errors[0].message.startswith("写入时第 4 行起被拒绝（检查时没有这个错误）：数据库拒绝写入")
    assert "此前的 2 行已写入，之后的行未导入" in result.errors[0].message
    assert imported_carriers() == {"C1": "快递C1", "C2": "快递C2", "C3": "别人加的"}


@on_sqlite
def test_an_import_job_written_in_part_ends_failed_and_says_from_which_row(
    transactional_db, make_user, settings, tmp_path
):
    # given a queued job for four carriers; someone adds C3 after the file was checked, before it is written
    settings.PRIVATE_FILES_ROOT = tmp_path / "private"
    job = jobs.create_import_job(
        kind="carriers",
        upload=SimpleUploadedFile("carriers.csv", carrier_file(["C1", "C2", "C3", "C4"])),
        filename="carriers.csv",
        mode="all_or_nothing",
        dry_run=False,
        actor=make_user("operations"),
    )

    def import_carriers(*, progress, **options):
        def add_c3_after_the_check(rows_done: int, rows_total: int | None) -> None:
            if rows_done == 4 and not Carrier.objects.filter(code="C3").exists():
                Carrier.objects.create(code="C3", name="别人加的")
            progress(rows_done, rows_total)

        options.pop("actor")
        return tabular.run_import(
            importer=CarrierImporter(), chunk_size=1, progress=add_c3_after_the_check, **options
        )

    # when the worker runs it
    finished = jobs.run_import_job(job_id=job.pk, importer=import_carriers)
    # then the job failed (not succeeded, not refused): two rows are written and the message says so
    assert finished is not None
    assert finished.status == ImportJobStatus.FAILED
    assert (finished.result["committed"], finished.result["is_partial"]) == (True, True)
    assert finished.result["counts"]["created"] == 2
    assert finished.result["message"].startswith("写入时第 4 行起被拒绝（检查时没有这个错误）")
    assert imported_carriers() == {"C1": "快递C1", "C2": "快递C2", "C3": "别人加的"}
