"""API conventions shared by every router: error body, auth, permissions, pagination, ordering, types."""

import datetime as dt
import functools
import hashlib
import json
from collections.abc import Callable
from decimal import Decimal
from typing import Annotated, Any, TypeVar

from django.conf import settings
from django.core.exceptions import ObjectDoesNotExist, PermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import DataError, IntegrityError, OperationalError, models, transaction
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone
from ninja import Field, NinjaAPI, Schema
from ninja.errors import AuthenticationError, HttpError, Throttled, ValidationError
from ninja.pagination import LimitOffsetPagination
from ninja.throttling import SimpleRateThrottle
from pydantic import AfterValidator, AwareDatetime, PlainSerializer, WithJsonSchema

from shopops.core.db import RETRY_AFTER_SECONDS, is_database_busy
from shopops.core.errors import Conflict, DomainError, InvalidInput
from shopops.core.money import CENT
from shopops.core.permissions import check_permission
from shopops.core.scope import out_of_scope

F = TypeVar("F", bound=Callable[..., Any])

DEFAULT_PAGE_SIZE = 50


def _money_text(value: Decimal) -> str:
    return str(value.quantize(CENT))


def _local_iso(value: dt.datetime) -> str:
    return timezone.localtime(value).isoformat() if timezone.is_aware(value) else value.isoformat()


# Money leaves as a string with two decimals ("129.00"): JSON numbers are floats in most clients.
MoneyOut = Annotated[
    Decimal,
    PlainSerializer(_money_text, return_type=str),
    WithJsonSchema(
        {"type": "string", "format": "decimal", "pattern": r"^-?\d+\.\d{2}$", "example": "129.00"}
    ),
]
# Datetimes leave as ISO-8601 with the Asia/Shanghai offset, e.g. 2026-06-01T10:00:00+08:00.
DateTimeOut = Annotated[
    dt.datetime,
    PlainSerializer(_local_iso, return_type=str),
    WithJsonSchema({"type": "string", "format": "date-time"}),
]
# Money comes in as a decimal string ("129.00") or a JSON number; at most 2 decimals, never negative.
MoneyIn = Annotated[
    Decimal,
    Field(ge=0, max_digits=14, decimal_places=2),
    WithJsonSchema(
        {"type": "string", "format": "decimal", "pattern": r"^\d{1,12}(\.\d{1,2})?$", "example": "129.00"}
    ),
]

# Database ids are 64-bit; larger numbers would overflow the driver instead of answering 404.
MAX_ID = 2**63 - 1
ObjectId = Annotated[int, Field(ge=1, le=MAX_ID)]
# No NUL characters: PostgreSQL text and jsonb refuse them.
NO_NUL_PATTERN = r"^[^\x00]*$"
PlainText = Annotated[str, Field(pattern=NO_NUL_PATTERN)]

EARLIEST = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
LATEST = dt.datetime(2100, 1, 1, tzinfo=dt.UTC)


def _in_supported_range(value: dt.datetime) -> dt.datetime:
    if not EARLIEST <= value < LATEST:
        raise ValueError("时间须在 2000-01-01 与 2100-01-01 之间")
    return value


# Datetimes come in with an offset (2026-06-01T10:00:00+08:00); naive ones are refused.
DateTimeIn = Annotated[AwareDatetime, AfterValidator(_in_supported_range)]


def _in_supported_days(value: dt.date) -> dt.date:
    if not EARLIEST.date() <= value < LATEST.date():
        raise ValueError("日期须在 2000-01-01 与 2100-01-01 之间")
    return value


# Dates come in as YYYY-MM-DD (a business day in Asia/Shanghai).
DateIn = Annotated[dt.date, AfterValidator(_in_supported_days)]


class ErrorOut(Schema):
    code: str
    message: str
    fields: dict[str, str] = {}


ERROR_RESPONSES: dict[int, type[Schema]] = {
    400: ErrorOut,
    401: ErrorOut,
    403: ErrorOut,
    404: ErrorOut,
    409: ErrorOut,
    422: ErrorOut,
    429: ErrorOut,
}


def error_response(
    api: NinjaAPI,
    request: HttpRequest,
    status: int,
    code: str,
    message: str,
    fields: dict[str, str] | None = None,
) -> HttpResponse:
    return api.create_response(
        request, {"code": code, "message": message, "fields": fields or {}}, status=status
    )


def _field_path(location: tuple[Any, ...]) -> str:
    # ninja reports ("body", "payload", "sale_price"); the caller knows only "sale_price"
    parts = [str(part) for part in location]
    if parts and parts[0] in ("body", "query", "path", "header", "cookie", "form", "file"):
        parts = parts[1:]
    if len(parts) > 1 and parts[0] in ("payload", "data", "filters", "params"):
        parts = parts[1:]
    return ".".join(parts) or "body"


def validation_fields(errors: list[dict[str, Any]]) -> dict[str, str]:
    fields: dict[str, str] = {}
    for error in errors:
        key = _field_path(tuple(error.get("loc", ())))
        fields.setdefault(key, str(error.get("msg", "无效")))
    return fields


