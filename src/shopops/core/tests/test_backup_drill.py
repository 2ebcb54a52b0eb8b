import datetime as dt
import os
from pathlib import Path
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.test import Client
from django.urls import reverse

from shopops.core import switches
from shopops.core.backup import archive, retention
from shopops.core.backup.drill import ALERT_KIND
from shopops.core.models import Alert, AlertStatus, DrillStatus, RestoreDrill
from shopops.core.tasks import scheduled_backup
from shopops.core.tests.backup_fixtures import make_files, make_shop_data, table_counts
from shopops.inventory.models import MovementType, StockLevel, StockMovement

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def shop(settings: Any, tmp_path: Path, admin_user: Any) -> dict[str, Any]:
    make_shop_data()
    return {"files": make_files(settings, tmp_path), "user": admin_user}


def test_drill_of_the_latest_backup_passes_and_counts_every_row(shop: dict[str, Any], tmp_path: Path) -> None:
    # given: an older backup and the latest
    archive.create_backup(tmp_path / "backups" / "shopops-20261201-000000.tar")
    latest = archive.create_backup(tmp_path / "backups" / "shopops-20261202-000000.tar")
    expected_rows = sum(table_counts().values())
    # when
    call_command("restore_drill", verbosity=0)
    # then
    drill = RestoreDrill.objects.get()
    assert (drill.status, drill.problems, drill.archive) == (DrillStatus.PASSED, [], latest.path.name)
    assert drill.tables_checked == len(latest.manifest["tables"]) == len(table_counts())
    assert drill.rows_checked == expected_rows
    assert not switches.outbound_paused()  # the scratch copy was paused, not this database
    assert not Alert.objects.filter(kind=ALERT_KIND).exists()


def test_drill_reports_a_tampered_stock_ledger_and_raises_an_alert(
    shop: dict[str, Any], tmp_path: Path
) -> None:
    # given: a movement written around the ledger service, so the level no longer equals its ledger sum
    level = StockLevel.objects.order_by("pk").first()
    assert level is not None
    StockMovement.objects.create(
        sku_id=level.sku_id,
        warehouse_id=level.warehouse_id,
        movement_type=MovementType.ADJUST,
        on_hand_delta=5,
        reserved_delta=0,
        on_hand_after=level.on_hand + 5,
        reserved_after=level.reserved,
        reference_type="tampered",
    )
    backup = archive.create_backup(tmp_path / "broken.tar")
    # when
    with pytest.raises(CommandError, match="FAILED"):
        call_command("restore_drill", str(backup.path), verbosity=0)
    # then
    drill = RestoreDrill.objects.get()
    assert drill.status == DrillStatus.FAILED
    assert len(drill.problems) == 1
    assert f"SKU {level.sku_id} 仓库 {level.warehouse_id}" in drill.problems[0]
    assert f"在库 {level.on_hand}，流水合计 {level.on_hand + 5}" in drill.problems[0]
    alert = Alert.objects.get(kind=ALERT_KIND)
    assert alert.status == AlertStatus.OPEN


def test_drill_of_a_corrupt_archive_fails_without_touching_anything(
    shop: dict[str, Any], tmp_path: Path
) -> None:
    # given
    backup = archive.create_backup(tmp_path / "good.tar")
    data = bytearray(backup.path.read_bytes())
    data[4096] ^= 0xFF
    backup.path.write_bytes(bytes(data))
    # when
    with pytest.raises(CommandError):
        call_command("restore_drill", str(backup.path), verbosity=0)
    # then
    drill = RestoreDrill.objects.get()
    assert drill.status == DrillStatus.FAILED
    assert "校验失败" in drill.problems[0]


def test_drill_with_no_backup_fails_loudly(settings: Any, tmp_path: Path, db: None) -> None:
    settings.BACKUP_DIR = tmp_path / "none"
    with pytest.raises(CommandError):
        call_command("restore_drill", verbosity=0)
    assert RestoreDrill.objects.get().problems == [f"备份目录 {settings.BACKUP_DIR} 中没有备份"]


