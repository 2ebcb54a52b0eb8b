"""`GET /healthz`: is this instance able to serve? The database answers a query and the job queue (Huey's
SQLite file or Redis, as configured) is reachable.

200 `{"status": "ok", "checks": {"database": "ok", "queue": "ok"}}`, or 503 with `"status": "error"` and the
failed check marked `"error"`. No login (a load balancer or monitor calls it), read-only, and it says nothing
else: no versions, hosts, paths or exception texts (those go to the log, one line per failed check).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

logger = logging.getLogger(__name__)


def check_database() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()


def check_queue() -> None:
    from huey.contrib import djhuey  # the queue the workers consume (read at call time: settings decide it)

    djhuey.HUEY.storage.queue_size()


CHECKS: dict[str, Callable[[], None]] = {"database": check_database, "queue": check_queue}


@never_cache
@require_safe
def healthz(request: HttpRequest) -> JsonResponse:
    results: dict[str, str] = {}
    for name, check in CHECKS.items():
        try:
            check()
        except Exception as error:  # any failure is the answer, never a 500
            logger.warning("health check %s failed: %s", name, error.__class__.__name__)
            results[name] = "error"
        else:
            results[name] = "ok"
    healthy = all(result == "ok" for result in results.values())
    return JsonResponse(
        {"status": "ok" if healthy else "error", "checks": results}, status=200 if healthy else 503
    )
