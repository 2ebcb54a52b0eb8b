"""Where private files live: uploads for imports and their error reports, outside the public media tree.

Nothing under `PRIVATE_FILES_ROOT` is served by the web server; a file leaves only through a view that
checks permission and scope. Files are 0600 in 0700 folders, under random names (the user's file name is
kept in the database, never in the path).
"""

from __future__ import annotations

import secrets
from pathlib import PurePath
from typing import Any

from django.conf import settings
from django.core.files.storage import FileSystemStorage
from django.utils import timezone

FILE_MODE = 0o600
DIRECTORY_MODE = 0o700


def private_storage() -> FileSystemStorage:
    """The storage of private files (a callable, so tests and deployments can move the folder)."""
    return FileSystemStorage(
        location=settings.PRIVATE_FILES_ROOT,
        base_url=None,
        file_permissions_mode=FILE_MODE,
        directory_permissions_mode=DIRECTORY_MODE,
    )


def random_upload_name(instance: Any, filename: str) -> str:
    """imports/YYYY/MM/<random hex><suffix>: the path tells nothing about the file or who sent it."""
    suffix = PurePath(filename).suffix.lower()[:10]
    if not suffix[1:].isalnum():
        suffix = ""
    return f"imports/{timezone.now():%Y/%m}/{secrets.token_hex(16)}{suffix}"
