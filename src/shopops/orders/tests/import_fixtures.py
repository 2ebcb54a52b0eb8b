"""Small platform export files for the order import tests, written the way each platform writes them."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from typing import Any

from shopops.core.models import AuditEntry
from shopops.inventory.models import Reservation, StockMovement
from shopops.orders.models import Order, OrderEvent, OrderIssue, OrderLine

TAOBAO_HEADER = [
    "订单编号",
    "买家会员名",
    "买家支付宝账号",
    "买家应付货款",
    "买家应付邮费",
    "买家实际支付金额",
    "订单状态",
    "买家留言",
    "收货人姓名",
    "收货地址",
    "联系电话",
    "联系手机",
    "订单创建时间",
    "订单付款时间",
    "宝贝标题",
    "物流单号",
    "物流公司",
    "订单备注",
    "宝贝总数量",
    "店铺名称",
    "神秘新列",
]


def csv_bytes(header: Sequence[str], rows: Sequence[Sequence[Any]], *, encoding: str = "utf-8") -> bytes:
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows(rows)
    return text.getvalue().encode(encoding)


def taobao_row(
    order_id: str,
    *,
    buyer: str = "tb_buyer1",
    goods: str = "100.00元",
    postage: str = "10.00",
    paid: str = "110.00元",
    status: str = "买家已付款，等待卖家发货",
    address: str = "浙江省 杭州市 西湖区 文三路 100号 5幢(310012)",
    mobile: str = "'13800000000-1234",
    created: str = "2016/5/23 22:02",
    paid_at: str = "2016/5/23 22:05",
    title: str = "真丝连衣裙",
    tracking: str = "",
    carrier: str = "",
    quantity: str = "2",
) -> list[str]:
    return [
        f'="{order_id}"',
        buyer,
        "a***@example.com",
        goods,
        postage,
        paid,
        status,
        "",
        "张三",
        address,
        "",
        mobile,
        created,
        paid_at,
        title,
        tracking,
        carrier,
        "",
        quantity,
        "旗舰店",
        "x",
    ]


def counts() -> dict[str, int]:
    """Rows that an import may write: orders and what hangs off them, the ledger and the audit log."""
    return {
        "orders": Order.objects.count(),
        "lines": OrderLine.objects.count(),
        "events": OrderEvent.objects.count(),
        "issues": OrderIssue.objects.count(),
        "movements": StockMovement.objects.count(),
        "reservations": Reservation.objects.count(),
        "audit": AuditEntry.objects.count(),
    }


def problems(result: Any) -> list[tuple[int, str, str]]:
    return [(error.row, error.column, error.message) for error in result.errors]
