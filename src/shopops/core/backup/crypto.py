"""Optional encryption of an archive: a stream of Fernet tokens under a key derived from a passphrase.

Layout: MAGIC, a 16-byte salt, then frames (4-byte big-endian length, Fernet token of up to CHUNK bytes
of the tar stream), ended by a token of nothing. Fernet authenticates every frame, so a wrong key or a
changed byte is refused at the frame it touches, and the end frame shows a file cut short at a frame
boundary. The key is SHOPOPS_BACKUP_KEY (any passphrase), stretched with PBKDF2-SHA256 and the salt.
"""

from __future__ import annotations

import base64
import os
import struct
from typing import BinaryIO

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC

MAGIC = b"SHOPOPS-BACKUP-ENC1\n"
SALT_BYTES = 16
CHUNK = 1024 * 1024
ITERATIONS = 300_000
KEY_ENVIRONMENT = "SHOPOPS_BACKUP_KEY"


class DecryptionFailed(Exception):
    """The key is wrong, or the file was changed or cut short."""


def passphrase_from_environment() -> str:
    return os.environ.get(KEY_ENVIRONMENT, "")


def _fernet(passphrase: str, salt: bytes) -> Fernet:
    kdf = PBKDF2HMAC(algorithm=hashes.SHA256(), length=32, salt=salt, iterations=ITERATIONS)
    return Fernet(base64.urlsafe_b64encode(kdf.derive(passphrase.encode("utf-8"))))


def is_encrypted(path: str) -> bool:
    with open(path, "rb") as file:
        return file.read(len(MAGIC)) == MAGIC


class EncryptingWriter:
    """A write-only file object: what is written goes out encrypted, frame by frame."""

    def __init__(self, raw: BinaryIO, passphrase: str) -> None:
        salt = os.urandom(SALT_BYTES)
        self._raw = raw
        self._fernet = _fernet(passphrase, salt)
        self._buffer = bytearray()
        raw.write(MAGIC + salt)

    def _frame(self, plain: bytes) -> None:
        token = self._fernet.encrypt(plain)
        self._raw.write(struct.pack(">I", len(token)) + token)

    def write(self, data: bytes) -> int:
        self._buffer += data
        while len(self._buffer) >= CHUNK:
            self._frame(bytes(self._buffer[:CHUNK]))
            del self._buffer[:CHUNK]
        return len(data)

    def close(self) -> None:
        if self._buffer:
            self._frame(bytes(self._buffer))
            self._buffer.clear()
        self._frame(b"")

    def flush(self) -> None:
        self._raw.flush()


class DecryptingReader:
    """A read-only file object over an encrypted archive; raises DecryptionFailed on any doubt."""

    def __init__(self, raw: BinaryIO, passphrase: str) -> None:
        head = raw.read(len(MAGIC) + SALT_BYTES)
        if len(head) != len(MAGIC) + SALT_BYTES or not head.startswith(MAGIC):
            raise DecryptionFailed("not an encrypted shopops backup")
        self._raw = raw
        self._fernet = _fernet(passphrase, head[len(MAGIC) :])
        self._buffer = bytearray()
        self._ended = False

    def _next_frame(self) -> None:
        length_bytes = self._raw.read(4)
        if len(length_bytes) != 4:
            raise DecryptionFailed("the file ends before its end frame (cut short)")
        (length,) = struct.unpack(">I", length_bytes)
        token = self._raw.read(length)
        if len(token) != length:
            raise DecryptionFailed("the file ends inside a frame (cut short)")
        try:
            plain = self._fernet.decrypt(token)
        except InvalidToken as error:
            raise DecryptionFailed("wrong key, or the file was changed") from error
        if not plain:
            self._ended = True
        self._buffer += plain

    def finish(self) -> None:
        """Read to the end frame: a file cut short between frames is refused here, not taken as whole."""
        while not self._ended:
            self._next_frame()
        self._buffer.clear()
        if self._raw.read(1):
            raise DecryptionFailed("bytes after the end frame")

    def read(self, size: int = -1) -> bytes:
        while not self._ended and (size < 0 or len(self._buffer) < size):
            self._next_frame()
        if size < 0:
            size = len(self._buffer)
        data = bytes(self._buffer[:size])
        del self._buffer[:size]
        return data
