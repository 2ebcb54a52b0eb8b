"""Write and read a backup archive: a tar of the database dump and the file trees, manifest last.

Writing goes to a hidden temporary file beside the final name, fsynced, then renamed, so a crash or
kill -9 mid-way leaves earlier archives untouched and never a half file under a backup's name. Reading
extracts into a staging folder and checks every member against the manifest before anyone may use it.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import os
import shutil
import tarfile
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO, Any, BinaryIO

from django.conf import settings
from django.db import connections
from django.db.migrations.recorder import MigrationRecorder
from django.utils import timezone

from shopops.core.backup import crypto, database, digests

FORMAT_VERSION = 1
MANIFEST = "manifest.json"
NAME_PREFIX = "shopops-"
NAME_FORMAT = "%Y%m%d-%H%M%S"
PARTIAL_SUFFIX = ".partial"
SUMMARY_SUFFIX = ".summary.json"


class BackupRefused(Exception):
    """The archive cannot be trusted or used; nothing was changed. The message is for people."""


def file_trees() -> dict[str, Path]:
    """Archive prefix → the folder it holds."""
    return {
        "media": Path(settings.MEDIA_ROOT),
        "private": Path(settings.PRIVATE_FILES_ROOT),
        "analytics": Path(settings.ANALYTICS_DIR),
    }


def backup_dir() -> Path:
    return Path(settings.BACKUP_DIR)


def default_path(now: dt.datetime | None = None, *, encrypted: bool = False) -> Path:
    """BACKUP_DIR/shopops-<UTC time>.tar[.enc]; a second backup within the same second gets "-2", "-3"…"""
    now = (now or timezone.now()).astimezone(dt.UTC)
    stem = f"{NAME_PREFIX}{now.strftime(NAME_FORMAT)}"
    suffix = f".tar{'.enc' if encrypted else ''}"
    number = 1
    name = stem
    while (backup_dir() / f"{name}.tar").exists() or (backup_dir() / f"{name}.tar.enc").exists():
        number += 1
        name = f"{stem}-{number}"
    return backup_dir() / f"{name}{suffix}"


def archives() -> list[Path]:
    """The backups in the backup folder, oldest first (hidden temporary files are not backups)."""
    folder = backup_dir()
    if not folder.is_dir():
        return []
    found = [
        path
        for path in folder.iterdir()
        if path.is_file() and path.name.startswith(NAME_PREFIX) and (path.name.endswith((".tar", ".tar.enc")))
    ]
    return sorted(found, key=lambda path: (path.stat().st_mtime, path.name))


class _HashingReader:
    def __init__(self, raw: BinaryIO) -> None:
        self._raw = raw
        self.hasher = hashlib.sha256()

    def read(self, size: int = -1) -> bytes:
        data = self._raw.read(size)
        self.hasher.update(data)
        return data


def _applied_migrations() -> list[list[str]]:
    recorder = MigrationRecorder(connections[database.ALIAS])
    return sorted([app, name] for app, name in recorder.applied_migrations())


def _add_file(tar: tarfile.TarFile, member: str, path: Path) -> dict[str, Any]:
    info = tarfile.TarInfo(member)
    with path.open("rb") as file:
        info.size = os.fstat(file.fileno()).st_size
        info.mtime = int(path.stat().st_mtime)
        info.mode = 0o600
        reader = _HashingReader(file)
        tar.addfile(info, reader)
    return {"size": info.size, "sha256": reader.hasher.hexdigest()}


def _tree_files(root: Path) -> Iterator[tuple[str, Path]]:
    if not root.is_dir():
        return
    for folder, subfolders, names in os.walk(root):
        subfolders.sort()
        for name in sorted(names):
            path = Path(folder) / name
            if path.is_file() and not path.is_symlink():
                yield path.relative_to(root).as_posix(), path


def _fsync_directory(folder: Path) -> None:
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


@dataclass(frozen=True)
class Backup:
    path: Path
    manifest: dict[str, Any]


def create_backup(path: Path | None = None, *, passphrase: str = "") -> Backup:
    """Write one archive (encrypted when a passphrase is given) and return it with its manifest."""
    target = Path(path) if path else default_path(encrypted=bool(passphrase))
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.{os.getpid()}{PARTIAL_SUFFIX}")
    vendor = database.vendor()
    created_at = timezone.now()
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".shopops-backup-") as workdir:
        dump = Path(workdir) / "dump"
        tables = database.snapshot(dump)
        migrations = _applied_migrations()
        try:
            with partial.open("wb") as raw:
                writer: Any = crypto.EncryptingWriter(raw, passphrase) if passphrase else raw
                files: dict[str, dict[str, Any]] = {}
                with tarfile.open(fileobj=writer, mode="w|", format=tarfile.PAX_FORMAT) as tar:
                    member = database.DUMP_MEMBERS[vendor]
                    files[member] = _add_file(tar, member, dump)
                    for prefix, root in file_trees().items():
                        for relative, file_path in _tree_files(root):
                            member = f"{prefix}/{relative}"
                            files[member] = _add_file(tar, member, file_path)
                    manifest = {
                        "format": FORMAT_VERSION,
                        "created_at": created_at.isoformat(),
                        "vendor": vendor,
                        "database_member": database.DUMP_MEMBERS[vendor],
                        "migrations": migrations,
                        "leaf_migrations": _leaves(migrations),
                        "tables": digests.as_manifest(tables),
                        "files": files,
                    }
                    body = json.dumps(manifest, ensure_ascii=False, indent=1, sort_keys=True).encode()
                    info = tarfile.TarInfo(MANIFEST)
                    info.size = len(body)
                    info.mtime = int(created_at.timestamp())
                    info.mode = 0o600
                    tar.addfile(info, _BytesReader(body))
                if passphrase:
                    writer.close()
                raw.flush()
                os.fsync(raw.fileno())
            partial.chmod(0o600)
            os.replace(partial, target)
            _write_summary(target, manifest, encrypted=bool(passphrase))
            _fsync_directory(target.parent)
        finally:
            with contextlib.suppress(FileNotFoundError):
                partial.unlink()
    return Backup(target, manifest)


def summary_path(path: Path) -> Path:
    return path.with_name(path.name + SUMMARY_SUFFIX)


def summarise(manifest: dict[str, Any]) -> dict[str, Any]:
    """What a person checks before restoring: when, which database, how many rows and files."""
    return {
        "created_at": manifest["created_at"],
        "vendor": manifest["vendor"],
        "tables": len(manifest["tables"]),
        "rows": sum(table["rows"] for table in manifest["tables"].values()),
        "files": len(manifest["files"]) - 1,
        "bytes": sum(member["size"] for member in manifest["files"].values()),
        "leaf_migrations": manifest["leaf_migrations"],
    }


def _write_summary(path: Path, manifest: dict[str, Any], *, encrypted: bool) -> None:
    # beside the archive, so the backup page lists archives without reading (or decrypting) them; no
    # personal data in it, and nothing trusts it: restore and drill read the manifest inside the archive
    summary = {**summarise(manifest), "encrypted": encrypted}
    summary_path(path).write_text(json.dumps(summary, ensure_ascii=False), encoding="utf-8")


def read_summary(path: Path) -> dict[str, Any] | None:
    try:
        return dict(json.loads(summary_path(path).read_text(encoding="utf-8")))
    except (OSError, ValueError):
        return None


class _BytesReader:
    def __init__(self, data: bytes) -> None:
        self._data = data
        self._position = 0

    def read(self, size: int = -1) -> bytes:
        end = len(self._data) if size < 0 else self._position + size
        chunk = self._data[self._position : end]
        self._position += len(chunk)
        return chunk


def _leaves(migrations: list[list[str]]) -> dict[str, str]:
    """The last applied migration per app (by name, as Django numbers them) — for people reading it."""
    leaves: dict[str, str] = {}
    for app, name in migrations:
        if name > leaves.get(app, ""):
            leaves[app] = name
    return leaves


def _safe_member(name: str) -> bool:
    path = PurePosixPath(name)
    return (
        not path.is_absolute()
        and ".." not in path.parts
        and (name == MANIFEST or path.parts[0] in {"database", *file_trees()})
        and len(path.parts) >= 1
    )


def _open_stream(path: Path, passphrase: str) -> tuple[BinaryIO, Any]:
    raw = path.open("rb")
    if not crypto.is_encrypted(str(path)):
        return raw, raw
    if not passphrase:
        raw.close()
        raise BackupRefused(f"备份文件 {path.name} 已加密：请在环境变量 {crypto.KEY_ENVIRONMENT} 中提供密钥")
    try:
        return raw, crypto.DecryptingReader(raw, passphrase)
    except crypto.DecryptionFailed as error:
        raw.close()
        raise BackupRefused(f"无法解密备份文件 {path.name}：{error}") from error


def _copy_member(source: IO[bytes], destination: Path) -> dict[str, Any]:
    destination.parent.mkdir(parents=True, exist_ok=True)
    hasher = hashlib.sha256()
    size = 0
    with destination.open("wb") as out:
        while chunk := source.read(1024 * 1024):
            hasher.update(chunk)
            out.write(chunk)
            size += len(chunk)
    return {"size": size, "sha256": hasher.hexdigest()}


def _extract(path: Path, staging: Path, passphrase: str) -> tuple[dict[str, dict[str, Any]], bytes]:
    """Every member's size and sha256 as found (written under `staging`), and the manifest's bytes."""
    raw, stream = _open_stream(path, passphrase)
    found: dict[str, dict[str, Any]] = {}
    manifest_body = b""
    try:
        with raw, tarfile.open(fileobj=stream, mode="r|") as tar:
            for member in tar:
                if not member.isfile() or not _safe_member(member.name):
                    raise BackupRefused(f"备份文件 {path.name} 含有不应有的成员 {member.name}")
                source = tar.extractfile(member)
                assert source is not None
                if member.name == MANIFEST:
                    manifest_body = source.read()
                else:
                    found[member.name] = _copy_member(source, staging / member.name)
            if isinstance(stream, crypto.DecryptingReader):
                stream.finish()
    except (tarfile.TarError, EOFError, OSError, crypto.DecryptionFailed) as error:
        raise BackupRefused(
            f"备份文件 {path.name} 已损坏或不完整（{error}）：拒绝恢复，数据库未改动"
        ) from error
    return found, manifest_body


def read_archive(path: Path, staging: Path, *, passphrase: str = "") -> dict[str, Any]:
    """Extract the archive into `staging` and prove it whole; its manifest, or BackupRefused."""
    path = Path(path)
    if not path.is_file():
        raise BackupRefused(f"备份文件不存在：{path}")
    if path.stat().st_size == 0:
        raise BackupRefused(f"备份文件 {path.name} 是空的：拒绝恢复，数据库未改动")
    found, manifest_body = _extract(path, staging, passphrase)
    if not manifest_body:
        raise BackupRefused(f"备份文件 {path.name} 没有清单（文件不完整或不是 shopops 备份）：拒绝恢复")
    try:
        manifest = json.loads(manifest_body)
    except ValueError as error:
        raise BackupRefused(f"备份文件 {path.name} 的清单无法读取") from error
    _check_members(path.name, manifest, found)
    if manifest["vendor"] == "sqlite":
        dump = staging / manifest["database_member"]
        try:
            problems = digests.compare(manifest["tables"], digests.sqlite_file_digests(str(dump)))
        except Exception as error:  # noqa: BLE001 - any failure to read the copy means it cannot be trusted
            raise BackupRefused(f"备份文件 {path.name} 中的数据库无法读取（{error}）") from error
        if problems:
            raise BackupRefused(f"备份文件 {path.name} 中的数据库与清单不符：" + "；".join(problems[:5]))
    return manifest


def _check_members(name: str, manifest: dict[str, Any], found: dict[str, dict[str, Any]]) -> None:
    if manifest.get("format") != FORMAT_VERSION:
        raise BackupRefused(f"备份文件 {name} 的格式版本 {manifest.get('format')} 不受支持")
    expected: dict[str, dict[str, Any]] = manifest.get("files", {})
    database_member = manifest.get("database_member")
    if database_member not in expected or not expected[database_member]["size"]:
        raise BackupRefused(f"备份文件 {name} 中没有数据库（空备份）：拒绝恢复，数据库未改动")
    missing = sorted(set(expected) - set(found))
    extra = sorted(set(found) - set(expected))
    changed = sorted(member for member in set(expected) & set(found) if expected[member] != found[member])
    if missing or extra or changed:
        details = [f"缺少 {member}" for member in missing[:3]]
        details += [f"多出 {member}" for member in extra[:3]]
        details += [f"校验和不符 {member}" for member in changed[:3]]
        raise BackupRefused(f"备份文件 {name} 校验失败：{'；'.join(details)}。拒绝恢复，数据库未改动")


@contextlib.contextmanager
def staging_folder() -> Iterator[Path]:
    """A private folder under the var directory for an extracted archive, removed afterwards."""
    root = Path(settings.VAR_DIR)
    root.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(dir=root, prefix=".restore-"))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)
