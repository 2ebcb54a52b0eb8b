"""REST API of segments: tags and customers' tags, segments with preview, refresh, members and history."""

from typing import Any

from django.db.models import Count, QuerySet
from django.http import HttpRequest
from ninja import Field, Router, Schema, Status
from ninja.pagination import paginate

from shopops.core.api import (
    ERROR_RESPONSES,
    DateTimeOut,
    MoneyOut,
    ObjectId,
    Pagination,
    PlainText,
    acting_user,
    requires,
)
from shopops.core.pii import shown
from shopops.segments import queries, services
from shopops.segments.models import CustomerTag, Segment, SegmentEvent, SegmentMember, Tag

router = Router(tags=["segments"])


class OperatorOut(Schema):
    value: str
    label: str


class ChoiceOut(Schema):
    value: str
    label: str


class ConditionOut(Schema):
    key: str
    label: str
    kind: str = Field(description="number | choice | text")
    operators: list[OperatorOut]
    choices: list[ChoiceOut]


@router.get("/segments/conditions", response={200: list[ConditionOut], **ERROR_RESPONSES})
@requires("segments.view_segment")
def list_conditions(request: HttpRequest) -> list[dict[str, Any]]:
    """The conditions a segment rule may use (from every app), with their operators and choices."""
    return queries.condition_catalogue()


# tags


class TagOut(Schema):
    id: int
    name: str
    description: str
    is_automatic: bool
    rule: dict[str, Any] | None
    rule_text: str = Field(description="The rule in words")
    is_active: bool
    customer_count: int

    @staticmethod
    def resolve_rule_text(obj: Tag) -> str:
        return queries.describe_rule(obj.rule)

    @staticmethod
    def resolve_customer_count(obj: Tag) -> int:
        return int(getattr(obj, "customer_count", 0))


class TagIn(Schema):
    name: PlainText = Field(max_length=200)
    description: PlainText = Field("", max_length=2000)
    rule: dict[str, Any] | None = Field(None, description="A rule makes the tag automatic")


class TagPatch(Schema):
    name: PlainText | None = Field(None, max_length=200)
    description: PlainText | None = Field(None, max_length=2000)
    is_active: bool | None = None


def _tags() -> QuerySet[Tag]:
    return Tag.objects.annotate(customer_count=Count("customer_tags")).order_by("name")


@router.get("/tags", response={200: list[TagOut], **ERROR_RESPONSES})
@requires("segments.view_tag")
def list_tags(request: HttpRequest) -> QuerySet[Tag]:
    """Every tag with how many customers carry it."""
    return _tags()


@router.post("/tags", response={201: TagOut, **ERROR_RESPONSES})
@requires("segments.add_tag")
def create_tag(request: HttpRequest, payload: TagIn) -> Status[Tag]:
    """A manual tag, or an automatic one (with `rule`), applied at once."""
    tag = services.create_tag(
        name=payload.name, description=payload.description, rule=payload.rule, actor=acting_user(request)
    )
    return Status(201, _tags().get(pk=tag.pk))


@router.patch("/tags/{tag_id}", response={200: TagOut, **ERROR_RESPONSES})
@requires("segments.change_tag")
def update_tag(request: HttpRequest, tag_id: ObjectId, payload: TagPatch) -> Tag:
    queries.tag_or_404(tag_id)
    services.update_tag(tag_id=tag_id, actor=acting_user(request), **payload.dict(exclude_unset=True))
    return _tags().get(pk=tag_id)


@router.delete("/tags/{tag_id}", response={204: None, **ERROR_RESPONSES})
@requires("segments.delete_tag")
def delete_tag(request: HttpRequest, tag_id: ObjectId) -> Status[None]:
    queries.tag_or_404(tag_id)
    services.delete_tag(tag_id=tag_id, actor=acting_user(request))
    return Status(204, None)


class CustomerTagOut(Schema):
    tag_id: int
    name: str
    source: str = Field(description="manual | rule")
    source_label: str
    added_at: DateTimeOut

    @staticmethod
    def resolve_name(obj: CustomerTag) -> str:
        return obj.tag.name

    @staticmethod
    def resolve_source_label(obj: CustomerTag) -> str:
        return str(obj.get_source_display())


