"""Customers API: customers and their platform identities (personal data masked by policy), the profile
summary, notes, merge suggestions (list, generate, accept, reject) and unmerge."""

from typing import Any

from django.db.models import QuerySet
from django.http import HttpRequest
from ninja import Field, Query, Router, Schema, Status
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
from shopops.customers import profiles, queries, services
from shopops.customers.models import (
    Customer,
    CustomerAccount,
    CustomerMerge,
    CustomerNote,
    MergeSuggestion,
    SuggestionStatus,
)

router = Router(tags=["customers"])


def _user(context: dict[str, Any]) -> Any:
    return context["request"].auth


class CustomerOut(Schema):
    id: int
    name: str = Field(description="Masked (张**) unless the user holds core.view_pii")
    phone: str = Field(description="Masked (138****1234) unless the user holds core.view_pii")
    email: str = Field(description="Masked (d***@x.com) unless the user holds core.view_pii")
    is_blacklisted: bool
    blacklist_reason: str
    order_count: int = Field(description="Orders of this customer in the user's shops")
    first_order_at: DateTimeOut | None = Field(description="First order in the user's shops")
    last_order_at: DateTimeOut | None = Field(description="Latest order in the user's shops")
    created_at: DateTimeOut

    @staticmethod
    def resolve_name(obj: Customer, context: dict[str, Any]) -> Any:
        return shown(_user(context), obj, "name")

    @staticmethod
    def resolve_phone(obj: Customer, context: dict[str, Any]) -> Any:
        return shown(_user(context), obj, "phone")

    @staticmethod
    def resolve_email(obj: Customer, context: dict[str, Any]) -> Any:
        return shown(_user(context), obj, "email")

    @staticmethod
    def resolve_order_count(obj: Customer) -> int:
        return int(getattr(obj, "order_count", 0))

    @staticmethod
    def resolve_first_order_at(obj: Customer) -> Any:
        return queries.first_order_seen(obj)

    @staticmethod
    def resolve_last_order_at(obj: Customer) -> Any:
        return queries.last_order_seen(obj)


class CustomerAccountOut(Schema):
    id: int
    platform: str
    kind: str = Field(
        description="Identity kind: taobao, jd, pdd, douyin, shopify_email, own, phone_hash, other"
    )
    kind_label: str = Field(description="The kind as operators read it (淘宝会员名/open_uid …)")
    buyer_id: str = Field(description="Masked unless the user holds core.view_pii")
    created_at: DateTimeOut

    @staticmethod
    def resolve_buyer_id(obj: CustomerAccount, context: dict[str, Any]) -> Any:
        return shown(_user(context), obj, "buyer_id")

    @staticmethod
    def resolve_kind_label(obj: CustomerAccount) -> str:
        return str(obj.get_kind_display())


class CustomerDetailOut(CustomerOut):
    accounts: list[CustomerAccountOut]


class CustomerFilters(Schema):
    search: PlainText | None = Field(
        None,
        max_length=100,
        description="Platform buyer id (exact), full mobile number, or its last 4 digits",
    )
    is_blacklisted: bool | None = None


@router.get("/customers", response={200: list[CustomerOut], **ERROR_RESPONSES})
@paginate(Pagination)
@requires("customers.view_customer")
def list_customers(request: HttpRequest, filters: Query[CustomerFilters]) -> QuerySet[Customer]:
    """Customers who ordered in the user's shops, newest first; personal data masked without core.view_pii."""
    return queries.customers_for(
        acting_user(request), search=filters.search or "", is_blacklisted=filters.is_blacklisted
    )


@router.get("/customers/{customer_id}", response={200: CustomerDetailOut, **ERROR_RESPONSES})
@requires("customers.view_customer")
def get_customer(request: HttpRequest, customer_id: ObjectId) -> Customer:
    """One customer with their platform buyer accounts."""
    return queries.customer_detail(acting_user(request), customer_id)


class BlacklistIn(Schema):
    reason: PlainText = Field(..., min_length=1, max_length=200, description="Why (shown to reviewers)")


class UnblacklistIn(Schema):
    reason: PlainText = Field("", max_length=200)


