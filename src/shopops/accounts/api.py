"""Auth for the API (session or bearer token) and the user's own account: /me and personal tokens."""

from typing import Any

from django.http import HttpRequest
from ninja import Field, Router, Schema, Status
from ninja.pagination import paginate
from ninja.security import APIKeyCookie, HttpBearer

from shopops.accounts import services
from shopops.accounts.models import ApiToken, User
from shopops.core.api import ERROR_RESPONSES, DateTimeOut, ObjectId, Pagination, PlainText, authenticated


class BearerTokenAuth(HttpBearer):
    """`Authorization: Bearer sk_…`: a personal API token."""

    def authenticate(self, request: HttpRequest, token: str) -> Any:
        api_token = services.authenticate_token(token)
        if api_token is None:
            return None
        request.api_token = api_token  # type: ignore[attr-defined]
        request.user = api_token.user
        return api_token.user


class SessionAuth(APIKeyCookie):
    """The admin's session cookie; CSRF is checked for unsafe methods."""

    param_name = "sessionid"

    def _get_key(self, request: HttpRequest) -> str | None:
        # without a signed-in session there is nothing to protect: answer 401, not a CSRF 403
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated:
            return None
        return super()._get_key(request)

    def authenticate(self, request: HttpRequest, key: str | None) -> Any:
        user = getattr(request, "user", None)
        if key is not None and user is not None and user.is_authenticated:
            return user
        return None


def ApiAuth() -> list[Any]:  # noqa: N802 - reads as a class at the call site
    return [BearerTokenAuth(), SessionAuth()]


router = Router(tags=["accounts"])


class MeOut(Schema):
    id: int
    username: str
    real_name: str
    email: str
    phone: str
    roles: list[str]
    permissions: list[str]
    has_all_shops: bool
    shop_ids: list[int]


class TokenOut(Schema):
    id: int
    name: str
    prefix: str
    created_at: DateTimeOut
    expires_at: DateTimeOut | None
    revoked_at: DateTimeOut | None
    last_used_at: DateTimeOut | None
    is_usable: bool


class TokenIn(Schema):
    name: PlainText = Field(..., min_length=1, max_length=100)
    expires_in_days: int | None = Field(90, ge=1, le=3650, description="null: never expires")


class IssuedTokenOut(TokenOut):
    secret: str = Field(
        ..., description="Shown once, in this response only; send as `Authorization: Bearer …`"
    )


@router.get("/me", response={200: MeOut, **ERROR_RESPONSES})
@authenticated
def get_me(request: HttpRequest) -> dict[str, Any]:
    """The signed-in user: roles, permissions and shop scope."""
    user: User = request.auth  # type: ignore[attr-defined]
    return {
        "id": user.pk,
        "username": user.username,
        "real_name": user.real_name,
        "email": user.email,
        "phone": user.phone,
        "roles": sorted(user.groups.values_list("name", flat=True)),
        "permissions": sorted(user.get_all_permissions()),
        "has_all_shops": user.is_superuser or user.has_all_shops,
        "shop_ids": sorted(user.shop_scope.values_list("pk", flat=True)),
    }


@router.get("/tokens", response={200: list[TokenOut], **ERROR_RESPONSES})
@paginate(Pagination)
@authenticated
def list_tokens(request: HttpRequest) -> Any:
    """Your personal API tokens (never their secrets)."""
    return ApiToken.objects.filter(user=request.auth).order_by("-created_at", "-pk")  # type: ignore[attr-defined]


@router.post("/tokens", response={201: IssuedTokenOut, **ERROR_RESPONSES})
@authenticated
def create_token(request: HttpRequest, payload: TokenIn) -> Status[dict[str, Any]]:
    """Create a personal API token; the secret is in this response and nowhere else."""
    user: User = request.auth  # type: ignore[attr-defined]
    # A call authenticated by a token is refused by the service (403 token_cannot_create_token,
    # see docs/api.md "Authentication").
    issued = services.create_token(
        user=user,
        name=payload.name,
        expires_in_days=payload.expires_in_days,
        actor=user,
        created_with_token=getattr(request, "api_token", None),
    )
    data = {name: getattr(issued.token, name) for name in TokenOut.model_fields}
    return Status(201, {**data, "secret": issued.secret})


@router.delete("/tokens/{token_id}", response={200: TokenOut, **ERROR_RESPONSES})
@authenticated
def revoke_token(request: HttpRequest, token_id: ObjectId) -> ApiToken:
    """Revoke one of your tokens; it stops working at once."""
    user: User = request.auth  # type: ignore[attr-defined]
    return services.revoke_token(token_id=token_id, user=user, actor=user)
