import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from django.core.management import CommandError, call_command

from shopops.core import switches
from shopops.core.backup import archive, database, digests
from shopops.core.backup.archive import BackupRefused
from shopops.core.models import AuditEntry, Switch
from shopops.core.tests.backup_fixtures import (
    database_url,
    ledger_and_dashboard,
    make_files,
    make_shop_data,
    model_counts,
    read_files,
    rewrite_archive,
    table_counts,
)
from shopops.inventory.tests.factories import create_sku

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def shop(settings: Any, tmp_path: Path, admin_user: Any) -> dict[str, Any]:
    make_shop_data()
    return {"files": make_files(settings, tmp_path), "user": admin_user}


def test_backup_destroy_restore_gives_back_every_row_file_ledger_and_dashboard_number(
    shop: dict[str, Any], settings: Any, tmp_path: Path
) -> None:
    # given
    counts = model_counts()
    tables = table_counts()
    numbers = ledger_and_dashboard(shop["user"])
    assert numbers["dashboard"].orders == 2
    before = database.live_digests()
    backup = archive.create_backup(tmp_path / "backups" / "round.tar")
    audits = AuditEntry.objects.count()
    # when: everything is destroyed, then restored
    call_command("flush", interactive=False, verbosity=0)
    for root in (settings.MEDIA_ROOT, settings.PRIVATE_FILES_ROOT):
        for path in Path(root).rglob("*"):
            if path.is_file():
                path.unlink()
    assert model_counts()["inventory.StockMovement"] == 0
    assert read_files(settings) != shop["files"]
    call_command("restore", str(backup.path), "--yes", verbosity=0)
    # then
    assert backup.manifest["tables"] == digests.as_manifest(before)
    assert {table: row["rows"] for table, row in backup.manifest["tables"].items()} == tables
    assert model_counts(skip=("core.AuditEntry", "core.Switch")) == {
        label: count for label, count in counts.items() if label not in ("core.AuditEntry", "core.Switch")
    }
    assert AuditEntry.objects.count() == audits + 1  # the restore itself, audited
    assert AuditEntry.objects.order_by("-id").first().action == "backup.restored"  # type: ignore[union-attr]
    after = database.live_digests()
    assert {
        table: digest for table, digest in after.items() if table not in ("core_auditentry", "core_switch")
    } == {
        table: digest for table, digest in before.items() if table not in ("core_auditentry", "core_switch")
    }
    assert ledger_and_dashboard(shop["user"]) == numbers
    assert read_files(settings) == shop["files"]
    assert switches.outbound_paused()


