"""Profile actions (客户档案): notes, merge suggestions, merge and unmerge — each transactional and audited.

Merge suggestions (合并建议). Platforms hide who buyers are, so two profiles of one person are never
joined silently: `generate_suggestions` gathers evidence pairs from every app's `merge_evidence`
module (`pairs() -> iterable of (customer_a_id, customer_b_id, kind, label)`; customers gives same
phone hash and same e-mail, orders gives same receiver + address and same receiver phone) and keeps one
`MergeSuggestion` per pair. A pair decided once (accepted, rejected, or merged and unmerged again) is
never suggested again; a pending one gets its evidence refreshed.

Merge. `merge_customers` re-points the source's identities and notes, then every app's
`customer_merge.merged(source, target) -> {"app.model": [ids]}` (orders moves Order.customer), and
keeps exactly what moved in a `CustomerMerge` with the target's fields it changed (blanks filled from the
source, first/last order, blacklist: a blacklisted source makes the target blacklisted). The source stays
as a merged-away record (`merged_into`). `unmerge` puts exactly those rows back
(`customer_merge.unmerged(source, target, moved)`), restores the target's fields and rejects the pair
so it is not suggested again.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from django.db import models, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from shopops.core import audit
from shopops.core.errors import Conflict, InvalidInput, NotFound, required_text
from shopops.core.extensions import functions
from shopops.customers.models import (
    Customer,
    CustomerAccount,
    CustomerMerge,
    CustomerNote,
    MergeSuggestion,
    SuggestionStatus,
)

EVIDENCE_MODULE = "merge_evidence"
MERGE_MODULE = "customer_merge"
ACCOUNTS_KEY = "customers.customeraccount"
NOTES_KEY = "customers.customernote"
# fields a merge fills on the target when the target has them blank
FILLED_FIELDS = ("name", "phone", "phone_hash", "email", "birthday")
KEPT_FIELDS = (*FILLED_FIELDS, "first_order_at", "last_order_at", "is_blacklisted", "blacklist_reason")
NOTE_MAX_LENGTH = 1000
REASON_MAX_LENGTH = 200

# evidence kinds and how pages name them (a module's own label is kept for kinds not listed here)
EVIDENCE_LABELS = {
    "same_phone": _("手机号摘要相同"),
    "same_email": _("邮箱相同"),
    "same_receiver": _("收货人与地址相同"),
    "same_receiver_phone": _("收货电话相同"),
}


def evidence_label(kind: str, label: str = "") -> str:
    known = EVIDENCE_LABELS.get(kind)
    return str(known) if known is not None else label or kind


# Notes.


def add_note(*, actor: Any, customer_id: int, text: str) -> CustomerNote:
    """Add a note to a profile (author and time kept; notes are not edited)."""
    text = required_text(text, field="text", label="备注", max_length=NOTE_MAX_LENGTH)
    with transaction.atomic():
        customer = _locked([customer_id])[customer_id]
        note = CustomerNote.objects.create(customer=customer, text=text, author=audit.user_or_none(actor))
        audit.record(
            actor=actor,
            action="customer.note_added",
            instance=customer,
            changes={"note": [None, note.pk]},
        )
    return note


# Suggestions.


def evidence_pairs() -> dict[tuple[int, int], dict[str, str]]:
    """(lower id, higher id) → {kind: label} from every app's `merge_evidence.pairs()`."""
    found: dict[tuple[int, int], dict[str, str]] = defaultdict(dict)
    for pairs in functions(EVIDENCE_MODULE, "pairs"):
        for first, second, kind, label in pairs():
            if first == second or first is None or second is None:
                continue
            key = (min(first, second), max(first, second))
            found[key].setdefault(kind, str(label))
    return dict(found)


