"""Audit changes as a person reads them: field labels, choice labels, 是/否, nested values spelled out."""

from __future__ import annotations

from shopops.core.admin_tools import change_lines
from shopops.orders.models import Order, OrderStatus


def test_field_and_choice_labels() -> None:
    lines = change_lines({"status": [OrderStatus.PAID.value, OrderStatus.SHIPPED.value]}, Order)
    label = str(Order._meta.get_field("status").verbose_name)
    assert lines == [(label, f"{OrderStatus.PAID.label} → {OrderStatus.SHIPPED.label}")]
    assert "status" not in lines[0][0]


def test_nested_values_are_spelled_out_never_reprs() -> None:
    lines = change_lines(
        {"flags": {"hold": True, "codes": ["a", "b"]}, "note": None, "gone_field": [1, 2]}, Order
    )
    text = " ".join(value for _label, value in lines)
    for raw in ("{", "[", "True", "None"):
        assert raw not in text
    for spelled in ("hold：是", "a、b", "∅"):
        assert spelled in text
    assert ("gone_field", "1 → 2") in lines
