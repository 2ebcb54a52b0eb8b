"""The audit log never keeps a personal value in clear (it is append-only and kept for years)."""

from __future__ import annotations

import pytest

from shopops.core import audit
from shopops.core.models import AuditEntry
from shopops.customers.models import Customer

pytestmark = pytest.mark.django_db


def test_personal_fields_are_masked_in_the_audit_and_a_hidden_change_is_still_recorded() -> None:
    # given a customer whose name, phone and e-mail are recorded at creation, then renamed 张三 → 张四
    customer = Customer.objects.create(name="张三", phone="13812345678", email="zhangsan@example.com")
    audit.record(actor="system", action="customer.created", instance=customer, before={})
    before = audit.snapshot(customer)
    customer.name = "张四"
    customer.save()
    audit.record(actor="system", action="customer.updated", instance=customer, before=before)

    created, updated = AuditEntry.objects.filter(object_id=str(customer.pk)).order_by("id")
    stored = str(created.changes) + str(updated.changes)
    # then no clear value is stored anywhere in the entries
    for clear in ("张三", "张四", "13812345678", "zhangsan@example.com"):
        assert clear not in stored
    assert created.changes["phone"] == [None, "138****5678"]
    # and the rename, invisible through the mask (张** → 张**), is still an entry that says it changed
    assert updated.changes["name"] == ["张**", "张**（已修改）"]