@router.post("/customers/{customer_id}/blacklist", response={200: CustomerDetailOut, **ERROR_RESPONSES})
@requires("customers.change_customer")
def blacklist_customer(request: HttpRequest, customer_id: ObjectId, payload: BlacklistIn) -> Customer:
    """Put a customer on the blacklist: their new orders get a `blacklisted_buyer` review issue (audited)."""
    user = acting_user(request)
    queries.customer_detail(user, customer_id)  # 404 outside the user's scope
    services.blacklist_customer(actor=user, customer_id=customer_id, reason=payload.reason)
    return queries.customer_detail(user, customer_id)


@router.post("/customers/{customer_id}/unblacklist", response={200: CustomerDetailOut, **ERROR_RESPONSES})
@requires("customers.change_customer")
def unblacklist_customer(request: HttpRequest, customer_id: ObjectId, payload: UnblacklistIn) -> Customer:
    """Take a customer off the blacklist (audited)."""
    user = acting_user(request)
    queries.customer_detail(user, customer_id)
    services.unblacklist_customer(actor=user, customer_id=customer_id, reason=payload.reason)
    return queries.customer_detail(user, customer_id)


# The profile.


class OrderFiguresOut(Schema):
    orders: int = Field(description="Orders in the user's shops")
    valid_orders: int
    paid: MoneyOut = Field(description="Paid amount of valid orders")
    refunded: MoneyOut
    aov: MoneyOut | None = Field(description="客单价: paid ÷ valid orders")
    first_order_at: DateTimeOut | None
    last_order_at: DateTimeOut | None
    interval_days: str | None = Field(description="Mean days between consecutive valid orders (1 decimal)")

    @staticmethod
    def resolve_interval_days(obj: queries.OrderFigures) -> str | None:
        return None if obj.interval_days is None else str(obj.interval_days)


class NoteOut(Schema):
    id: int
    text: str
    author: str
    created_at: DateTimeOut

    @staticmethod
    def resolve_author(obj: CustomerNote) -> str:
        return obj.author.get_username() if obj.author else "系统"


class MergeOut(Schema):
    id: int
    source_id: int = Field(description="The profile merged away")
    target_id: int = Field(description="The profile kept")
    suggestion_id: int | None
    moved: dict[str, list[int]] = Field(description='"app.model" → ids of the rows that moved')
    merged_at: DateTimeOut
    unmerged_at: DateTimeOut | None
    unmerge_reason: str


class EvidenceOut(Schema):
    kind: str
    label: str


class SuggestionOut(Schema):
    id: int
    customer_a_id: int
    customer_b_id: int
    evidence: list[EvidenceOut]
    status: str = Field(description="pending, accepted or rejected")
    status_label: str
    reject_reason: str
    decided_at: DateTimeOut | None
    created_at: DateTimeOut

    @staticmethod
    def resolve_evidence(obj: MergeSuggestion) -> list[dict[str, str]]:
        return [
            {"kind": item["kind"], "label": profiles.evidence_label(item["kind"], item.get("label", ""))}
            for item in obj.evidence
        ]

    @staticmethod
    def resolve_status_label(obj: MergeSuggestion) -> str:
        return str(obj.get_status_display())


class ProfileOut(CustomerDetailOut):
    merged_into_id: int | None = Field(description="Set when this profile was merged into another")
    order_figures: OrderFiguresOut
    notes: list[NoteOut] = Field(alias="note_list")
    merges: list[MergeOut] = Field(alias="merge_history")
    pending_suggestions: list[SuggestionOut]


@router.get("/customers/{customer_id}/profile", response={200: ProfileOut, **ERROR_RESPONSES})
@requires("customers.view_customer")
def get_profile(request: HttpRequest, customer_id: ObjectId) -> Customer:
    """The profile summary (客户档案): identities, order figures in the user's shops, notes, merges and
    pending merge suggestions. 404 outside the user's shops."""
    user = acting_user(request)
    customer = queries.profile_for(user, customer_id)
    if customer.merged_into_id is None:
        customer = queries.customer_detail(user, customer_id)
    profile: Any = customer
    profile.order_figures = queries.order_figures(user, customer)
    profile.note_list = list(customer.notes.select_related("author")[:50])
    profile.merge_history = list(queries.merges_of(customer))
    profile.pending_suggestions = (
        list(queries.pending_suggestions_of(customer)) if customer.merged_into_id is None else []
    )
    return customer


class NoteIn(Schema):
    text: PlainText = Field(..., min_length=1, max_length=1000)


@router.get("/customers/{customer_id}/notes", response={200: list[NoteOut], **ERROR_RESPONSES})
@requires("customers.view_customer")
def list_notes(request: HttpRequest, customer_id: ObjectId) -> list[CustomerNote]:
    """A profile's notes, newest first."""
    customer = queries.profile_for(acting_user(request), customer_id)
    return list(customer.notes.select_related("author"))


