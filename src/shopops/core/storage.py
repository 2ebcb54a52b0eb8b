"""Where private files live: uploads for imports and their error reports, outside the public media tree.

Nothing under `PRIVATE_FILES_ROOT` is served by the web server; a file leaves only through a view that
checks permission and scope. Files are 0600 in 0700 folders, under random names (the user's file name is
kept in the database, never in the path).
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path, PurePath
from typing import Any

from django.conf import settings
from django.core.files.storage import FileSystemStorage
from django.utils import timezone

FILE_MODE = 0o600
DIRECTORY_MODE = 0o700


class PrivateStorage(FileSystemStorage):
    """FileSystemStorage under `settings.PRIVATE_FILES_ROOT`, read on every use: the model field builds its
    storage once, at import, so a folder fixed then would ignore a later setting (a test's, a deployment's).
    It has no URL: `url()` raises, so no template can link a private file by accident."""

    def __init__(self) -> None:
        super().__init__(
            base_url=None, file_permissions_mode=FILE_MODE, directory_permissions_mode=DIRECTORY_MODE
        )

    @property
    def base_location(self) -> str:
        return str(settings.PRIVATE_FILES_ROOT)

    @property
    def location(self) -> str:
        return os.path.abspath(self.base_location)

    def url(self, name: str | None) -> str:
        raise ValueError("private files have no URL; serve them through a permission-checked view")

    def save(self, name: str | None, content: Any, max_length: int | None = None) -> str:
        # the root itself (not only the folders below it) must be 0700, whoever created it first
        root = Path(self.location)
        root.mkdir(mode=DIRECTORY_MODE, parents=True, exist_ok=True)
        root.chmod(DIRECTORY_MODE)
        return super().save(name, content, max_length=max_length)


def private_storage() -> PrivateStorage:
    """The storage of private files (a callable, referenced by the migrations of the fields using it)."""
    return PrivateStorage()


def random_upload_name(instance: Any, filename: str) -> str:
    """imports/YYYY/MM/<random hex><suffix>: the path tells nothing about the file or who sent it."""
    suffix = PurePath(filename).suffix.lower()[:10]
    if not (suffix[1:].isascii() and suffix[1:].isalnum()):
        suffix = ""
    return f"imports/{timezone.now():%Y/%m}/{secrets.token_hex(16)}{suffix}"