class CustomerTagIn(Schema):
    tag_id: ObjectId


@router.get("/customers/{customer_id}/tags", response={200: list[CustomerTagOut], **ERROR_RESPONSES})
@requires("segments.view_customertag")
def customer_tags(request: HttpRequest, customer_id: ObjectId) -> list[CustomerTag]:
    customer = queries.customer_or_404(acting_user(request), customer_id)
    return queries.tags_of(customer)


@router.post("/customers/{customer_id}/tags", response={201: list[CustomerTagOut], **ERROR_RESPONSES})
@requires("segments.add_customertag")
def add_customer_tag(
    request: HttpRequest, customer_id: ObjectId, payload: CustomerTagIn
) -> Status[list[CustomerTag]]:
    """Put a manual tag on a customer (idempotent)."""
    customer = queries.customer_or_404(acting_user(request), customer_id)
    queries.tag_or_404(payload.tag_id)
    services.add_customer_tag(customer_id=customer.pk, tag_id=payload.tag_id, actor=acting_user(request))
    return Status(201, queries.tags_of(customer))


@router.delete(
    "/customers/{customer_id}/tags/{tag_id}", response={200: list[CustomerTagOut], **ERROR_RESPONSES}
)
@requires("segments.delete_customertag")
def remove_customer_tag(request: HttpRequest, customer_id: ObjectId, tag_id: ObjectId) -> list[CustomerTag]:
    customer = queries.customer_or_404(acting_user(request), customer_id)
    queries.tag_or_404(tag_id)
    services.remove_customer_tag(customer_id=customer.pk, tag_id=tag_id, actor=acting_user(request))
    return queries.tags_of(customer)


# segments


class SegmentOut(Schema):
    id: int
    name: str
    description: str
    rule: dict[str, Any]
    rule_text: str
    is_active: bool = Field(description="Refreshed on schedule")
    member_count: int
    refreshed_at: DateTimeOut | None
    created_at: DateTimeOut

    @staticmethod
    def resolve_rule_text(obj: Segment) -> str:
        return queries.describe_rule(obj.rule)


class SegmentIn(Schema):
    name: PlainText = Field(max_length=200)
    description: PlainText = Field("", max_length=2000)
    rule: dict[str, Any]
    is_active: bool = True


class SegmentPatch(Schema):
    name: PlainText | None = Field(None, max_length=200)
    description: PlainText | None = Field(None, max_length=2000)
    rule: dict[str, Any] | None = None
    is_active: bool | None = None


class PreviewIn(Schema):
    rule: dict[str, Any]


class SampleOut(Schema):
    id: int
    name: str = Field(description="Masked unless the user holds core.view_pii")
    rfm_class: str
    net_spend: MoneyOut | None

    @staticmethod
    def resolve_name(obj: Any, context: dict[str, Any]) -> Any:
        return shown(context["request"].auth, obj, "name")

    @staticmethod
    def resolve_rfm_class(obj: Any) -> str:
        metrics = getattr(obj, "segment_metrics", None)
        return queries.rfm_class_label(metrics.rfm_class) if metrics else ""

    @staticmethod
    def resolve_net_spend(obj: Any) -> Any:
        metrics = getattr(obj, "segment_metrics", None)
        return metrics.net_spend if metrics else None


class PreviewOut(Schema):
    count: int
    rule_text: str
    sample: list[SampleOut]


class RefreshOut(Schema):
    members: int
    entered: int
    left: int


class MemberOut(Schema):
    customer_id: int
    name: str = Field(description="Masked unless the user holds core.view_pii")
    entered_at: DateTimeOut
    rfm_code: str
    rfm_class: str
    net_spend: MoneyOut | None

    @staticmethod
    def resolve_name(obj: SegmentMember, context: dict[str, Any]) -> Any:
        return shown(context["request"].auth, obj.customer, "name")

    @staticmethod
    def resolve_rfm_code(obj: SegmentMember) -> str:
        metrics = getattr(obj.customer, "segment_metrics", None)
        return metrics.rfm_code if metrics else ""

    @staticmethod
    def resolve_rfm_class(obj: SegmentMember) -> str:
        metrics = getattr(obj.customer, "segment_metrics", None)
        return queries.rfm_class_label(metrics.rfm_class) if metrics else ""

    @staticmethod
    def resolve_net_spend(obj: SegmentMember) -> Any:
        metrics = getattr(obj.customer, "segment_metrics", None)
        return metrics.net_spend if metrics else None


