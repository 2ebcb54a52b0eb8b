"""Logging filters: a refused or missing page is a normal outcome, logged in one line, not a traceback."""

from __future__ import annotations

import logging


class ClientErrorsWithoutTraceback(logging.Filter):
    """On `django.request`: Django logs a 403 (PermissionDenied) and a 400 with the exception attached, so every
    refused page printed a traceback. A 4xx keeps its one line ("Forbidden (Permission denied): /admin/…");
    a 5xx keeps its traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        status = getattr(record, "status_code", None)
        if isinstance(status, int) and 400 <= status < 500:
            record.exc_info = None
            record.exc_text = None
        return True
