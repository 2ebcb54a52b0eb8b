"""Per-user budgets for sensitive reads (phone searches), counted in the shared cache.

The API's own throttle counts per token; a budget here counts per user, so every token a user mints and their
session share it. The cache is file-based in development and tests and Redis in production (one counter for
every process).
"""

from __future__ import annotations

import math
import time
from typing import Any

from django.conf import settings
from django.core.cache import cache

from shopops.core.errors import DomainError

PERIODS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
PERIOD_NAMES = {1: "秒", 60: "分钟", 3600: "小时", 86400: "天"}
PHONE_SEARCH_SCOPE = "phone_search"


class RateLimited(DomainError):
    """Too many requests of one kind: a 429; `retry_after` (seconds) says when the budget is back."""

    code = "rate_limited"
    status = 429

    def __init__(
        self, message: str, *, retry_after: int, fields: dict[str, str] | None = None, code: str | None = None
    ) -> None:
        super().__init__(message, fields=fields, code=code)
        self.retry_after = retry_after


def parse_rate(rate: str) -> tuple[int, int]:
    """`"60/h"` → (60, 3600): so many uses per second, minute, hour or day."""
    count, _slash, period = rate.partition("/")
    return int(count), PERIODS[period.strip()[:1]]


def _user_key(user: Any) -> str:
    # the join time too: a user re-created under a reused id (restore, rolled-back test) starts afresh
    joined = getattr(user, "date_joined", None)
    stamp = int(joined.timestamp() * 1_000_000) if joined is not None else 0
    return f"{user.pk}.{stamp}"


def spend(user: Any, *, scope: str, rate: str) -> None:
    """Count one use of `scope` by `user`; RateLimited once the budget of the current window is spent.

    Fixed windows: the counter's key names its window, so it expires by itself. Anonymous and system
    callers are not counted (the API refuses the former before, the latter are trusted)."""
    if user is None or not getattr(user, "is_authenticated", False):
        return
    limit, seconds = parse_rate(rate)
    now = time.time()
    window = int(now // seconds)
    key = f"ratelimit:{scope}:{_user_key(user)}:{window}"
    cache.add(key, 0, timeout=seconds)
    try:
        used = cache.incr(key)
    except ValueError:  # expired between add and incr: this use opens the window
        cache.set(key, 1, timeout=seconds)
        used = 1
    if used > limit:
        wait = max(1, math.ceil((window + 1) * seconds - now))
        raise RateLimited(
            f"操作过于频繁（每{PERIOD_NAMES[seconds]}最多 {limit} 次），请 {math.ceil(wait / 60)} 分钟后再试",
            retry_after=wait,
        )


def spend_phone_search(user: Any, *, field: str = "phone") -> None:
    """One search by phone number (orders or customers): settings.PHONE_SEARCH_RATE_LIMIT per user."""
    limit, seconds = parse_rate(settings.PHONE_SEARCH_RATE_LIMIT)
    try:
        spend(user, scope=PHONE_SEARCH_SCOPE, rate=settings.PHONE_SEARCH_RATE_LIMIT)
    except RateLimited as error:
        raise RateLimited(
            f"按手机号查询过于频繁（每{PERIOD_NAMES[seconds]}最多 {limit} 次），"
            f"请 {math.ceil(error.retry_after / 60)} 分钟后再试",
            retry_after=error.retry_after,
            fields={field: "查询次数已达上限"},
            code="phone_search_rate_limited",
        ) from None