def _damaged(source: Path, tmp_path: Path) -> dict[str, Path]:
    data = source.read_bytes()
    empty = tmp_path / "empty.tar"
    empty.write_bytes(b"")
    truncated = tmp_path / "truncated.tar"
    truncated.write_bytes(data[: len(data) // 2])
    corrupt = tmp_path / "corrupt.tar"
    flipped = bytearray(data)
    flipped[4096] ^= 0xFF  # inside the database member, past its tar header
    corrupt.write_bytes(bytes(flipped))
    no_manifest = tmp_path / "no-manifest.tar"
    rewrite_archive(source, no_manifest, drop="manifest.json")
    no_database = tmp_path / "no-database.tar"
    rewrite_archive(source, no_database, drop=database.DUMP_MEMBERS[database.vendor()])
    return {
        "empty": empty,
        "truncated": truncated,
        "corrupt": corrupt,
        "no_manifest": no_manifest,
        "no_database": no_database,
    }


@pytest.mark.parametrize("damage", ["empty", "truncated", "corrupt", "no_manifest", "no_database"])
def test_damaged_archive_is_refused_and_nothing_changes(
    shop: dict[str, Any], settings: Any, tmp_path: Path, damage: str
) -> None:
    # given: a good backup, then more data written after it
    backup = archive.create_backup(tmp_path / "good.tar")
    create_sku(merchant_code="AFTER-BACKUP")
    before = database.live_digests()
    files = read_files(settings)
    damaged = _damaged(backup.path, tmp_path)[damage]
    # when
    with pytest.raises(CommandError) as refused:
        call_command("restore", str(damaged), "--yes", verbosity=0)
    # then
    assert "拒绝恢复" in str(refused.value) or "校验失败" in str(refused.value)
    assert database.live_digests() == before
    assert read_files(settings) == files
    assert not Switch.objects.filter(name=switches.OUTBOUND_PAUSED).exists()


def test_archive_of_other_schema_is_refused_unless_an_older_one_is_migrated_forward(
    shop: dict[str, Any], tmp_path: Path
) -> None:
    # given
    backup = archive.create_backup(tmp_path / "good.tar")
    older, newer = tmp_path / "older.tar", tmp_path / "newer.tar"
    rewrite_archive(
        backup.path,
        older,
        manifest_change=lambda manifest: manifest["migrations"].remove(["core", "0012_restore_drill"]),
    )
    rewrite_archive(
        backup.path,
        newer,
        manifest_change=lambda manifest: manifest["migrations"].append(["core", "0999_from_the_future"]),
    )
    before = database.live_digests()
    # when / then
    with pytest.raises(CommandError, match="core.0012_restore_drill"):
        call_command("restore", str(older), "--yes", verbosity=0)
    with pytest.raises(CommandError, match="core.0999_from_the_future"):
        call_command("restore", str(newer), "--yes", "--migrate", verbosity=0)
    assert database.live_digests() == before
    call_command("restore", str(older), "--yes", "--migrate", verbosity=0)
    assert switches.outbound_paused()


def test_encrypted_backup_round_trips_and_a_wrong_or_missing_key_is_refused(
    shop: dict[str, Any], settings: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given
    monkeypatch.setenv("SHOPOPS_BACKUP_KEY", "正确的口令 correct horse")
    call_command("backup", str(tmp_path / "secret.tar.enc"), "--encrypt", verbosity=0)
    path = tmp_path / "secret.tar.enc"
    assert b"SQLite format 3" not in path.read_bytes()
    assert "一号.jpg".encode() not in path.read_bytes()
    counts = model_counts(skip=("core.AuditEntry", "core.Switch"))
    create_sku(merchant_code="AFTER-BACKUP")
    before = database.live_digests()
    # when / then: wrong key, no key
    monkeypatch.setenv("SHOPOPS_BACKUP_KEY", "wrong")
    with pytest.raises(CommandError, match="已损坏或不完整|无法解密"):
        call_command("restore", str(path), "--yes", verbosity=0)
    monkeypatch.delenv("SHOPOPS_BACKUP_KEY")
    with pytest.raises(CommandError, match="已加密"):
        call_command("restore", str(path), "--yes", verbosity=0)
    assert database.live_digests() == before
    # when / then: the right key
    monkeypatch.setenv("SHOPOPS_BACKUP_KEY", "正确的口令 correct horse")
    call_command("restore", str(path), "--yes", verbosity=0)
    assert model_counts(skip=("core.AuditEntry", "core.Switch")) == counts
    assert read_files(settings) == shop["files"]


def test_encrypted_archive_cut_at_a_frame_boundary_is_refused(shop: dict[str, Any], tmp_path: Path) -> None:
    # given: the end frame removed (a file cut exactly between frames)
    backup = archive.create_backup(tmp_path / "secret.tar.enc", passphrase="pw")
    data = backup.path.read_bytes()
    end_frame = 4 + 100  # the token of nothing: 4 length bytes + 100 bytes of Fernet framing (base64)
    cut = tmp_path / "cut.tar.enc"
    cut.write_bytes(data[:-end_frame])
    # when / then
    with archive.staging_folder() as staging, pytest.raises(BackupRefused, match="cut short"):
        archive.read_archive(cut, staging, passphrase="pw")
    with archive.staging_folder() as staging:
        assert archive.read_archive(backup.path, staging, passphrase="pw")["vendor"] == database.vendor()


def test_kill_9_during_a_backup_leaves_the_previous_backup_intact_and_no_half_file(
    shop: dict[str, Any], tmp_path: Path
) -> None:
    # given: a good backup, and a child process backing up a large media file into the same folder
    folder = tmp_path / "backups"
    previous = archive.create_backup(folder / "shopops-20261201-000000.tar")
    child_var = tmp_path / "child-var"
    (child_var / "media").mkdir(parents=True)
    with (child_var / "media" / "big.bin").open("wb") as big:
        big.truncate(1024**3)  # sparse: read as a gigabyte of zeros, costs no disk
    target = folder / "shopops-20261202-000000.tar"
    environment = {**os.environ, "SHOPOPS_VAR_DIR": str(child_var), "DATABASE_URL": database_url()}
    child = subprocess.Popen(  # noqa: S603
        [sys.executable, "-m", "django", "backup", str(target)],
        env=environment,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    # when: killed once the archive is being written past the database
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and child.poll() is None:
        partial = [path for path in folder.iterdir() if path.name.endswith(archive.PARTIAL_SUFFIX)]
        if partial and partial[0].stat().st_size > previous.path.stat().st_size:
            break
        time.sleep(0.02)
    child.kill()
    assert child.wait() == -9
    # then
    assert not target.exists()
    assert archive.archives() == [previous.path]
    assert sorted(path.name for path in folder.iterdir() if not path.name.startswith(".")) == sorted(
        [previous.path.name, archive.summary_path(previous.path).name]
    )
    with archive.staging_folder() as staging:
        assert archive.read_archive(previous.path, staging)["tables"] == previous.manifest["tables"]
