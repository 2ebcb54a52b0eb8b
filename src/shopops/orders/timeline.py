"""An order's timeline in plain language: one renderer per OrderEventKind turns an event's stored payload
(`changes`, statuses, message) into a sentence ("已发货：极兔 JT…", "库存：已预占 → 已出库"), never a dict
repr. Labels come from the models' choices (translated), personal values are masked for who looks."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from django.apps import apps
from django.core.exceptions import FieldDoesNotExist
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from shopops.core.money import format_cny
from shopops.core.pii import can_view_pii, mask, pii_fields
from shopops.orders.models import (
    IssueStatus,
    Order,
    OrderEvent,
    OrderEventKind,
    OrderStatus,
    RefundStatus,
    ReviewStatus,
    StockState,
)
from shopops.orders.services.review import AUTO_PREFIX

# Review rule titles as the operator reads them (the rule codes stay in the data).
RULE_LABELS: dict[str, Any] = {
    "unpaid_timeout": gettext_lazy("超时未付款"),
    "test_order": gettext_lazy("测试订单"),
    "duplicate": gettext_lazy("疑似重复订单"),
    "suspected_fake": gettext_lazy("疑似刷单"),
    "incomplete_address": gettext_lazy("收货信息不完整"),
    "blacklisted_buyer": gettext_lazy("黑名单买家"),
    "sku_unmatched": gettext_lazy("商品未匹配SKU"),
    "out_of_stock": gettext_lazy("库存不足"),
}
VIA_LABELS: dict[str, Any] = {
    "admin": gettext_lazy("后台"),
    "api": gettext_lazy("接口"),
    "import": gettext_lazy("导入"),
    "system": gettext_lazy("系统"),
    "demo": gettext_lazy("演示数据"),
    "manual": gettext_lazy("手工录入"),
    "task": gettext_lazy("后台任务"),
}
KIND_ICONS: dict[str, str] = {
    OrderEventKind.CREATED: "add_circle",
    OrderEventKind.IMPORTED: "upload_file",
    OrderEventKind.STATUS: "swap_horiz",
    OrderEventKind.REVIEWED: "fact_check",
    OrderEventKind.ISSUE: "report",
    OrderEventKind.MEMO: "edit_note",
    OrderEventKind.STOCK: "inventory_2",
    OrderEventKind.SHIPMENT: "local_shipping",
    OrderEventKind.REFUND: "currency_yuan",
    OrderEventKind.MERGED: "call_merge",
    OrderEventKind.SPLIT: "call_split",
    OrderEventKind.AFTERSALE: "support_agent",
}
ARROW = " → "


def rule_label(code: str) -> str:
    return str(RULE_LABELS.get(code, code))


def _choice(choices: Any, value: Any) -> str:
    if value in (None, ""):
        return _("（空）")
    try:
        return str(choices(value).label)
    except ValueError:
        return _plain(value)


def _flag_label(value: Any) -> str:
    # imported here: the admin package reads the timeline, not the other way round at import time
    from shopops.orders.admin.common import FLAG_CHOICES

    labels = dict(FLAG_CHOICES)
    return str(labels[value]) if value in labels else _plain(value)


def _plain(value: Any) -> str:
    """A stored value as text: no reprs, no None/True/False."""
    if value is None or value == "":
        return _("（空）")
    if isinstance(value, bool):
        return _("是") if value else _("否")
    if isinstance(value, (list, tuple)):
        return "、".join(_plain(item) for item in value) or _("（空）")
    if isinstance(value, dict):
        return "；".join(f"{key}：{_plain(item)}" for key, item in value.items()) or _("（空）")
    return str(value)


def _pair(changes: dict[str, Any], name: str) -> tuple[Any, Any] | None:
    value = changes.get(name)
    if isinstance(value, (list, tuple)) and len(value) == 2:
        return value[0], value[1]
    return None


FIELD_CHOICES: dict[str, Any] = {
    "status": OrderStatus,
    "refund_status": RefundStatus,
    "review_status": ReviewStatus,
    "stock_state": StockState,
}


def _field_change(name: str, before: Any, after: Any, user: Any) -> str:
    try:
        label = str(getattr(Order._meta.get_field(name), "verbose_name", name))
    except FieldDoesNotExist:  # a payload key that is not a field (e.g. from an older release)
        label = name
    kinds = pii_fields(Order)
    if name in kinds and not can_view_pii(user):
        before, after = mask(kinds[name], before or ""), mask(kinds[name], after or "")
    if name in FIELD_CHOICES:
        before, after = _choice(FIELD_CHOICES[name], before), _choice(FIELD_CHOICES[name], after)
    elif name == "flag":
        before, after = _flag_label(before), _flag_label(after)
    return f"{label}：{_plain(before)}{ARROW}{_plain(after)}"


def _status_move(event: OrderEvent) -> str:
    if not event.to_status:
        return ""
    if event.from_status:
        return _choice(OrderStatus, event.from_status) + ARROW + _choice(OrderStatus, event.to_status)
    return _choice(OrderStatus, event.to_status)


def _created(event: OrderEvent, user: Any) -> str:
    text = _("订单创建，状态：%(status)s") % {"status": _choice(OrderStatus, event.to_status)}
    warnings = event.changes.get("warnings") if isinstance(event.changes, dict) else None
    if warnings:
        text += _("；提醒：%(warnings)s") % {"warnings": _plain(warnings)}
    return text


def _imported(event: OrderEvent, user: Any) -> str:
    changes = event.changes if isinstance(event.changes, dict) else {}
    parts = [
        _field_change(name, *pair, user)
        for name in changes
        if (pair := _pair(changes, name)) is not None and name != "status"
    ]
    move = _status_move(event)
    if move:
        parts.insert(0, _("状态：%(move)s") % {"move": move})
    return _("平台数据更新") + ("：" + "；".join(parts) if parts else "")


def _status(event: OrderEvent, user: Any) -> str:
    text = _("状态：%(move)s") % {"move": _status_move(event) or _("（未变）")}
    if event.message:
        text += _("（%(reason)s）") % {"reason": event.message}
    return text


def _reviewed(event: OrderEvent, user: Any) -> str:
    changes = event.changes if isinstance(event.changes, dict) else {}
    pair = _pair(changes, "review_status")
    after = pair[1] if pair else ""
    issues = [rule_label(code) for code in changes.get("issues") or [] if isinstance(code, str)]
    outcome = _choice(ReviewStatus, after) if after else event.message
    if issues:
        return _("审核：%(outcome)s，发现问题：%(issues)s") % {
            "outcome": outcome,
            "issues": "、".join(issues),
        }
    return _("审核：%(outcome)s") % {"outcome": outcome}


def _issue(event: OrderEvent, user: Any) -> str:
    changes = event.changes if isinstance(event.changes, dict) else {}
    rule = str(changes.get("rule") or "")
    resolution = event.message
    if rule and resolution.startswith(f"{rule}："):
        resolution = resolution.removeprefix(f"{rule}：")
    resolution = resolution.removeprefix(AUTO_PREFIX)
    status = _choice(IssueStatus, changes.get("status") or IssueStatus.RESOLVED)
    text = _("审单异常「%(rule)s」%(status)s") % {"rule": rule_label(rule), "status": status}
    if changes.get("marks_invalid"):
        text += _("，判为无效订单")
    return text + (_("：%(resolution)s") % {"resolution": resolution} if resolution else "")


def _memo(event: OrderEvent, user: Any) -> str:
    changes = event.changes if isinstance(event.changes, dict) else {}
    hold = _pair(changes, "on_hold")
    if hold is not None:
        if hold[1]:
            return (
                _("已暂停发货：%(reason)s") % {"reason": event.message} if event.message else _("已暂停发货")
            )
        return _("已恢复发货：%(reason)s") % {"reason": event.message} if event.message else _("已恢复发货")
    parts = []
    memo = _pair(changes, "seller_memo")
    if memo is not None:
        parts.append(_("卖家备注改为“%(memo)s”") % {"memo": memo[1]} if memo[1] else _("卖家备注已清空"))
    flag = _pair(changes, "flag")
    if flag is not None:
        parts.append(
            _("旗帜：%(before)s → %(after)s")
            % {"before": _flag_label(flag[0]), "after": _flag_label(flag[1])}
        )
    return "；".join(parts) or event.message or _("备注/旗帜未变")


def _stock(event: OrderEvent, user: Any) -> str:
    changes = event.changes if isinstance(event.changes, dict) else {}
    pair = _pair(changes, "stock_state")
    if pair is None:
        return _("库存：%(text)s") % {"text": event.message or _("（未记录）")}
    return _("库存：%(before)s → %(after)s") % {
        "before": _choice(StockState, pair[0]),
        "after": _choice(StockState, pair[1]),
    }


def _units(changes: dict[str, Any]) -> int:
    lines = changes.get("lines")
    if not isinstance(lines, dict):
        return 0
    total = 0
    for value in lines.values():
        units = value[0] if isinstance(value, (list, tuple)) and value else value
        if isinstance(units, int) and not isinstance(units, bool):
            total += units
    return total


def _shipment(event: OrderEvent, user: Any) -> str:
    changes = event.changes if isinstance(event.changes, dict) else {}
    if "reference" not in changes:  # a parcel step written by fulfillment as a sentence
        return _("发货：%(text)s") % {"text": event.message} if event.message else _("发货")
    carrier = str(changes.get("carrier") or "")
    number = str(changes.get("tracking_number") or "")
    text = _("已发货")
    if carrier or number:
        text += "：" + " ".join(part for part in (carrier, number) if part)
    units = _units(changes)
    if units:
        text += ngettext("，%(units)d 件", "，%(units)d 件", units) % {"units": units}
    if event.to_status and event.to_status != event.from_status:
        text += _("（订单%(status)s）") % {"status": _choice(OrderStatus, event.to_status)}
    return text


def _refund(event: OrderEvent, user: Any) -> str:
    changes = event.changes if isinstance(event.changes, dict) else {}
    try:
        amount = format_cny(Decimal(str(changes.get("amount"))))
    except (InvalidOperation, ValueError):
        return _("退款：%(text)s") % {"text": event.message or _("（未记录金额）")}
    text = _("退款 %(amount)s") % {"amount": amount}
    units = _units(changes)
    if units:
        text += ngettext("，%(units)d 件", "，%(units)d 件", units) % {"units": units}
    pair = _pair(changes, "refund_status")
    if pair is not None and pair[0] != pair[1]:
        text += _("（退款状态：%(before)s → %(after)s）") % {
            "before": _choice(RefundStatus, pair[0]),
            "after": _choice(RefundStatus, pair[1]),
        }
    return text


def _merged(event: OrderEvent, user: Any) -> str:
    return _("合并发货：%(text)s") % {"text": event.message} if event.message else _("合并发货")


def _split(event: OrderEvent, user: Any) -> str:
    return _("拆分发货：%(text)s") % {"text": event.message} if event.message else _("拆分发货")


def _case_status_label(value: Any) -> str:
    """After-sales sits above orders: its status labels are read from the installed model, not imported."""
    try:
        field = apps.get_model("aftersales", "AfterSaleCase")._meta.get_field("status")
    except LookupError:
        return str(value)
    return str(dict(getattr(field, "flatchoices", ())).get(value, value))


def _aftersale(event: OrderEvent, user: Any) -> str:
    changes = event.changes if isinstance(event.changes, dict) else {}
    pair = _pair(changes, "case_status")
    case_id = changes.get("case_id")
    if pair is None or case_id is None:
        return _("售后：%(text)s") % {"text": event.message} if event.message else _("售后")
    if pair[0] == pair[1] and event.message:  # a step within one status (e.g. return tracking recorded)
        return _("售后：%(text)s") % {"text": event.message}
    if pair[0]:
        move = _case_status_label(pair[0]) + ARROW + _case_status_label(pair[1])
    else:
        move = _("新建，%(status)s") % {"status": _case_status_label(pair[1])}
    return _("售后单 %(case)s：%(move)s") % {"case": f"#{case_id}", "move": move}


RENDERERS: dict[str, Callable[[OrderEvent, Any], str]] = {
    OrderEventKind.CREATED: _created,
    OrderEventKind.IMPORTED: _imported,
    OrderEventKind.STATUS: _status,
    OrderEventKind.REVIEWED: _reviewed,
    OrderEventKind.ISSUE: _issue,
    OrderEventKind.MEMO: _memo,
    OrderEventKind.STOCK: _stock,
    OrderEventKind.SHIPMENT: _shipment,
    OrderEventKind.REFUND: _refund,
    OrderEventKind.MERGED: _merged,
    OrderEventKind.SPLIT: _split,
    OrderEventKind.AFTERSALE: _aftersale,
}


def describe(event: OrderEvent, user: Any) -> str:
    """The event as one sentence for `user` (personal values masked unless they may see them)."""
    renderer = RENDERERS.get(event.kind)
    if renderer is None:
        return event.message or _choice(OrderEventKind, event.kind)
    return renderer(event, user)


@dataclass(frozen=True)
class TimelineEntry:
    when: dt.datetime
    kind: str
    kind_label: str
    icon: str
    text: str
    actor: str
    via: str


def entries(events: Iterable[OrderEvent], user: Any, *, zone: str = "Asia/Shanghai") -> list[TimelineEntry]:
    """The order's events, newest first, as sentences in the shop's time zone."""
    try:
        tz = zoneinfo.ZoneInfo(zone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        tz = zoneinfo.ZoneInfo("Asia/Shanghai")
    rows = []
    for event in sorted(events, key=lambda item: (item.created_at, item.pk), reverse=True):
        actor = event.actor
        rows.append(
            TimelineEntry(
                when=timezone.localtime(event.created_at, tz),
                kind=event.kind,
                kind_label=_choice(OrderEventKind, event.kind),
                icon=KIND_ICONS.get(event.kind, "history"),
                text=describe(event, user),
                actor=(actor.get_full_name() or actor.get_username()) if actor is not None else _("系统"),
                # an unknown channel code is not shown, nor "系统" twice
                via="" if actor is None and event.via == "system" else str(VIA_LABELS.get(event.via, "")),
            )
        )
    return rows
