"""Restore an archive: verify it whole, check its schema against the code, then replace the database and
the file trees, and start the restored copy with outbound messages and platform writes paused.

Every refusal (empty, cut short, corrupt, wrong key, other vendor, other schema) happens before the
first change, so a refused restore leaves the installation exactly as it was.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.apps import apps
from django.core.management import call_command
from django.db.migrations.loader import MigrationLoader

from shopops.core import audit, switches
from shopops.core.backup import archive, database, digests
from shopops.core.backup.archive import BackupRefused


@dataclass(frozen=True)
class SchemaDifference:
    pending: list[tuple[str, str]]  # in the code, not applied in the archive: migrate forward
    unknown: list[tuple[str, str]]  # applied in the archive, unknown to the code: a newer release

    @property
    def is_same(self) -> bool:
        return not self.pending and not self.unknown


def schema_difference(manifest: dict[str, Any]) -> SchemaDifference:
    loader = MigrationLoader(None, ignore_no_migrations=True)
    applied = {(app, name) for app, name in manifest["migrations"]}
    installed = {config.label for config in apps.get_app_configs()}
    known = set(loader.disk_migrations)
    unknown = sorted(key for key in applied if key[0] in installed and key not in known)
    pending = sorted(
        node
        for node in loader.graph.nodes
        if node not in applied
        and not (
            node in loader.replacements and all(r in applied for r in loader.replacements[node].replaces)
        )
    )
    return SchemaDifference(pending=pending, unknown=unknown)


@dataclass
class PreparedRestore:
    path: Path
    staging: Path
    manifest: dict[str, Any]
    migrate: bool
    problems: list[str] = field(default_factory=list)


@contextmanager
def prepare(path: Path, *, passphrase: str = "", migrate: bool = False) -> Iterator[PreparedRestore]:
    """Extract and verify the archive, and check it fits this installation; nothing is changed yet."""
    with archive.staging_folder() as staging:
        manifest = archive.read_archive(Path(path), staging, passphrase=passphrase)
        vendor = database.vendor()
        if manifest["vendor"] != vendor:
            raise BackupRefused(
                f"备份来自 {manifest['vendor']} 数据库，当前使用 {vendor}：不能直接恢复（数据库未改动）"
            )
        difference = schema_difference(manifest)
        if difference.unknown:
            names = "、".join(f"{app}.{name}" for app, name in difference.unknown[:5])
            raise BackupRefused(f"备份来自更新的版本（含本版本没有的迁移 {names}）：请先升级程序再恢复")
        if difference.pending and not migrate:
            names = "、".join(f"{app}.{name}" for app, name in difference.pending[:5])
            raise BackupRefused(
                f"备份的数据库结构比程序旧（缺少迁移 {names} 等 {len(difference.pending)} 个）："
                "确认后加 --migrate 恢复并升级"
            )
        yield PreparedRestore(Path(path), staging, manifest, migrate=bool(difference.pending))


def _replace_tree(staged: Path, target: Path) -> None:
    aside = target.with_name(target.name + ".before-restore")
    if aside.exists():
        shutil.rmtree(aside)
    if target.exists():
        target.rename(aside)
    if staged.is_dir():
        shutil.move(str(staged), str(target))
    else:
        target.mkdir(parents=True, exist_ok=True)
    if aside.exists():
        shutil.rmtree(aside)


def apply(prepared: PreparedRestore, *, actor: Any = "cli") -> list[str]:
    """Replace database and files with the prepared archive; the differences found afterwards ([] = none)."""
    manifest = prepared.manifest
    database.restore(prepared.staging / manifest["database_member"])
    for prefix, target in archive.file_trees().items():
        _replace_tree(prepared.staging / prefix, target)
    if prepared.migrate:
        call_command("migrate", interactive=False, verbosity=0)
        problems: list[str] = []
    else:
        problems = digests.compare(manifest["tables"], database.live_digests())
    switches.set_switch(switches.OUTBOUND_PAUSED, True, reason=f"restored from {prepared.path.name}")
    audit.record(
        actor=actor,
        action="backup.restored",
        changes={
            "archive": prepared.path.name,
            "created_at": manifest["created_at"],
            "migrated": prepared.migrate,
        },
        object_repr=prepared.path.name,
    )
    prepared.problems = problems
    return problems
