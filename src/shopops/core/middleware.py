"""Sets the audit origin (admin or api, client address) for each request; answers 503 when the database is busy."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template.loader import render_to_string

from shopops.core.context import origin, serving
from shopops.core.db import RETRY_AFTER_SECONDS, is_database_busy

logger = logging.getLogger(__name__)

BUSY_MESSAGE = "数据库繁忙，请稍后重试"


def client_ip(request: HttpRequest) -> str | None:
    return request.META.get("REMOTE_ADDR")


class RequestContextMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        source = "api" if request.path.startswith("/api/") else "admin"
        with origin(source, ip=client_ip(request), request_id=uuid.uuid4().hex[:16]), serving(request):
            return self.get_response(request)


def database_busy_response(request: HttpRequest) -> HttpResponse:
    """503 + Retry-After: JSON in the API's error shape under /api/, a Chinese page elsewhere."""
    response: HttpResponse
    if request.path.startswith("/api/"):
        response = JsonResponse({"code": "database_busy", "message": BUSY_MESSAGE, "fields": {}}, status=503)
    else:
        page = render_to_string("core/database_busy.html", {"retry_after": RETRY_AFTER_SECONDS})
        response = HttpResponse(page, status=503)
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


class DatabaseBusyMiddleware:
    """A view that met a locked database (SQLite past its busy timeout, a PostgreSQL lock timeout or
    serialization failure) was refused before its write, and its transaction rolled back: the client
    may retry as is, so it gets 503 + Retry-After rather than a 500 that reads like a bug."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not is_database_busy(exception):
            return None
        logger.warning("database busy: %s %s answered 503 (%s)", request.method, request.path, exception)
        return database_busy_response(request)
