"""Privacy API: personal-data requests — register, list, read, advance through the workflow, download the copy."""

import datetime as dt
from typing import Any, Literal

from django.db.models import QuerySet
from django.http import FileResponse, HttpRequest
from django.utils import timezone
from ninja import Field, Query, Router, Schema, Status
from ninja.pagination import paginate

from shopops.core.api import (
    ERROR_RESPONSES,
    DateTimeIn,
    DateTimeOut,
    ObjectId,
    Pagination,
    PlainText,
    acting_user,
    requires,
)
from shopops.core.errors import InvalidInput, NotFound
from shopops.core.pii import shown
from shopops.customers.queries import visible_customers
from shopops.privacy import services
from shopops.privacy.models import (
    OPEN_REQUEST_STATUSES,
    PersonalDataRequest,
    RequestChannel,
    RequestKind,
    RequestStatus,
)

router = Router(tags=["privacy"])

VIEW = "privacy.view_personaldatarequest"
CHANGE = "privacy.change_personaldatarequest"
ADD = "privacy.add_personaldatarequest"


class RequestOut(Schema):
    id: int
    kind: str = Field(description="access 查阅复制 | correct 更正 | delete 删除")
    kind_label: str
    status: str = Field(description="received | verifying | processing | completed | rejected")
    status_label: str
    channel: str
    channel_label: str
    customer_id: int
    requester: str = Field(description="Masked unless the user holds core.view_pii")
    received_at: DateTimeOut
    due_at: DateTimeOut
    is_overdue: bool
    identity_method: str
    identity_verified_at: DateTimeOut | None
    rejection_reason: str
    result: str
    completed_at: DateTimeOut | None
    has_export: bool

    @staticmethod
    def resolve_kind_label(obj: PersonalDataRequest) -> str:
        return str(obj.get_kind_display())

    @staticmethod
    def resolve_status_label(obj: PersonalDataRequest) -> str:
        return str(obj.get_status_display())

    @staticmethod
    def resolve_channel_label(obj: PersonalDataRequest) -> str:
        return str(obj.get_channel_display())

    @staticmethod
    def resolve_requester(obj: PersonalDataRequest, context: dict[str, Any]) -> Any:
        return shown(context["request"].auth, obj, "requester")

    @staticmethod
    def resolve_is_overdue(obj: PersonalDataRequest) -> bool:
        return obj.status in OPEN_REQUEST_STATUSES and obj.due_at < timezone.now()

    @staticmethod
    def resolve_has_export(obj: PersonalDataRequest) -> bool:
        return bool(obj.export_file)


class CorrectionsIn(Schema):
    name: PlainText | None = Field(None, max_length=100)
    phone: PlainText | None = Field(None, max_length=30)
    email: PlainText | None = Field(None, max_length=200)
    birthday: dt.date | None = None


class RequestIn(Schema):
    kind: RequestKind
    channel: RequestChannel
    requester: PlainText = Field(max_length=100)
    requester_contact: PlainText = Field("", max_length=100)
    customer_id: ObjectId | None = Field(None, description="the profile, or give phone or buyer_id")
    phone: PlainText = Field("", max_length=30, description="found through the keyed phone hash")
    buyer_id: PlainText = Field("", max_length=100)
    received_at: DateTimeIn | None = None
    corrections: CorrectionsIn | None = Field(None, description="for kind=correct: the corrected values")
    note: PlainText = Field("", max_length=500)


class AdvanceIn(Schema):
    action: Literal["verify", "confirm_identity", "complete", "reject"] = Field(
        description="verify 开始核验身份 → confirm_identity 核验通过 → complete 完成处理; reject 拒绝 from any open step"
    )
    method: PlainText = Field(
        "", max_length=200, description="how the identity was verified (confirm_identity)"
    )
    reason: PlainText = Field("", max_length=300, description="why the request is refused (reject)")


class RequestFilters(Schema):
    status: RequestStatus | None = None
    kind: RequestKind | None = None
    overdue: bool | None = Field(None, description="true: open requests past their due date")


def _requests(request: HttpRequest) -> QuerySet[PersonalDataRequest]:
    return PersonalDataRequest.objects.filter(customer__in=visible_customers(acting_user(request)))