def generate_suggestions(*, actor: Any) -> dict[str, int]:
    """Create or refresh suggestions from the evidence; returns counts (created, refreshed, skipped)."""
    pairs = evidence_pairs()
    counts = {"created": 0, "refreshed": 0, "skipped": 0}
    if not pairs:
        return counts
    ids = {customer_id for pair in pairs for customer_id in pair}
    active = set(Customer.objects.filter(pk__in=ids, merged_into__isnull=True).values_list("pk", flat=True))
    with transaction.atomic():
        existing = {
            (suggestion.customer_a_id, suggestion.customer_b_id): suggestion
            for suggestion in MergeSuggestion.objects.select_for_update().filter(
                customer_a_id__in=ids, customer_b_id__in=ids
            )
        }
        new: list[MergeSuggestion] = []
        refreshed: list[MergeSuggestion] = []
        for (first, second), kinds in sorted(pairs.items()):
            evidence = [{"kind": kind, "label": label} for kind, label in sorted(kinds.items())]
            suggestion = existing.get((first, second))
            if (
                first not in active
                or second not in active
                or (suggestion is not None and suggestion.status != SuggestionStatus.PENDING)
            ):
                counts["skipped"] += 1
                continue
            if suggestion is None:
                new.append(
                    MergeSuggestion(
                        customer_a_id=first, customer_b_id=second, evidence=evidence, score=len(evidence)
                    )
                )
            elif suggestion.evidence != evidence:
                suggestion.evidence, suggestion.score = evidence, len(evidence)
                refreshed.append(suggestion)
        MergeSuggestion.objects.bulk_create(new, ignore_conflicts=True)
        MergeSuggestion.objects.bulk_update(refreshed, ["evidence", "score", "updated_at"])
        counts["created"], counts["refreshed"] = len(new), len(refreshed)
        if new or refreshed:
            audit.record(
                actor=actor,
                action="customer.suggestions_generated",
                changes={key: [None, value] for key, value in counts.items()},
                object_repr="合并建议",
            )
    return counts


def _suggestion(suggestion_id: int) -> MergeSuggestion:
    suggestion = MergeSuggestion.objects.select_for_update().filter(pk=suggestion_id).first()
    if suggestion is None:
        raise NotFound("合并建议不存在", fields={"suggestion_id": "不存在"})
    return suggestion


def _pending(suggestion: MergeSuggestion) -> None:
    if suggestion.status != SuggestionStatus.PENDING:
        raise Conflict(
            f"这条合并建议已处理（{suggestion.get_status_display()}）", fields={"status": "已处理"}
        )


def reject_suggestion(*, actor: Any, suggestion_id: int, reason: str) -> MergeSuggestion:
    """Reject a suggestion with a reason: the pair is never suggested again."""
    reason = required_text(reason, field="reason", label="驳回原因", max_length=REASON_MAX_LENGTH)
    with transaction.atomic():
        suggestion = _suggestion(suggestion_id)
        _pending(suggestion)
        before = audit.snapshot(suggestion)
        suggestion.status = SuggestionStatus.REJECTED
        suggestion.reject_reason = reason
        suggestion.decided_by = audit.user_or_none(actor)
        suggestion.decided_at = timezone.now()
        suggestion.save()
        audit.record(
            actor=actor,
            action="customer.suggestion_rejected",
            instance=suggestion,
            changes=_without_times(audit.diff(before, audit.snapshot(suggestion))),
            reason=reason,
        )
    return suggestion


def accept_suggestion(*, actor: Any, suggestion_id: int, keep_id: int | None = None) -> CustomerMerge:
    """Accept a suggestion: merge one profile into the other (`keep_id`, default the older profile A)."""
    with transaction.atomic():
        suggestion = _suggestion(suggestion_id)
        _pending(suggestion)
        pair = (suggestion.customer_a_id, suggestion.customer_b_id)
        target_id = keep_id if keep_id is not None else pair[0]
        if target_id not in pair:
            raise InvalidInput("保留的档案须是建议中的两个档案之一", fields={"keep_id": "不在这条建议中"})
        source_id = pair[1] if target_id == pair[0] else pair[0]
        merge = merge_customers(actor=actor, source_id=source_id, target_id=target_id, suggestion=suggestion)
    return merge