HTTP_ERROR_CODES = {
    400: "bad_request",
    401: "not_authenticated",
    403: "permission_denied",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "too_large",
    415: "unsupported_media_type",
}


def install_error_handlers(api: NinjaAPI) -> None:  # noqa: C901 - one small handler per exception type
    """Every failure leaves as {"code", "message", "fields"} with a 4xx status (503 + Retry-After when
    the database is busy), never a 500 page."""

    def on_domain(request: HttpRequest, exc: DomainError) -> HttpResponse:
        response = error_response(api, request, exc.status, exc.code, exc.message, exc.fields)
        retry_after = getattr(exc, "retry_after", None)  # core.ratelimit.RateLimited
        if retry_after is not None:
            response["Retry-After"] = str(retry_after)
        return response

    def on_validation(request: HttpRequest, exc: ValidationError) -> HttpResponse:
        fields = validation_fields(list(exc.errors))
        return error_response(api, request, 422, "invalid", "请求参数无效", fields)

    def on_django_validation(request: HttpRequest, exc: DjangoValidationError) -> HttpResponse:
        fields = {
            key: "; ".join(str(m) for m in messages)
            for key, messages in getattr(exc, "message_dict", {}).items()
        }
        message = "; ".join(str(m) for m in exc.messages) or "数据无效"
        return error_response(api, request, 422, "invalid", message, fields)

    def on_not_found(request: HttpRequest, exc: Http404 | ObjectDoesNotExist) -> HttpResponse:
        scope_error = out_of_scope()
        return error_response(api, request, 404, scope_error.code, scope_error.message)

    def on_denied(request: HttpRequest, exc: PermissionDenied) -> HttpResponse:
        return error_response(api, request, 403, "permission_denied", str(exc) or "没有权限")

    def on_auth(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
        return error_response(api, request, 401, "not_authenticated", "需要登录或有效的 API 令牌")

    def on_throttled(request: HttpRequest, exc: Throttled) -> HttpResponse:
        # ninja adds Retry-After (whole seconds) to this response
        return error_response(api, request, 429, "rate_limited", "请求过于频繁，请稍后再试")

    def on_http(request: HttpRequest, exc: HttpError) -> HttpResponse:
        return error_response(
            api, request, exc.status_code, HTTP_ERROR_CODES.get(exc.status_code, "error"), exc.message
        )

    def on_integrity(request: HttpRequest, exc: IntegrityError) -> HttpResponse:
        return error_response(api, request, 409, "conflict", "与现有数据冲突（重复或被引用）")

    def on_data(request: HttpRequest, exc: DataError) -> HttpResponse:
        return error_response(api, request, 422, "invalid", "数据超出字段允许的范围或含有非法字符")

    def on_operational(request: HttpRequest, exc: OperationalError) -> HttpResponse:
        if not is_database_busy(exc):
            raise exc  # a broken database is a 500, not something to retry
        # a lock wait past the timeout: nothing was written, the same request may simply be retried
        response = error_response(api, request, 503, "database_busy", "数据库繁忙，请稍后重试")
        response["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return response

    handlers: list[tuple[type[Exception], Callable[[HttpRequest, Any], HttpResponse]]] = [
        (DomainError, on_domain),
        (ValidationError, on_validation),
        (DjangoValidationError, on_django_validation),
        (Http404, on_not_found),
        (ObjectDoesNotExist, on_not_found),
        (PermissionDenied, on_denied),
        (AuthenticationError, on_auth),
        (Throttled, on_throttled),
        (HttpError, on_http),
        (IntegrityError, on_integrity),
        (DataError, on_data),
        (OperationalError, on_operational),
    ]
    for exception, handler in handlers:
        api.add_exception_handler(exception, handler)


def acting_user(request: HttpRequest) -> Any:
    """The user an authenticated API call acts for (session user or the token's owner)."""
    return request.auth  # type: ignore[attr-defined]


def requires(permission: str) -> Callable[[F], F]:
    """Declare the permission an endpoint needs; checked before the handler runs, shown in OpenAPI."""

    def decorate(view: F) -> F:
        @functools.wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
            check_permission(request.auth, permission)  # type: ignore[attr-defined]
            return view(request, *args, **kwargs)

        summary = (view.__doc__ or "").strip()
        wrapper.__doc__ = f"{summary}\n\nPermission: {permission}".strip()
        wrapper.required_permission = permission  # type: ignore[attr-defined]
        return wrapper  # type: ignore[return-value]

    return decorate


def authenticated(view: F) -> F:
    """For endpoints every signed-in user may call (their own account): noted in OpenAPI."""
    summary = (view.__doc__ or "").strip()
    view.__doc__ = f"{summary}\n\nPermission: any authenticated user".strip()
    return view


class Pagination(LimitOffsetPagination):
    """`limit` (1…API_MAX_PAGE_SIZE, default 50) and `offset`; the body is {"count", "items"}."""

    class Input(Schema):
        limit: int = Field(DEFAULT_PAGE_SIZE, ge=1, le=settings.API_MAX_PAGE_SIZE)
        offset: int = Field(0, ge=0, le=2**31 - 1)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(max_limit=settings.API_MAX_PAGE_SIZE, **kwargs)

    def paginate_queryset(self, queryset: Any, pagination: Any, request: HttpRequest, **params: Any) -> Any:
        offset = pagination.offset
        limit = min(pagination.limit, self.max_limit)
        # the page is evaluated here so its queries are counted once, before serialization
        return {"items": list(queryset[offset : offset + limit]), "count": self._items_count(queryset)}


def apply_ordering(
    queryset: models.QuerySet[Any], ordering: str | None, allowed: set[str], default: str
) -> models.QuerySet[Any]:
    """`ordering=-sale_price,name`: every key must be in `allowed` (a 422 names the bad one)."""
    keys = [key.strip() for key in (ordering or default).split(",") if key.strip()]
    for key in keys:
        if key.lstrip("-") not in allowed:
            raise InvalidInput(
                f"不支持按 {key} 排序，可用：{', '.join(sorted(allowed))}",
                fields={"ordering": "不支持的排序字段"},
            )
    return queryset.order_by(*keys, "pk")


def ordering_description(allowed: set[str], default: str) -> str:
    return f"Comma-separated keys, `-` for descending. Allowed: {', '.join(sorted(allowed))}. Default: {default}."


class TokenOrUserThrottle(SimpleRateThrottle):
    """Rate limit per API token, or per user for session calls (settings.API_RATE_LIMIT, read per request)."""

    scope = "api"

    def __init__(self, rate: str | None = None) -> None:
        self.fixed_rate = rate
        super().__init__(rate or settings.API_RATE_LIMIT)

    def allow_request(self, request: HttpRequest) -> bool:
        rate = self.fixed_rate or settings.API_RATE_LIMIT
        if rate != self.rate:
            self.rate = rate
            self.num_requests, self.duration = self.parse_rate(rate)
        return super().allow_request(request)

    def get_cache_key(self, request: HttpRequest) -> str | None:
        token = getattr(request, "api_token", None)
        if token is not None:
            # the random prefix, not the id: ids are reused after a rollback (tests) or a restore
            ident = f"token:{token.prefix}"
        elif getattr(request, "auth", None) is not None:
            ident = f"user:{getattr(request.auth, 'pk', '')}"  # type: ignore[attr-defined]
        else:
            ident = "anon:" + hashlib.sha256(str(self.get_ident(request)).encode()).hexdigest()[:16]
        return f"throttle_{self.scope}_{ident}"


# Idempotency-Key: a retried POST replays the first answer instead of acting twice.

IDEMPOTENCY_HEADER = "Idempotency-Key"


def idempotency_key(value: str | None, *, required: bool) -> str:
    """The stripped key, '' when absent and optional; 422 when required and missing or longer than 64."""
    key = (value or "").strip()
    if not key and required:
        raise InvalidInput(
            "缺少 Idempotency-Key 请求头",
            fields={IDEMPOTENCY_HEADER: "必填"},
            code="idempotency_key_required",
        )
    if len(key) > 64:
        raise InvalidInput("Idempotency-Key 最多 64 个字符", fields={IDEMPOTENCY_HEADER: "最多 64 个字符"})
    return key


def _claim_idempotency(user: Any, scope: str, key: str, request_hash: str) -> tuple[Any, bool]:
    """The record of this key (created now → True), or the earlier one to replay (→ False)."""
    from shopops.core.models import IdempotencyRecord

    try:
        with transaction.atomic():
            record = IdempotencyRecord.objects.create(
                user=user, scope=scope, key=key, request_hash=request_hash
            )
        return record, True
    except IntegrityError:
        record = IdempotencyRecord.objects.select_for_update().get(user=user, scope=scope, key=key)
    if record.request_hash != request_hash:
        raise Conflict(
            "该 Idempotency-Key 已用于另一个请求",
            fields={IDEMPOTENCY_HEADER: "已使用"},
            code="idempotency_key_reused",
        )
    if not record.status_code:
        raise Conflict("相同 Idempotency-Key 的请求正在处理", code="idempotency_in_progress")
    return record, False


def run_idempotent(
    *,
    user: Any,
    scope: str,
    key: str,
    body: Any,
    run: Callable[[], tuple[int, dict[str, Any], str]],
) -> HttpResponse:
    """Run `run` (→ status, JSON body, object id) once per (user, scope, key), in one transaction.

    Without a key it simply runs. With one, the answer is stored; a retry with the same key and body
    gets it again (header Idempotent-Replayed: true), the same key with another body is a 409
    `idempotency_key_reused`. A request that fails (4xx) stores nothing, so it may be retried as is.
    """
    if not key:
        status, data, _object_id = run()
        return JsonResponse(data, status=status)
    request_hash = hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()
    with transaction.atomic():
        record, is_new = _claim_idempotency(user, scope, key, request_hash)
        if not is_new:
            replay = JsonResponse(record.response, status=record.status_code)
            replay["Idempotent-Replayed"] = "true"
            return replay
        record.status_code, record.response, record.object_id = run()
        record.save(update_fields=["status_code", "response", "object_id"])
    return JsonResponse(record.response, status=record.status_code)