def _one(request: HttpRequest, request_id: int) -> PersonalDataRequest:
    row = _requests(request).filter(pk=request_id).first()
    if row is None:
        raise NotFound("个人信息请求不存在", fields={"request_id": "不存在"})
    return row


@router.get("/privacy/requests", response={200: list[RequestOut], **ERROR_RESPONSES})
@paginate(Pagination)
@requires(VIEW)
def list_requests(request: HttpRequest, filters: Query[RequestFilters]) -> QuerySet[PersonalDataRequest]:
    """Personal-data requests, the nearest due date first."""
    rows = _requests(request)
    if filters.status:
        rows = rows.filter(status=filters.status)
    if filters.kind:
        rows = rows.filter(kind=filters.kind)
    if filters.overdue is not None:
        overdue = {"status__in": OPEN_REQUEST_STATUSES, "due_at__lt": timezone.now()}
        rows = rows.filter(**overdue) if filters.overdue else rows.exclude(**overdue)
    return rows.order_by("due_at", "pk")


@router.get("/privacy/requests/{request_id}", response={200: RequestOut, **ERROR_RESPONSES})
@requires(VIEW)
def get_request(request: HttpRequest, request_id: ObjectId) -> PersonalDataRequest:
    """One request."""
    return _one(request, request_id)


@router.post("/privacy/requests", response={201: RequestOut, **ERROR_RESPONSES})
@requires(ADD)
def create_request(request: HttpRequest, payload: RequestIn) -> Status[PersonalDataRequest]:
    """Register a request (已受理) for a customer found by profile id, phone or platform buyer id."""
    customer = services.find_customer(
        customer_id=payload.customer_id, phone=payload.phone, buyer_id=payload.buyer_id
    )
    if not visible_customers(acting_user(request)).filter(pk=customer.pk).exists():
        raise NotFound("没有找到这位客户", fields={"customer": "不存在"})
    corrections = payload.corrections.dict(exclude_none=True) if payload.corrections else {}
    row = services.create_request(
        actor=acting_user(request),
        kind=payload.kind,
        channel=payload.channel,
        requester=payload.requester,
        requester_contact=payload.requester_contact,
        customer=customer,
        received_at=payload.received_at,
        corrections={key: str(value) for key, value in corrections.items()},
        note=payload.note,
    )
    return Status(201, row)


@router.post("/privacy/requests/{request_id}/advance", response={200: RequestOut, **ERROR_RESPONSES})
@requires(CHANGE)
def advance_request(request: HttpRequest, request_id: ObjectId, payload: AdvanceIn) -> PersonalDataRequest:
    """Take the next workflow step; a step the request's status does not allow answers 409."""
    row = _one(request, request_id)
    actor = acting_user(request)
    if payload.action == "verify":
        return services.start_verification(actor=actor, request_id=row.pk)
    if payload.action == "confirm_identity":
        return services.confirm_identity(actor=actor, request_id=row.pk, method=payload.method)
    if payload.action == "complete":
        return services.complete_request(actor=actor, request_id=row.pk)
    if payload.action == "reject":
        return services.reject_request(actor=actor, request_id=row.pk, reason=payload.reason)
    raise InvalidInput(
        "未知的处理步骤", fields={"action": "无效"}
    )  # pragma: no cover - Literal refuses first


@router.get(
    "/privacy/requests/{request_id}/export",
    response={200: None, **ERROR_RESPONSES},
    openapi_extra={
        "responses": {
            200: {
                "description": "The copy: a zip holding personal-data.json and personal-data.xlsx",
                "content": {"application/zip": {"schema": {"type": "string", "format": "binary"}}},
            }
        }
    },
)
@requires(CHANGE)
def download_export(request: HttpRequest, request_id: ObjectId) -> FileResponse:
    """The personal-data copy of a completed 查阅复制 request (audited); 409 when there is none."""
    row = _one(request, request_id)
    handle, filename = services.open_export(actor=acting_user(request), request_id=row.pk)
    return FileResponse(handle, as_attachment=True, filename=filename, content_type="application/zip")
