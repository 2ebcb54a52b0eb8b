"""Which process runs a job, and whether that process still lives: host, boot, pid and the pid's start time."""

from __future__ import annotations

import contextlib
import os
import socket
from pathlib import Path

SEPARATOR = "|"


def _boot_id() -> str:
    """Changes at every reboot: a pid recorded before a reboot names another process after it."""
    with contextlib.suppress(OSError):
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    return ""


def _stat_fields(pid: int) -> list[str] | None:
    """/proc/<pid>/stat after the command name (which may hold spaces and parentheses): state first."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text[text.rindex(")") + 2 :].split()


def start_time(pid: int) -> str:
    """The pid's start time in clock ticks since boot ('' without /proc): tells a reused pid apart."""
    fields = _stat_fields(pid)
    return fields[19] if fields is not None and len(fields) > 19 else ""


def identity(pid: int | None = None) -> str:
    """`host|boot id|pid|start time` of the process `pid` (this one by default)."""
    pid = os.getpid() if pid is None else pid
    return SEPARATOR.join((socket.gethostname(), _boot_id(), str(pid), start_time(pid)))


def _is_running(pid: int) -> bool:
    fields = _stat_fields(pid)
    if fields is not None:
        return fields[0] not in ("Z", "X")  # a zombie has ended, only its exit status is left
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process: it exists
    return True


def is_alive(recorded: str) -> bool | None:
    """Whether the process `recorded` (an `identity`) still runs; None when this host cannot tell (the
    process ran on another host, or the identity is not one)."""
    parts = recorded.split(SEPARATOR)
    if len(parts) != 4 or not parts[2].isdigit():
        return None
    host, boot, pid_text, started = parts
    if host != socket.gethostname():
        return None
    if boot and boot != _boot_id():
        return False
    pid = int(pid_text)
    if not _is_running(pid):
        return False
    return not started or start_time(pid) in ("", started)