def test_retention_keeps_the_newest_of_each_recent_day_and_week(settings: Any, tmp_path: Path) -> None:
    # given: two backups a day for 40 days, and one a person named
    settings.BACKUP_DIR = tmp_path
    start = dt.datetime(2026, 10, 1, tzinfo=dt.UTC)
    made = []
    for day in range(40):
        for hour in (3, 15):
            path = archive.default_path(start + dt.timedelta(days=day, hours=hour))
            path.write_bytes(b"x")
            made.append(path)
    personal = tmp_path / "before-upgrade.tar"
    personal.write_bytes(b"x")
    killed = tmp_path / ".shopops-20261001-030000.tar.123.partial"
    killed.write_bytes(b"half")
    os.utime(killed, (0, 0))  # a backup killed long ago
    # when
    deleted = retention.prune(daily=7, weekly=4)
    # then: independent computation of what the schedule keeps
    newest_per_day: dict[dt.date, Path] = {}
    for path in made:
        created = dt.datetime.strptime(path.name[8:23], "%Y%m%d-%H%M%S").replace(tzinfo=dt.UTC)
        newest_per_day[created.date()] = path  # made in order: the last one of a day wins
    days = sorted(newest_per_day, reverse=True)
    weeks: dict[tuple[int, int], dt.date] = {}
    for day in days:
        weeks.setdefault(tuple(day.isocalendar())[:2], day)  # type: ignore[arg-type]
    kept_days = set(days[:7]) | set(sorted(weeks.values(), reverse=True)[:4])
    expected = {newest_per_day[day].name for day in kept_days} | {personal.name}
    assert {path.name for path in tmp_path.iterdir()} == expected
    assert len(deleted) == len(made) + 1 - len(expected)


def _page(client: Client) -> Any:
    return client.get(reverse("admin:core_restoredrill_changelist"))


def test_backup_page_permissions(make_user: Any, db: None) -> None:
    anonymous = Client()
    assert _page(anonymous).status_code == 302
    for role in ("operations", "finance", "warehouse"):
        client = Client()
        client.force_login(make_user(role))
        assert _page(client).status_code == 403
        assert client.post(reverse("admin:core_restoredrill_backup")).status_code == 403
        assert client.post(reverse("admin:core_restoredrill_resume")).status_code == 403


def test_backup_page_lists_backups_backs_up_by_post_and_resumes_outbound(
    shop: dict[str, Any], settings: Any, tmp_path: Path
) -> None:
    # given: a restored copy (outbound paused) and one backup
    switches.set_switch(switches.OUTBOUND_PAUSED, True, reason="restored")
    archive.create_backup()
    rows = sum(table_counts().values())
    client = Client()
    client.force_login(shop["user"])
    # when / then: the page shows the backup with its counts and the pause banner
    page = _page(client)
    assert page.status_code == 200
    html = page.content.decode()
    assert "对外发送已暂停" in html
    assert html.count('data-testid="backup-row"') == 1
    assert f">{rows}</td>" in html
    # GET never acts
    assert client.get(reverse("admin:core_restoredrill_backup")).status_code == 405
    assert len(archive.archives()) == 1
    # POST 立即备份
    response = client.post(reverse("admin:core_restoredrill_backup"), follow=True)
    assert response.status_code == 200
    assert len(archive.archives()) == 2
    # POST 恢复对外发送
    client.post(reverse("admin:core_restoredrill_resume"))
    assert not switches.outbound_paused()
    assert "对外发送已暂停" not in _page(client).content.decode()
    assert connection.vendor in ("sqlite", "postgresql")


def test_nightly_job_writes_an_encrypted_backup_when_asked(
    shop: dict[str, Any], settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given
    settings.BACKUP_ENCRYPT = True
    monkeypatch.setenv("SHOPOPS_BACKUP_KEY", "夜间备份口令")
    # when
    scheduled_backup.call_local()
    # then
    (written,) = archive.archives()
    assert written.name.endswith(".tar.enc")
    with archive.staging_folder() as staging:
        manifest = archive.read_archive(written, staging, passphrase="夜间备份口令")
    assert {table: row["rows"] for table, row in manifest["tables"].items()} == table_counts()
