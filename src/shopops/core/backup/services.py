"""What the 备份与恢复 page does for a person: back up now, drill now, resume outbound after a restore (audited)."""

from __future__ import annotations

from typing import Any

from django.conf import settings

from shopops.core import audit, switches
from shopops.core.backup import archive, crypto, drill
from shopops.core.errors import DomainError
from shopops.core.models import RestoreDrill


def back_up_now(*, actor: Any) -> archive.Backup:
    passphrase = crypto.passphrase_from_environment() if settings.BACKUP_ENCRYPT else ""
    if settings.BACKUP_ENCRYPT and not passphrase:
        raise DomainError(
            f"已设置加密备份，但环境变量 {crypto.KEY_ENVIRONMENT} 为空：未备份", code="backup_key_missing"
        )
    backup = archive.create_backup(passphrase=passphrase)
    audit.record(
        actor=actor,
        action="backup.created",
        changes={"archive": backup.path.name, "encrypted": bool(passphrase)},
        object_repr=backup.path.name,
    )
    return backup


def drill_now(*, actor: Any) -> RestoreDrill:
    result = drill.run_drill(passphrase=crypto.passphrase_from_environment())
    audit.record(
        actor=actor,
        action="backup.drilled",
        instance=result,
        changes={"archive": result.archive, "status": result.status},
    )
    return result


def resume_outbound(*, actor: Any) -> bool:
    """Turn the outbound pause off; False when it was not on."""
    if not switches.outbound_paused():
        return False
    switches.set_switch(
        switches.OUTBOUND_PAUSED, False, reason=f"resumed by {getattr(actor, 'username', actor)}"
    )
    audit.record(
        actor=actor,
        action="switch.outbound_resumed",
        changes={switches.OUTBOUND_PAUSED: [True, False]},
        object_repr=switches.OUTBOUND_PAUSED,
    )
    return True
