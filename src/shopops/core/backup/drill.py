"""The restore drill: restore a backup into a scratch database, verify it there, record the outcome.

The scratch copy is checked by `shopops integrity` run in a child process whose DATABASE_URL names the
scratch database, so every `integrity` extension (stock, points, …) runs unchanged against the copy,
and the application's own database is only written to record the result. The copy has outbound
paused before any check runs, and is removed afterwards.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from django.conf import settings
from django.utils import timezone

from shopops.core import notifications
from shopops.core.backup import archive, database
from shopops.core.backup.archive import BackupRefused
from shopops.core.models import AlertSeverity, DrillStatus, RestoreDrill

ALERT_KIND = "core.restore_drill_failed"
ALERT_KEY = "core.restore_drill"
# the 管理员 role's group (accounts.roles names it; core sits below accounts and cannot import it)
ALERT_GROUPS = ("管理员",)


def latest_archive() -> Path | None:
    found = archive.archives()
    return found[-1] if found else None


def _check_scratch(database_url: str, manifest_path: Path) -> dict[str, Any]:
    environment = {
        **os.environ,
        "DATABASE_URL": database_url,
        "DJANGO_SETTINGS_MODULE": os.environ.get("DJANGO_SETTINGS_MODULE", "shopops.settings"),
        "PYTHONPATH": os.pathsep.join(
            filter(None, [str(Path(__file__).parents[3]), os.environ.get("PYTHONPATH")])
        ),
    }
    result = subprocess.run(  # noqa: S603 - our own interpreter and command
        [
            sys.executable,
            "-m",
            "django",
            "integrity",
            "--manifest",
            str(manifest_path),
            "--pause-outbound",
            "--json",
        ],
        env=environment,
        capture_output=True,
        text=True,
        check=False,
    )
    try:
        return dict(json.loads(result.stdout.strip().splitlines()[-1]))
    except (ValueError, IndexError):
        return {
            "problems": [f"核对进程失败：{(result.stderr or result.stdout).strip()[-1000:]}"],
            "tables": 0,
            "rows": 0,
        }


def run_drill(path: Path | None = None, *, passphrase: str = "") -> RestoreDrill:
    """Drill the archive at `path` (default: the latest backup); the stored result, passed or failed."""
    started_at = timezone.now()
    target = Path(path) if path else latest_archive()
    backup_created_at: dt.datetime | None = None
    outcome: dict[str, Any] = {"problems": [], "tables": 0, "rows": 0}
    if target is None:
        outcome["problems"] = [f"备份目录 {settings.BACKUP_DIR} 中没有备份"]
    else:
        try:
            with archive.staging_folder() as staging:
                manifest = archive.read_archive(target, staging, passphrase=passphrase)
                backup_created_at = dt.datetime.fromisoformat(manifest["created_at"])
                if manifest["vendor"] != database.vendor():
                    raise BackupRefused(f"备份来自 {manifest['vendor']}，演练环境是 {database.vendor()}")
                manifest_path = staging / archive.MANIFEST
                manifest_path.write_text(json.dumps(manifest), encoding="utf-8")
                with database.scratch_copy(staging / manifest["database_member"], staging) as url:
                    outcome = _check_scratch(url, manifest_path)
        except (BackupRefused, database.DatabaseCommandFailed) as error:
            outcome["problems"] = [str(error)]
    problems = [str(problem) for problem in outcome.get("problems", [])]
    drill = RestoreDrill.objects.create(
        archive=target.name if target else "",
        backup_created_at=backup_created_at,
        started_at=started_at,
        finished_at=timezone.now(),
        status=DrillStatus.FAILED if problems else DrillStatus.PASSED,
        tables_checked=int(outcome.get("tables", 0)),
        rows_checked=int(outcome.get("rows", 0)),
        problems=problems,
    )
    if problems:
        notifications.raise_alert(
            kind=ALERT_KIND,
            key=ALERT_KEY,
            title=f"恢复演练未通过：{drill.archive or '没有备份'}",
            message="\n".join(problems[:20]),
            severity=AlertSeverity.CRITICAL,
            groups=ALERT_GROUPS,
            instance=drill,
        )
    else:
        notifications.resolve_alert(key=ALERT_KEY)
    return drill
