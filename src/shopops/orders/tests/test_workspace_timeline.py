"""The order timeline in plain language: every OrderEventKind has a renderer, each payload the services
write becomes a sentence, and no payload (however odd) shows a dict/list repr or None/True/False."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.utils import translation

from shopops.orders import timeline
from shopops.orders.models import OrderEvent, OrderEventKind

RAW = ("{", "}", "[", "]", "None", "True", "False")
WHEN = dt.datetime(2026, 3, 1, 4, 0, tzinfo=dt.UTC)


class Nobody:
    """A user without core.view_pii."""

    is_active = True
    is_superuser = False

    def has_perm(self, permission: str) -> bool:
        return False


def event(
    kind: str, *, changes: Any = None, message: str = "", from_status: str = "", to_status: str = ""
) -> OrderEvent:
    return OrderEvent(
        kind=kind,
        changes=changes if changes is not None else {},
        message=message,
        from_status=from_status,
        to_status=to_status,
        created_at=WHEN,
        via="admin",
    )


# What the services write (see orders/services/*, fulfillment/services/*, aftersales/services/common.py).
CASES: list[tuple[OrderEvent, str]] = [
    (event(OrderEventKind.CREATED, message="订单创建", to_status="paid"), "订单创建，状态：待发货"),
    (
        event(
            OrderEventKind.CREATED, message="订单创建", to_status="paid", changes={"warnings": ["单价为 0"]}
        ),
        "订单创建，状态：待发货；提醒：单价为 0",
    ),
    (
        event(
            OrderEventKind.IMPORTED,
            message="平台数据更新",
            changes={
                "status": ["paid", "shipped"],
                "refund_status": ["none", "partial"],
                "seller_memo": ["", "加急"],
            },
            from_status="paid",
            to_status="shipped",
        ),
        "平台数据更新：状态：待发货 → 已发货；退款状态：无退款 → 部分退款；卖家备注：（空） → 加急",
    ),
    (
        event(OrderEventKind.IMPORTED, changes={"receiver_phone": ["13800001111", "13900002222"]}),
        "平台数据更新：收货人电话：138****1111 → 139****2222",
    ),
    (
        event(OrderEventKind.STATUS, message="买家要求取消", from_status="paid", to_status="closed"),
        "状态：待发货 → 交易关闭（买家要求取消）",
    ),
    (
        event(
            OrderEventKind.REVIEWED,
            message="异常待处理",
            changes={
                "review_status": ["pending", "exception"],
                "issues": ["incomplete_address", "sku_unmatched"],
            },
        ),
        "审核：异常待处理，发现问题：收货信息不完整、商品未匹配SKU",
    ),
    (
        event(
            OrderEventKind.REVIEWED,
            message="审核通过",
            changes={"review_status": ["exception", "passed"], "issues": []},
        ),
        "审核：审核通过",
    ),
    (
        event(
            OrderEventKind.ISSUE,
            message="incomplete_address：已电话确认",
            changes={
                "issue_id": 7,
                "rule": "incomplete_address",
                "status": "resolved",
                "marks_invalid": False,
            },
        ),
        "审单异常「收货信息不完整」已处理：已电话确认",
    ),
    (
        event(
            OrderEventKind.ISSUE,
            message="test_order：测试单",
            changes={"issue_id": 8, "rule": "test_order", "status": "resolved", "marks_invalid": True},
        ),
        "审单异常「测试订单」已处理，判为无效订单：测试单",
    ),
    (
        event(OrderEventKind.MEMO, changes={"seller_memo": ["", "加急"], "flag": [0, 1]}),
        "卖家备注改为“加急”；旗帜：无旗帜 → 红旗",
    ),
    (
        event(OrderEventKind.MEMO, message="买家要求改地址", changes={"on_hold": [False, True]}),
        "已暂停发货：买家要求改地址",
    ),
    (event(OrderEventKind.MEMO, changes={"on_hold": [True, False]}), "已恢复发货"),
    (
        event(OrderEventKind.STOCK, message="已出库", changes={"stock_state": ["reserved", "deducted"]}),
        "库存：已预占 → 已出库",
    ),
    (
        event(
            OrderEventKind.SHIPMENT,
            message="包裹 SHP12 发出",
            changes={
                "reference": "SHP12",
                "warehouse_id": 3,
                "lines": {"41": 2, "42": 1},
                "carrier": "极兔速递",
                "tracking_number": "JT1234567890123",
            },
            from_status="paid",
            to_status="shipped",
        ),
        "已发货：极兔速递 JT1234567890123，3 件（订单已发货）",
    ),
    (
        event(
            OrderEventKind.SHIPMENT,
            message="包裹 SHP3 发出",
            changes={"reference": "SHP3", "warehouse_id": 1, "lines": {"1": 1}},
        ),
        "已发货，1 件",
    ),
    (event(OrderEventKind.SHIPMENT, message="创建包裹 #5：A×1"), "发货：创建包裹 #5：A×1"),
    (
        event(
            OrderEventKind.REFUND,
            message="退款 30.00 元",
            changes={
                "reference": "R1",
                "amount": "30.00",
                "lines": {"41": [1, "30.00"]},
                "refund_status": ["none", "partial"],
            },
        ),
        "退款 ¥30.00，1 件（退款状态：无退款 → 部分退款）",
    ),
    (
        event(OrderEventKind.MERGED, message="创建包裹 #9：A×1；合并订单 X、Y"),
        "合并发货：创建包裹 #9：A×1；合并订单 X、Y",
    ),
    (event(OrderEventKind.SPLIT, message="创建包裹 #10：B×2"), "拆分发货：创建包裹 #10：B×2"),
    (
        event(
            OrderEventKind.AFTERSALE,
            message="售后 #3（退货退款）：待买家退货，退货运单号 YT123",
            changes={"case_id": 3, "case_status": ["awaiting_return", "awaiting_return"]},
        ),
        "售后：售后 #3（退货退款）：待买家退货，退货运单号 YT123",
    ),
    (
        event(
            OrderEventKind.AFTERSALE,
            message="售后 #3（退货退款）：已同意",
            changes={"case_id": 3, "case_status": ["applied", "approved"]},
        ),
        "售后单 #3：待审核 → 已同意",
    ),
    (
        event(
            OrderEventKind.AFTERSALE,
            message="售后 #4（仅退款）：待审核",
            changes={"case_id": 4, "case_status": ["", "applied"]},
        ),
        "售后单 #4：新建，待审核",
    ),
]

# Payloads that are odd (older releases, hand-written rows): still sentences, never reprs.
ODD: list[OrderEvent] = [
    event(kind, changes=changes)
    for kind in OrderEventKind.values
    for changes in (
        {},
        {"x": None},
        {"lines": None, "amount": None},
        {"stock_state": [None, True]},
        {"flag": [None, False]},
    )
] + [event(OrderEventKind.IMPORTED, changes={"tags": [["a"], {"b": 1}]})]


def test_every_kind_has_a_renderer():
    assert set(OrderEventKind.values) <= set(timeline.RENDERERS)
    assert set(OrderEventKind.values) <= {str(kind) for kind, _case in ((c[0].kind, c) for c in CASES)}


@pytest.mark.django_db
@pytest.mark.parametrize(("stored", "expected"), CASES, ids=[f"{c[0].kind}-{i}" for i, c in enumerate(CASES)])
def test_each_payload_reads_as_a_sentence(stored, expected):
    with translation.override("zh-hans"):
        text = timeline.describe(stored, Nobody())
    assert text == expected
    for raw in RAW:
        assert raw not in text


@pytest.mark.django_db
@pytest.mark.parametrize("stored", ODD, ids=[f"{e.kind}-{i}" for i, e in enumerate(ODD)])
def test_odd_payloads_never_show_reprs(stored):
    for language in ("zh-hans", "en"):
        with translation.override(language):
            text = timeline.describe(stored, Nobody())
        assert text
        for raw in RAW:
            assert raw not in text, (language, text)


@pytest.mark.django_db
def test_english_sentences():
    stock = event(OrderEventKind.STOCK, changes={"stock_state": ["reserved", "deducted"]})
    with translation.override("en"):
        text = timeline.describe(stock, Nobody())
    assert text.startswith("Stock")
    assert "→" in text
    assert not any("\u4e00" <= char <= "\u9fff" for char in text)


def test_entries_are_newest_first_in_the_shops_zone():
    older = event(OrderEventKind.STOCK, changes={"stock_state": ["none", "reserved"]})
    newer = event(OrderEventKind.STATUS, from_status="paid", to_status="shipped")
    newer.created_at = WHEN + dt.timedelta(hours=1)
    older.pk, newer.pk = 1, 2
    rows = timeline.entries([older, newer], Nobody(), zone="America/Los_Angeles")
    assert [row.kind for row in rows] == ["status", "stock"]
    assert rows[0].when.isoformat() == "2026-02-28T21:00:00-08:00"  # 05:00 UTC in Los Angeles
    assert rows[0].actor == "系统"