class EventOut(Schema):
    customer_id: int
    kind: str = Field(description="entered | left")
    kind_label: str
    at: DateTimeOut

    @staticmethod
    def resolve_kind_label(obj: SegmentEvent) -> str:
        return str(obj.get_kind_display())


@router.get("/segments", response={200: list[SegmentOut], **ERROR_RESPONSES})
@requires("segments.view_segment")
@paginate(Pagination)
def list_segments(request: HttpRequest) -> QuerySet[Segment]:
    return Segment.objects.order_by("name", "pk")


@router.post("/segments/preview", response={200: PreviewOut, **ERROR_RESPONSES})
@requires("segments.view_segment")
def preview_segment(request: HttpRequest, payload: PreviewIn) -> dict[str, Any]:
    """How many customers a rule matches now, with a sample (nothing is saved)."""
    rule = services.clean_rule_field(payload.rule)
    count, sample = queries.preview(acting_user(request), rule)
    return {"count": count, "rule_text": queries.describe_rule(rule), "sample": sample}


@router.post("/segments", response={201: SegmentOut, **ERROR_RESPONSES})
@requires("segments.add_segment")
def create_segment(request: HttpRequest, payload: SegmentIn) -> Status[Segment]:
    """Save a segment; its members are filled at once."""
    segment = services.create_segment(actor=acting_user(request), **payload.dict())
    return Status(201, segment)


@router.get("/segments/{segment_id}", response={200: SegmentOut, **ERROR_RESPONSES})
@requires("segments.view_segment")
def get_segment(request: HttpRequest, segment_id: ObjectId) -> Segment:
    return queries.segment_or_404(segment_id)


@router.patch("/segments/{segment_id}", response={200: SegmentOut, **ERROR_RESPONSES})
@requires("segments.change_segment")
def update_segment(request: HttpRequest, segment_id: ObjectId, payload: SegmentPatch) -> Segment:
    queries.segment_or_404(segment_id)
    return services.update_segment(
        segment_id=segment_id, actor=acting_user(request), **payload.dict(exclude_unset=True)
    )


@router.delete("/segments/{segment_id}", response={204: None, **ERROR_RESPONSES})
@requires("segments.delete_segment")
def delete_segment(request: HttpRequest, segment_id: ObjectId) -> Status[None]:
    queries.segment_or_404(segment_id)
    services.delete_segment(segment_id=segment_id, actor=acting_user(request))
    return Status(204, None)


@router.post("/segments/{segment_id}/refresh", response={200: RefreshOut, **ERROR_RESPONSES})
@requires("segments.change_segment")
def refresh_segment(request: HttpRequest, segment_id: ObjectId) -> services.RefreshResult:
    """Re-evaluate the rule now: who entered and who left."""
    queries.segment_or_404(segment_id)
    return services.refresh_segment(segment_id=segment_id, actor=acting_user(request))


@router.get("/segments/{segment_id}/members", response={200: list[MemberOut], **ERROR_RESPONSES})
@requires("segments.view_segmentmember")
@paginate(Pagination)
def segment_members(request: HttpRequest, segment_id: ObjectId) -> QuerySet[SegmentMember]:
    """Members at the last refresh (those the user may see), newest first."""
    return queries.members_for(acting_user(request), queries.segment_or_404(segment_id))


@router.get("/segments/{segment_id}/history", response={200: list[EventOut], **ERROR_RESPONSES})
@requires("segments.view_segmentevent")
@paginate(Pagination)
def segment_history(request: HttpRequest, segment_id: ObjectId) -> QuerySet[SegmentEvent]:
    """Who entered and who left, and when, newest first."""
    return queries.events_for(acting_user(request), queries.segment_or_404(segment_id))