@router.post("/customers/{customer_id}/notes", response={201: NoteOut, **ERROR_RESPONSES})
@requires("customers.change_customer")
def add_note(request: HttpRequest, customer_id: ObjectId, payload: NoteIn) -> Status:
    """Add a note to a profile (author and time kept; audited)."""
    customer = queries.profile_for(acting_user(request), customer_id)
    return Status(
        201, profiles.add_note(actor=acting_user(request), customer_id=customer.pk, text=payload.text)
    )


# Merge suggestions and merges.


class SuggestionFilters(Schema):
    status: SuggestionStatus | None = Field(
        SuggestionStatus.PENDING, description="pending (default), accepted, rejected"
    )


@router.get("/customer-merge-suggestions", response={200: list[SuggestionOut], **ERROR_RESPONSES})
@paginate(Pagination)
@requires("customers.view_mergesuggestion")
def list_suggestions(request: HttpRequest, filters: Query[SuggestionFilters]) -> QuerySet[MergeSuggestion]:
    """Merge suggestions whose two profiles the user may see, best evidence first."""
    return queries.suggestions_for(acting_user(request), status=filters.status)


class GenerateOut(Schema):
    created: int
    refreshed: int
    skipped: int = Field(description="Pairs already decided (never suggested again) or merged away")


@router.post("/customer-merge-suggestions/generate", response={200: GenerateOut, **ERROR_RESPONSES})
@requires("customers.merge_customer")
def generate_suggestions(request: HttpRequest) -> dict[str, int]:
    """Look for profiles that look like one person now (the nightly job does the same)."""
    return profiles.generate_suggestions(actor=acting_user(request))


def _suggestion_in_scope(request: HttpRequest, suggestion_id: int) -> MergeSuggestion:
    suggestion = queries.suggestions_for(acting_user(request), status=None).filter(pk=suggestion_id).first()
    if suggestion is None:
        raise queries.out_of_scope("合并建议", field="suggestion_id")
    return suggestion


class AcceptIn(Schema):
    keep_id: int | None = Field(None, description="The profile to keep (one of the pair; default profile A)")


class RejectIn(Schema):
    reason: PlainText = Field(..., min_length=1, max_length=200, description="Why they are not one person")


@router.post(
    "/customer-merge-suggestions/{suggestion_id}/accept", response={200: MergeOut, **ERROR_RESPONSES}
)
@requires("customers.merge_customer")
def accept_suggestion(request: HttpRequest, suggestion_id: ObjectId, payload: AcceptIn) -> CustomerMerge:
    """Merge the pair: the other profile's identities, notes and orders move to the kept one (audited,
    reversible with unmerge). 409 when the suggestion is decided already."""
    suggestion = _suggestion_in_scope(request, suggestion_id)
    return profiles.accept_suggestion(
        actor=acting_user(request), suggestion_id=suggestion.pk, keep_id=payload.keep_id
    )


@router.post(
    "/customer-merge-suggestions/{suggestion_id}/reject", response={200: SuggestionOut, **ERROR_RESPONSES}
)
@requires("customers.merge_customer")
def reject_suggestion(request: HttpRequest, suggestion_id: ObjectId, payload: RejectIn) -> MergeSuggestion:
    """Reject the pair with a reason: it is never suggested again (audited)."""
    suggestion = _suggestion_in_scope(request, suggestion_id)
    return profiles.reject_suggestion(
        actor=acting_user(request), suggestion_id=suggestion.pk, reason=payload.reason
    )


class UnmergeIn(Schema):
    reason: PlainText = Field("", max_length=200)


@router.post("/customer-merges/{merge_id}/unmerge", response={200: MergeOut, **ERROR_RESPONSES})
@requires("customers.merge_customer")
def unmerge(request: HttpRequest, merge_id: ObjectId, payload: UnmergeIn) -> CustomerMerge:
    """Undo a merge: exactly the rows that moved go back (audited). 409 when undone already or when the
    kept profile was merged further since."""
    user = acting_user(request)
    merge = queries.merges_for(user).filter(pk=merge_id).first()
    if merge is None:
        raise queries.out_of_scope("合并记录", field="merge_id")
    return profiles.unmerge(actor=user, merge_id=merge.pk, reason=payload.reason)
