"""Where the current action comes from (admin, api, cli, job) and from which address, for the audit."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Origin:
    source: str = "system"
    ip: str | None = None
    request_id: str | None = None


_origin: ContextVar[Origin] = ContextVar("shopops_origin", default=Origin())  # noqa: B039 (Origin is frozen)


def current_origin() -> Origin:
    return _origin.get()


@contextlib.contextmanager
def origin(source: str, ip: str | None = None, request_id: str | None = None) -> Iterator[Origin]:
    value = Origin(source=source, ip=ip, request_id=request_id)
    token = _origin.set(value)
    try:
        yield value
    finally:
        _origin.reset(token)


_request: ContextVar[Any] = ContextVar("shopops_request", default=None)


def current_request() -> Any:
    """The HTTP request being answered (set by RequestContextMiddleware), None outside a request: for the
    few places a third-party renderer gives us no request (admin read-only relation links)."""
    return _request.get()


@contextlib.contextmanager
def serving(request: Any) -> Iterator[None]:
    token = _request.set(request)
    try:
        yield
    finally:
        _request.reset(token)
