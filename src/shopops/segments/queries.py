"""Read models of tags and segments: the condition catalogue, rule validation and evaluation, members, history.

A rule is JSON: a group `{"op": "and"|"or", "items": [...]}` whose items are conditions
`{"field": key, "operator": op, "value": v}` or nested groups (at most `MAX_DEPTH` deep). The fields come
from every app's `segment_conditions.conditions()` (see `shopops.core.extensions`).
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from django.db.models import Q, QuerySet
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from shopops.core import extensions
from shopops.core.errors import InvalidInput
from shopops.core.scope import out_of_scope
from shopops.customers.models import Customer
from shopops.customers.queries import visible_customers
from shopops.segments.models import (
    CustomerMetrics,
    CustomerTag,
    RfmChange,
    RfmClass,
    Segment,
    SegmentEvent,
    SegmentMember,
    Tag,
)

MAX_DEPTH = 3
MAX_CONDITIONS = 40
NUMBER_LIMIT = Decimal(10) ** 12
GROUP_OPERATORS = {"and": gettext_lazy("且"), "or": gettext_lazy("或")}
OPERATOR_LABELS = {
    "gte": gettext_lazy("大于等于"),
    "lte": gettext_lazy("小于等于"),
    "gt": gettext_lazy("大于"),
    "lt": gettext_lazy("小于"),
    "eq": gettext_lazy("等于"),
    "ne": gettext_lazy("不等于"),
    "contains": gettext_lazy("包含"),
}
CHOICE_OPERATOR_LABELS = {"eq": gettext_lazy("属于"), "ne": gettext_lazy("不属于")}


def available_conditions() -> dict[str, dict[str, Any]]:
    """Every condition the installed apps offer, by key, in app order (segments' own first)."""
    found: dict[str, dict[str, Any]] = {}
    for function in extensions.functions("segment_conditions", "conditions"):
        for condition in function():
            found[condition["key"]] = condition
    return found


def operator_label(condition: dict[str, Any], operator: str) -> str:
    if condition["kind"] == "choice":
        return str(CHOICE_OPERATOR_LABELS.get(operator, OPERATOR_LABELS.get(operator, operator)))
    return str(OPERATOR_LABELS.get(operator, operator))


def condition_catalogue() -> list[dict[str, Any]]:
    """The conditions as the builder page and the API show them: labels, operators and choices, no callables."""
    return [
        {
            "key": condition["key"],
            "label": str(condition["label"]),
            "kind": condition["kind"],
            "operators": [
                {"value": operator, "label": operator_label(condition, operator)}
                for operator in condition["operators"]
            ],
            "choices": [
                {"value": str(value), "label": str(label)} for value, label in condition.get("choices", [])
            ],
        }
        for condition in available_conditions().values()
    ]


def _number(text: Any, *, path: str, integer: bool) -> str:
    try:
        number = Decimal(str(text).strip().replace(",", ""))
    except InvalidOperation:
        raise InvalidInput(_("条件的值必须是数字"), fields={path: _("请输入数字")}) from None
    if not number.is_finite() or abs(number) >= NUMBER_LIMIT:
        raise InvalidInput(_("条件的值必须是数字"), fields={path: _("请输入数字")})
    if integer and number != number.to_integral_value():
        raise InvalidInput(_("条件的值必须是整数"), fields={path: _("请输入整数")})
    return str(int(number)) if integer else str(number)


def _clean_condition(
    item: dict[str, Any], path: str, conditions: dict[str, dict[str, Any]]
) -> dict[str, Any]:
    key = item.get("field")
    condition = conditions.get(key) if isinstance(key, str) else None
    if condition is None:
        raise InvalidInput(_("请选择条件字段"), fields={f"{path}.field": _("未知的条件字段")})
    operator = item.get("operator")
    if operator not in condition["operators"]:
        raise InvalidInput(_("请选择运算方式"), fields={f"{path}.operator": _("该字段不支持此运算方式")})
    value = item.get("value")
    choices = [str(choice) for choice, _label in condition.get("choices", [])]
    value_path = f"{path}.value"
    if value is None or str(value).strip() == "":
        raise InvalidInput(_("请填写条件的值"), fields={value_path: _("必填")})
    if condition["kind"] == "number":
        text = _number(value, path=value_path, integer=bool(condition.get("integer")))
    else:
        text = str(value).strip()
        if len(text) > 100:
            raise InvalidInput(_("条件的值太长"), fields={value_path: _("最多 100 个字符")})
    if choices and condition["kind"] == "choice" and text not in choices:
        raise InvalidInput(_("请选择有效的值"), fields={value_path: _("不在可选范围内")})
    if choices and condition["kind"] == "number" and text not in choices:
        raise InvalidInput(_("请选择有效的值"), fields={value_path: _("不在可选范围内")})
    return {"field": key, "operator": operator, "value": text}


def _clean_group(
    group: Any, path: str, depth: int, conditions: dict[str, dict[str, Any]], counter: list[int]
) -> dict[str, Any]:
    prefix = f"{path}." if path else ""
    if not isinstance(group, dict):
        raise InvalidInput(_("条件格式不正确"), fields={path or "rule": _("应为条件组")})
    if group.get("op") not in GROUP_OPERATORS:
        raise InvalidInput(_("条件组须选择“且”或“或”"), fields={f"{prefix}op": _("只能是“且”或“或”")})
    items = group.get("items")
    if not isinstance(items, list) or not items:
        raise InvalidInput(_("条件组不能为空"), fields={f"{prefix}items": _("至少添加一个条件")})
    cleaned = []
    for index, item in enumerate(items):
        item_path = f"{prefix}items.{index}"
        if isinstance(item, dict) and "items" in item:
            if depth >= MAX_DEPTH:
                raise InvalidInput(
                    _("条件组最多嵌套 %(depth)d 层") % {"depth": MAX_DEPTH}, fields={item_path: _("嵌套过深")}
                )
            cleaned.append(_clean_group(item, item_path, depth + 1, conditions, counter))
        elif isinstance(item, dict):
            counter[0] += 1
            if counter[0] > MAX_CONDITIONS:
                raise InvalidInput(
                    _("条件最多 %(count)d 个") % {"count": MAX_CONDITIONS}, fields={item_path: _("条件过多")}
                )
            cleaned.append(_clean_condition(item, item_path, conditions))
        else:
            raise InvalidInput(_("条件格式不正确"), fields={item_path: _("应为条件或条件组")})
    return {"op": group["op"], "items": cleaned}


def clean_rule(rule: Any) -> dict[str, Any]:
    """The rule normalised (values as text), or InvalidInput naming the bad part, e.g. `items.1.value`."""
    return _clean_group(rule, "", 1, available_conditions(), [0])


def rule_q(rule: dict[str, Any], conditions: dict[str, dict[str, Any]] | None = None) -> Q:
    """The Q on customers.Customer of a cleaned rule."""
    conditions = conditions if conditions is not None else available_conditions()
    parts = []
    for item in rule["items"]:
        if "items" in item:
            parts.append(rule_q(item, conditions))
        else:
            condition = conditions[item["field"]]
            value: Any = item["value"]
            if condition["kind"] == "number":
                value = Decimal(value)
            parts.append(condition["q"](item["operator"], value))
    combined = parts[0]
    for part in parts[1:]:
        combined = combined & part if rule["op"] == "and" else combined | part
    return combined


def live_customers() -> QuerySet[Customer]:
    """Customers that count: those merged into another profile (when merging exists) are left out."""
    customers = Customer.objects.all()
    if hasattr(Customer, "merged_into"):
        # H1 adds the field; named by a string so this module type-checks with or without it
        not_merged = {"merged_into__isnull": True}
        customers = customers.filter(**not_merged)
    return customers


def matching_customers(rule: dict[str, Any]) -> QuerySet[Customer]:
    """Customers matching a cleaned rule, each once."""
    return live_customers().filter(pk__in=Customer.objects.filter(rule_q(rule)).values("pk"))


def describe_rule(rule: dict[str, Any] | None, conditions: dict[str, dict[str, Any]] | None = None) -> str:
    """The rule as a sentence for lists, e.g. “净消费（元） 大于等于 500 且 （RFM 分类 是 重要价值客户 或 …）”."""
    if not rule or not rule.get("items"):
        return ""
    conditions = conditions if conditions is not None else available_conditions()
    words = []
    for item in rule["items"]:
        if "items" in item:
            words.append(f"（{describe_rule(item, conditions)}）")
            continue
        condition = conditions.get(item["field"])
        if condition is None:
            words.append(_("（已失效的条件）"))
            continue
        labels = {str(value): str(label) for value, label in condition.get("choices", [])}
        value = labels.get(str(item["value"]), str(item["value"]))
        words.append(f"{condition['label']} {operator_label(condition, item['operator'])} {value}")
    joiner = f" {GROUP_OPERATORS[rule['op']]} "
    return joiner.join(words)


def preview(user: Any, rule: dict[str, Any], *, sample: int = 10) -> tuple[int, list[Customer]]:
    """How many customers the rule matches (of those the user may see) and the first few of them."""
    customers = matching_customers(rule).filter(pk__in=visible_customers(user).values("pk"))
    return customers.count(), list(customers.select_related("segment_metrics").order_by("-pk")[:sample])


def member_ids(segment: Segment) -> QuerySet[SegmentMember, int]:
    """The ids of the customers in a segment at its last refresh (for care's sends)."""
    return SegmentMember.objects.filter(segment=segment).values_list("customer_id", flat=True)


def members_for(user: Any, segment: Segment) -> QuerySet[SegmentMember]:
    """A segment's members the user may see, newest entries first, with their metrics."""
    return (
        SegmentMember.objects.filter(segment=segment, customer__in=visible_customers(user))
        .select_related("customer", "customer__segment_metrics")
        .order_by("-entered_at", "-customer_id")
    )


def events_for(user: Any, segment: Segment) -> QuerySet[SegmentEvent]:
    return (
        SegmentEvent.objects.filter(segment=segment, customer__in=visible_customers(user))
        .select_related("customer")
        .order_by("-at", "-pk")
    )


def segment_or_404(segment_id: int) -> Segment:
    segment = Segment.objects.filter(pk=segment_id).first()
    if segment is None:
        raise out_of_scope("人群")
    return segment


def tag_or_404(tag_id: int) -> Tag:
    tag = Tag.objects.filter(pk=tag_id).first()
    if tag is None:
        raise out_of_scope("标签", field="tag_id", field_message="标签不存在")
    return tag


def customer_or_404(user: Any, customer_id: int) -> Customer:
    customer = visible_customers(user).filter(pk=customer_id).first()
    if customer is None:
        raise out_of_scope("客户")
    return customer


def tags_of(customer: Customer) -> list[CustomerTag]:
    return list(CustomerTag.objects.filter(customer=customer).select_related("tag").order_by("tag__name"))


def metrics_of(customer: Customer) -> CustomerMetrics | None:
    return CustomerMetrics.objects.filter(customer=customer).first()


def rfm_history(customer: Customer, *, limit: int = 20) -> list[RfmChange]:
    return list(RfmChange.objects.filter(customer=customer).order_by("-changed_at", "-pk")[:limit])


def segments_of(customer: Customer) -> list[SegmentMember]:
    return list(
        SegmentMember.objects.filter(customer=customer).select_related("segment").order_by("segment__name")
    )


def rfm_class_label(value: str) -> str:
    return str(dict(RfmClass.choices).get(value, ""))
