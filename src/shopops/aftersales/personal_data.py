"""After-sales' part of personal-data requests: a customer's cases for export; the buyer's own words
(问题描述) removed on anonymisation, while amounts, reasons, times and the timeline stay."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from shopops.aftersales.models import AfterSaleCase
from shopops.core.pii import scrub_text
from shopops.customers.models import Customer
from shopops.customers.personal_data import label, readable

DELETED_TEXT = "（已删除）"


def export(customer: Customer) -> dict[str, list[dict[str, str]]]:
    cases = AfterSaleCase.objects.filter(order__customer=customer).select_related("order", "reason")
    return {
        str(AfterSaleCase._meta.verbose_name_plural): [
            {
                label(AfterSaleCase, "order"): case.order.external_id,
                label(AfterSaleCase, "kind"): case.get_kind_display(),
                label(AfterSaleCase, "status"): case.get_status_display(),
                label(AfterSaleCase, "reason"): str(case.reason),
                label(AfterSaleCase, "description"): case.description,
                label(AfterSaleCase, "requested_amount"): readable(case.requested_amount),
                label(AfterSaleCase, "refunded_amount"): readable(case.refunded_amount),
                label(AfterSaleCase, "applied_at"): readable(case.applied_at),
                label(AfterSaleCase, "closed_at"): readable(case.closed_at),
            }
            for case in cases.order_by("applied_at", "pk")
        ]
    }


def anonymise(customer: Customer) -> int:
    """Replace the buyer's description of each case; phone numbers, e-mails and ID numbers in the
    operators' decision notes are masked. Rows changed (0 the second time)."""
    changed = 0
    now = timezone.now()
    with transaction.atomic():
        cases = AfterSaleCase.objects.filter(order__customer=customer).order_by("pk").select_for_update()
        for case in cases:
            description = DELETED_TEXT if case.description else ""
            note = scrub_text(case.decision_note)
            if (description, note) != (case.description, case.decision_note):
                AfterSaleCase.objects.filter(pk=case.pk).update(
                    description=description, decision_note=note, updated_at=now
                )
                changed += 1
    return changed