# Merge and unmerge.


def _locked(ids: Iterable[int]) -> dict[int, Customer]:
    """The customers, locked in id order (two merges of overlapping pairs never deadlock)."""
    wanted = sorted(set(ids))
    found = {
        customer.pk: customer
        for customer in Customer.objects.select_for_update().filter(pk__in=wanted).order_by("pk")
    }
    missing = [pk for pk in wanted if pk not in found]
    if missing:
        raise NotFound("客户不存在", fields={"customer_id": "不存在"})
    return found


def _plain_value(value: Any) -> Any:
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    return value


def _field_value(name: str, value: Any) -> Any:
    """A value kept in `target_before` (JSON) back as the field's Python value."""
    field = Customer._meta.get_field(name)
    if value is None:
        return None
    if isinstance(field, models.DateTimeField):
        return dt.datetime.fromisoformat(value)
    if isinstance(field, models.DateField):
        return dt.date.fromisoformat(value)
    return value


def _merge_fields(source: Customer, target: Customer) -> dict[str, Any]:
    """Change the target as the merge does; the target's values before, of the fields that changed."""
    before: dict[str, Any] = {}

    def change(name: str, value: Any) -> None:
        if getattr(target, name) != value:
            before.setdefault(name, _plain_value(getattr(target, name)))
            setattr(target, name, value)

    for name in FILLED_FIELDS:
        if not getattr(target, name) and getattr(source, name):
            if name == "phone_hash" and target.phone:
                continue  # the hash goes with its number
            change(name, getattr(source, name))
    times = [value for value in (target.first_order_at, source.first_order_at) if value is not None]
    change("first_order_at", min(times) if times else None)
    times = [value for value in (target.last_order_at, source.last_order_at) if value is not None]
    change("last_order_at", max(times) if times else None)
    if source.is_blacklisted and not target.is_blacklisted:
        change("is_blacklisted", True)
        change("blacklist_reason", source.blacklist_reason)
    return before


def merge_customers(
    *, actor: Any, source_id: int, target_id: int, suggestion: MergeSuggestion | None = None
) -> CustomerMerge:
    """Merge profile `source_id` into `target_id` (see the module note); returns the merge record."""
    if source_id == target_id:
        raise InvalidInput("不能把档案合并到自己", fields={"target_id": "与被合并档案相同"})
    with transaction.atomic():
        customers = _locked([source_id, target_id])
        source, target = customers[source_id], customers[target_id]
        for customer in (source, target):
            if customer.merged_into_id is not None:
                raise Conflict(
                    f"客户 #{customer.pk} 已合并到 #{customer.merged_into_id}",
                    fields={"customer_id": "已合并"},
                )
        moved: dict[str, list[int]] = {
            ACCOUNTS_KEY: sorted(source.accounts.values_list("pk", flat=True)),
            NOTES_KEY: sorted(source.notes.values_list("pk", flat=True)),
        }
        CustomerAccount.objects.filter(pk__in=moved[ACCOUNTS_KEY]).update(customer=target)
        CustomerNote.objects.filter(pk__in=moved[NOTES_KEY]).update(customer=target)
        for merged in functions(MERGE_MODULE, "merged"):
            for key, ids in (merged(source, target) or {}).items():
                moved[key] = sorted({*moved.get(key, []), *ids})
        target_before = _merge_fields(source, target)
        if target_before:
            target.save(update_fields=[*target_before, "updated_at"])
        source.merged_into = target
        source.save(update_fields=["merged_into", "updated_at"])
        merge = CustomerMerge.objects.create(
            source=source,
            target=target,
            suggestion=suggestion,
            moved=moved,
            target_before=target_before,
            merged_by=audit.user_or_none(actor),
        )
        if suggestion is None:
            pair = (min(source_id, target_id), max(source_id, target_id))
            suggestion = MergeSuggestion.objects.filter(customer_a_id=pair[0], customer_b_id=pair[1]).first()
            if suggestion is not None and suggestion.status == SuggestionStatus.PENDING:
                merge.suggestion = suggestion
                merge.save(update_fields=["suggestion"])
            else:
                suggestion = None
        if suggestion is not None:
            suggestion.status = SuggestionStatus.ACCEPTED
            suggestion.decided_by = audit.user_or_none(actor)
            suggestion.decided_at = timezone.now()
            suggestion.save(update_fields=["status", "decided_by", "decided_at", "updated_at"])
        counts = {key: [None, len(ids)] for key, ids in moved.items()}
        audit.record(
            actor=actor,
            action="customer.merged",
            instance=target,
            changes={"merged_from": [None, source.pk], "merge": [None, merge.pk], **counts},
        )
        audit.record(
            actor=actor,
            action="customer.merged_away",
            instance=source,
            changes={"merged_into": [None, target.pk], "merge": [None, merge.pk]},
        )
    return merge


