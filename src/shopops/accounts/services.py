"""Account actions: API tokens (hashed, named, expiring, revocable), role assignment, login lockout."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass
from typing import Any

from axes.handlers.database import AxesDatabaseHandler
from axes.helpers import get_failure_limit
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Sum
from django.http import HttpRequest
from django.utils import timezone

from shopops.accounts.models import ApiToken, User
from shopops.core import audit
from shopops.core.errors import Conflict, InvalidInput, NotFound, PermissionDeniedError

TOKEN_PREFIX = "sk_"


def hash_token(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclass(frozen=True)
class IssuedToken:
    token: ApiToken
    secret: str  # shown once, never stored


class TokenCannotCreateToken(PermissionDeniedError):
    code = "token_cannot_create_token"


def create_token(
    *,
    user: User,
    name: str,
    expires_in_days: int | None = 90,
    actor: Any,
    created_with_token: ApiToken | None = None,
) -> IssuedToken:
    """Issue a personal token. `created_with_token` is the token the request came with, if any: only a
    person signed in (admin session, CLI) issues tokens, so a leaked token can neither outlive its own
    expiry nor survive its revocation through a successor."""
    if created_with_token is not None:
        raise TokenCannotCreateToken(
            "API 令牌不能创建新令牌，请登录后台后创建",
            fields={"authorization": "须登录后台创建令牌，不能用 API 令牌"},
        )
    name = name.strip()
    if not name:
        raise InvalidInput("令牌名称不能为空", fields={"name": "必填"})
    if expires_in_days is not None and not 1 <= expires_in_days <= 3650:
        raise InvalidInput("有效期须在 1 到 3650 天之间", fields={"expires_in_days": "须在 1 到 3650 之间"})
    prefix = secrets.token_hex(4)
    secret = f"{TOKEN_PREFIX}{prefix}_{secrets.token_urlsafe(32)}"
    expires_at = timezone.now() + dt.timedelta(days=expires_in_days) if expires_in_days else None
    try:
        with transaction.atomic():
            token = ApiToken.objects.create(
                user=user, name=name, prefix=prefix, key_hash=hash_token(secret), expires_at=expires_at
            )
            audit.record(actor=actor, action="api_token.created", instance=token, before={})
    except IntegrityError:
        raise Conflict(f"已存在名为“{name}”的令牌", fields={"name": "重复"}) from None
    return IssuedToken(token=token, secret=secret)


def revoke_token(*, token_id: int, user: User, actor: Any) -> ApiToken:
    with transaction.atomic():
        token = ApiToken.objects.select_for_update().filter(pk=token_id, user=user).first()
        if token is None:
            raise NotFound("令牌不存在")
        if token.revoked_at is None:
            before = audit.snapshot(token)
            token.revoked_at = timezone.now()
            token.save(update_fields=["revoked_at"])
            audit.record(actor=actor, action="api_token.revoked", instance=token, before=before)
    return token


def authenticate_token(secret: str) -> ApiToken | None:
    """The usable token for this secret, or None. Touches last_used_at at most once a minute."""
    if not secret.startswith(TOKEN_PREFIX):
        return None
    token = ApiToken.objects.select_related("user").filter(key_hash=hash_token(secret)).first()
    if token is None or not token.is_usable or not token.user.is_active:
        return None
    now = timezone.now()
    if token.last_used_at is None or now - token.last_used_at > dt.timedelta(minutes=1):
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
    return token


def login_client_ip(request: HttpRequest) -> str:
    """The address failed logins are counted by (AXES_CLIENT_IP_CALLABLE): REMOTE_ADDR, or behind a
    trusted proxy the right-most X-Forwarded-For hop that is not one; hops further left are whatever the
    client wrote, so they never count."""
    proxies = set(settings.LOGIN_TRUSTED_PROXIES)
    remote = str(request.META.get("REMOTE_ADDR", ""))
    if remote not in proxies:
        return remote
    hops = [hop.strip() for hop in str(request.META.get("HTTP_X_FORWARDED_FOR", "")).split(",")]
    return next((hop for hop in reversed(hops) if hop and hop not in proxies), remote)


class LoginLockoutHandler(AxesDatabaseHandler):
    """django-axes with two limits (AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"], "ip_address"]):
    AXES_FAILURE_LIMIT failures for one username from one address lock that pair, so an attacker cannot
    lock the owner out from everywhere; AXES_IP_FAILURE_LIMIT failures from one address over any usernames
    lock the address (password spraying). Axes alone applies one limit to both, which would lock a whole
    office behind one address after one person's typos."""

    def get_failures(self, request: HttpRequest, credentials: dict[str, Any] | None = None) -> int:
        by_pair, by_address = (
            attempts.aggregate(total=Sum("failures_since_start"))["total"] or 0
            for attempts in self.get_user_attempts(request, credentials)
        )
        if by_address >= settings.AXES_IP_FAILURE_LIMIT:
            return max(by_pair, get_failure_limit(request, credentials))
        return by_pair

    def reset_user_attempts(self, request: HttpRequest, credentials: dict[str, Any] | None = None) -> int:
        # a success clears its own username at its own address only: one valid account must not wipe
        # what a spray from the same address has piled up
        by_pair = self.filter_user_attempts(request, credentials)[0]
        count, _ = by_pair.delete()
        return count