def unmerge(*, actor: Any, merge_id: int, reason: str = "") -> CustomerMerge:
    """Undo a merge: exactly the rows that moved go back to the source, the target's changed fields are
    restored, the source is a live profile again and the pair is not suggested again."""
    reason = (reason or "").strip()[:REASON_MAX_LENGTH]
    with transaction.atomic():
        merge = CustomerMerge.objects.select_for_update().filter(pk=merge_id).first()
        if merge is None:
            raise NotFound("合并记录不存在", fields={"merge_id": "不存在"})
        if merge.unmerged_at is not None:
            raise Conflict("这次合并已撤销", fields={"merge_id": "已撤销"})
        customers = _locked([merge.source_id, merge.target_id])
        source, target = customers[merge.source_id], customers[merge.target_id]
        if target.merged_into_id is not None:
            raise Conflict(
                f"保留档案 #{target.pk} 之后又合并到了 #{target.merged_into_id}，请先撤销那次合并",
                fields={"merge_id": "须先撤销后续合并"},
            )
        moved = {key: list(ids) for key, ids in merge.moved.items()}
        CustomerAccount.objects.filter(pk__in=moved.get(ACCOUNTS_KEY, []), customer=target).update(
            customer=source
        )
        CustomerNote.objects.filter(pk__in=moved.get(NOTES_KEY, []), customer=target).update(customer=source)
        for unmerged in functions(MERGE_MODULE, "unmerged"):
            unmerged(source, target, moved)
        for name, value in merge.target_before.items():
            setattr(target, name, _field_value(name, value))
        if merge.target_before:
            target.save(update_fields=[*merge.target_before, "updated_at"])
        source.merged_into = None
        source.save(update_fields=["merged_into", "updated_at"])
        merge.unmerged_at = timezone.now()
        merge.unmerged_by = audit.user_or_none(actor)
        merge.unmerge_reason = reason
        merge.save(update_fields=["unmerged_at", "unmerged_by", "unmerge_reason"])
        pair = (min(source.pk, target.pk), max(source.pk, target.pk))
        MergeSuggestion.objects.update_or_create(
            customer_a_id=pair[0],
            customer_b_id=pair[1],
            defaults={
                "status": SuggestionStatus.REJECTED,
                "reject_reason": ("撤销合并：" + reason if reason else "撤销合并")[:REASON_MAX_LENGTH],
                "decided_by": audit.user_or_none(actor),
                "decided_at": timezone.now(),
            },
        )
        audit.record(
            actor=actor,
            action="customer.unmerged",
            instance=target,
            changes={"unmerged": [source.pk, None], "merge": [merge.pk, None]},
            reason=reason,
        )
        audit.record(
            actor=actor,
            action="customer.unmerged_back",
            instance=source,
            changes={"merged_into": [target.pk, None]},
            reason=reason,
        )
    return merge


def _without_times(changes: dict[str, Any]) -> dict[str, Any]:
    changes.pop("updated_at", None)
    return changes


def pending_for(customer_id: int) -> Q:
    return Q(status=SuggestionStatus.PENDING) & (Q(customer_a_id=customer_id) | Q(customer_b_id=customer_id))
