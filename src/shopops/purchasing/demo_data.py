"""Reproducible demo purchasing: suppliers with contacts, price agreements, 90 days of purchase orders."""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, TextIO

from django.db.models import Sum
from django.utils import timezone

from shopops.accounts.models import User
from shopops.catalog.demo_data import DEMO_ACTOR
from shopops.catalog.models import Sku
from shopops.inventory import services as inventory_services
from shopops.inventory.demo_data import MAIN_WAREHOUSE, THIRD_PARTY_WAREHOUSE
from shopops.inventory.models import MovementType, StockMovement, Warehouse
from shopops.purchasing import services
from shopops.purchasing.models import (
    PaymentTerms,
    PurchaseOrder,
    PurchaseOrderEvent,
    PurchaseOrderLine,
    PurchaseOrderStatus,
    PurchaseReceipt,
    PurchaseReceiptLine,
    Supplier,
    SupplierPrice,
)

# (code, name, contact, phone, email, lead time in days, minimum amount, terms, category code prefixes)
SUPPLIERS: list[tuple[str, str, str, str, str, int, int, str, list[str]]] = [
    (
        "SUP001",
        "杭州棉语服饰有限公司",
        "陈建华",
        "13957112345",
        "chenjianhua@mianyu-fz.example",
        10,
        2000,
        PaymentTerms.NET_30,
        ["NZ", "NA"],
    ),
    (
        "SUP002",
        "莆田远航鞋业有限公司",
        "林志强",
        "13805942356",
        "linzq@yuanhang-shoes.example",
        14,
        3000,
        PaymentTerms.NET_30,
        ["XX"],
    ),
    (
        "SUP003",
        "上海悦颜化妆品有限公司",
        "赵丽",
        "13681234567",
        "zhaoli@yueyan-cosmetics.example",
        7,
        1500,
        PaymentTerms.PREPAID,
        ["MY"],
    ),
    (
        "SUP004",
        "南通锦绣家纺有限公司",
        "周敏",
        "15962812345",
        "zhoumin@jinxiu-home.example",
        12,
        2000,
        PaymentTerms.NET_60,
        ["JJ"],
    ),
    (
        "SUP005",
        "深圳极客电子科技有限公司",
        "黄俊杰",
        "13510987654",
        "huangjj@geek-tech.example",
        5,
        1000,
        PaymentTerms.ON_DELIVERY,
        ["SM"],
    ),
    (
        "SUP006",
        "临安山里红食品有限公司",
        "吴晓燕",
        "13735812345",
        "wuxiaoyan@shanlihong.example",
        6,
        800,
        PaymentTerms.NET_30,
        ["SP"],
    ),
    ("SUP007", "西湖龙坞茶叶专业合作社", "钱国平", "13905718888", "", 4, 500, PaymentTerms.PREPAID, ["SP"]),
    (
        "SUP008",
        "义乌优选供应链有限公司",
        "孙丽娟",
        "15857912345",
        "sunlijuan@yiwu-youxuan.example",
        3,
        0,
        PaymentTerms.ON_DELIVERY,
        ["JJ", "SM", "NZ", "NA", "MY"],
    ),
]
SECOND_SOURCE = "SUP008"
AGREEMENT_SKUS = 240
# How many purchase orders end in each status, and how many days ago they were placed (oldest, newest).
ORDER_PLAN: list[tuple[str, int, tuple[int, int]]] = [
    (PurchaseOrderStatus.CLOSED, 4, (90, 55)),
    (PurchaseOrderStatus.RECEIVED, 8, (80, 20)),
    (PurchaseOrderStatus.CANCELLED, 3, (70, 5)),
    (PurchaseOrderStatus.PARTIALLY_RECEIVED, 6, (40, 8)),
    (PurchaseOrderStatus.APPROVED, 5, (16, 2)),
    (PurchaseOrderStatus.DRAFT, 4, (3, 0)),
]
BUYER_USERNAME = "operations"
RECEIVER_USERNAME = "warehouse"
CENT = Decimal("0.01")


def is_empty() -> bool:
    return not Supplier.objects.exists() and not PurchaseOrder.objects.exists()


def load(*, seed: int, days: int, stdout: TextIO) -> dict[str, int]:
    """Suppliers and purchase history for the demo warehouses; adds nothing when suppliers exist."""
    if Supplier.objects.exists() or not Warehouse.objects.filter(code=MAIN_WAREHOUSE).exists():
        return {}
    return PurchasingBuilder(seed=seed, days=days).build()


def reset() -> None:
    PurchaseReceiptLine.objects.all().delete()
    PurchaseReceipt.objects.all().delete()
    PurchaseOrderEvent.objects.all().delete()
    PurchaseOrderLine.objects.all().delete()
    PurchaseOrder.objects.all().delete()
    SupplierPrice.objects.all().delete()
    Supplier.objects.all().delete()


@dataclass
class Story:
    """One purchase order's planned life: when each event and receipt happened."""

    order: PurchaseOrder
    placed: dt.datetime
    event_times: list[dt.datetime] = field(default_factory=list)
    receipt_times: list[dt.datetime] = field(default_factory=list)


class PurchasingBuilder:
    """Everything through the purchasing services (stock, ledger and moving-average cost stay consistent);
    afterwards only the document dates are moved back to when the story says they happened."""

    def __init__(self, *, seed: int, days: int) -> None:
        self.random = random.Random(f"purchasing-{seed}")
        self.days = days
        self.now = timezone.now().replace(microsecond=0)
        self.today = timezone.localdate()
        self.buyer: Any = User.objects.filter(username=BUYER_USERNAME).first() or DEMO_ACTOR
        self.receiver: Any = User.objects.filter(username=RECEIVER_USERNAME).first() or DEMO_ACTOR
        self.suppliers: dict[str, Supplier] = {}
        self.assortment: dict[str, list[int]] = {}
        self.stories: list[Story] = []

    def build(self) -> dict[str, int]:
        self.build_suppliers()
        agreements = self.build_agreements()
        self.build_orders()
        self.backdate()
        inventory_services.check_stock_alerts()  # receipts refilled some low SKUs
        return {
            "suppliers": len(self.suppliers),
            "supplier_prices": agreements,
            "purchase_orders": PurchaseOrder.objects.count(),
            "purchase_receipts": PurchaseReceipt.objects.count(),
        }

    def build_suppliers(self) -> None:
        for code, name, contact, phone, email, lead_time, minimum, terms, _prefixes in SUPPLIERS:
            self.suppliers[code] = services.create_supplier(
                code=code,
                name=name,
                contact_name=contact,
                contact_phone=phone,
                contact_email=email,
                lead_time_days=lead_time,
                minimum_order_amount=Decimal(minimum),
                payment_terms=terms,
                actor=self.buyer,
            )

    def best_sellers(self) -> list[tuple[int, str, Decimal]]:
        """The SKUs sold most in the period (ties by id), with their merchant code and cost."""
        since = self.now - dt.timedelta(days=self.days)
        sold = (
            StockMovement.objects.filter(movement_type=MovementType.SALE_OUT, created_at__gte=since)
            .order_by()
            .values("sku_id")
            .annotate(units=Sum("on_hand_delta"))
            .values_list("sku_id", "units")
        )
        ranked = sorted(sold, key=lambda row: (row[1], row[0]))[:AGREEMENT_SKUS]
        skus = {sku.pk: sku for sku in Sku.objects.filter(pk__in=[sku_id for sku_id, _units in ranked])}
        return [(sku_id, skus[sku_id].merchant_code, skus[sku_id].cost_price) for sku_id, _units in ranked]

    def build_agreements(self) -> int:
        """One main supplier price per best seller (below today's cost), some with a dearer second source."""
        valid_from = self.today - dt.timedelta(days=self.days + 30)
        count = 0
        for sku_id, code, cost in sorted(self.best_sellers()):
            sources = [entry[0] for entry in SUPPLIERS if entry[0] != SECOND_SOURCE and code[:2] in entry[8]]
            main = self.random.choice(sources) if sources else None
            offers = [(main, Decimal(self.random.randint(82, 97)) / 100)] if main else []
            if code[:2] in SUPPLIERS[-1][8] and self.random.random() < 0.25:
                offers.append((SECOND_SOURCE, Decimal(self.random.randint(98, 110)) / 100))
            for supplier_code, factor in offers:
                services.create_supplier_price(
                    supplier_id=self.suppliers[supplier_code].pk,
                    sku_id=sku_id,
                    price=max((cost * factor).quantize(CENT, rounding=ROUND_HALF_UP), CENT),
                    valid_from=valid_from,
                    min_quantity=self.random.choice([1, 10, 20, 50]),
                    supplier_sku_code=f"{supplier_code[-3:]}-{code}",
                    actor=self.buyer,
                )
                self.assortment.setdefault(supplier_code, []).append(sku_id)
                count += 1
        return count

    def pick_lines(self, supplier: Supplier) -> list[dict[str, int]]:
        skus = self.assortment[supplier.code]
        chosen = self.random.sample(skus, min(len(skus), self.random.randint(2, 6)))
        prices = dict(
            SupplierPrice.objects.filter(supplier=supplier, sku_id__in=chosen).values_list("sku_id", "price")
        )
        quantities = {sku_id: self.random.randint(2, 20) * 10 for sku_id in sorted(chosen)}
        total = sum(prices[sku_id] * quantity for sku_id, quantity in quantities.items())
        factor = 1
        while total * factor < supplier.minimum_order_amount:
            factor += 1
        return [{"sku_id": sku_id, "quantity": quantity * factor} for sku_id, quantity in quantities.items()]

    def build_orders(self) -> None:
        suppliers = [supplier for code, supplier in sorted(self.suppliers.items()) if code in self.assortment]
        warehouses = dict(Warehouse.objects.values_list("code", "pk"))
        number = 0
        for status, count, (oldest, newest) in ORDER_PLAN:
            for _index in range(count):
                supplier = suppliers[number % len(suppliers)]
                number += 1
                ago = self.random.randint(min(newest, self.days), min(oldest, self.days))
                placed = self.now - dt.timedelta(days=ago, hours=self.random.randint(1, 8))
                warehouse = warehouses.get(
                    THIRD_PARTY_WAREHOUSE if self.random.random() < 0.25 else MAIN_WAREHOUSE,
                    warehouses[MAIN_WAREHOUSE],
                )
                order = services.create_purchase_order(
                    supplier_id=supplier.pk,
                    warehouse_id=warehouse,
                    lines=self.pick_lines(supplier),
                    expected_date=(placed + dt.timedelta(days=supplier.lead_time_days)).date(),
                    note="演示采购单",
                    actor=self.buyer,
                )
                story = Story(order=order, placed=placed, event_times=[placed])
                self.play(story, status, supplier.lead_time_days)
                self.stories.append(story)

    def later(self, story: Story, days: float) -> dt.datetime:
        """A moment `days` after the last event, never in the future."""
        last = story.event_times[-1]
        return min(last + dt.timedelta(days=days, hours=self.random.randint(1, 6)), self.now)

    def play(self, story: Story, status: str, lead_time: int) -> None:
        if status == PurchaseOrderStatus.DRAFT:
            return
        order = story.order
        if status == PurchaseOrderStatus.CANCELLED and self.random.random() < 0.5:
            services.cancel_purchase_order(po_id=order.pk, actor=self.buyer, reason="供应商缺货，取消订单")
            story.event_times.append(self.later(story, 1))
            return
        services.approve_purchase_order(po_id=order.pk, actor=self.buyer)
        story.event_times.append(self.later(story, 0.5))
        if status == PurchaseOrderStatus.CANCELLED:
            services.cancel_purchase_order(po_id=order.pk, actor=self.buyer, reason="改向其他供应商采购")
            story.event_times.append(self.later(story, 2))
        elif status == PurchaseOrderStatus.PARTIALLY_RECEIVED:
            self.receive(story, lead_time, complete=False)
        elif status == PurchaseOrderStatus.RECEIVED:
            self.receive(story, lead_time, complete=True)
        elif status == PurchaseOrderStatus.CLOSED:
            complete = self.random.random() < 0.5
            self.receive(story, lead_time, complete=complete)
            reason = "已全部入库，对账完成" if complete else "供应商无法补齐余量，短缺关闭"
            services.close_purchase_order(po_id=order.pk, actor=self.buyer, reason=reason)
            story.event_times.append(self.later(story, 3))

    def receive(self, story: Story, lead_time: int, *, complete: bool) -> None:
        """One delivery (two for some complete orders), with quality inspection rejecting a few units."""
        lines = list(PurchaseOrderLine.objects.filter(purchase_order=story.order).order_by("pk"))
        deliveries = 2 if complete and self.random.random() < 0.3 else 1
        first = [self.first_delivery(line, full=complete and deliveries == 1) for line in lines]
        self.deliver(story, first, lead_time)
        if deliveries == 2:
            rest = [
                {"line_id": line.pk, "received": remaining, "accepted": remaining, "rejected": 0}
                for line, delivered in zip(lines, first, strict=True)
                if (remaining := line.quantity - delivered["accepted"]) > 0
            ]
            if rest:
                self.deliver(story, rest, 3)

    def first_delivery(self, line: PurchaseOrderLine, *, full: bool) -> dict[str, int]:
        accepted = line.quantity if full else line.quantity * self.random.randint(4, 8) // 10
        rejected = self.random.choice([0, 0, 0, 1, 2, 5]) if accepted else 0
        # a rejected unit of a complete order was replaced in the same delivery
        return {
            "line_id": line.pk,
            "received": accepted + rejected,
            "accepted": accepted,
            "rejected": rejected,
        }

    def deliver(self, story: Story, lines: list[dict[str, int]], days: int) -> None:
        lines = [line for line in lines if line["received"] > 0]
        if not lines:
            return
        services.receive_purchase_order(
            po_id=story.order.pk, lines=lines, actor=self.receiver, note="到货验收"
        )
        moment = self.later(story, days)
        story.event_times.append(moment)
        story.receipt_times.append(moment)

    def backdate(self) -> None:
        """Give the documents the dates of their story (the ledger rows keep the real posting time)."""
        for story in self.stories:
            PurchaseOrder.objects.filter(pk=story.order.pk).update(created_at=story.placed)
            events = PurchaseOrderEvent.objects.filter(purchase_order=story.order).order_by("pk")
            for event, moment in zip(events, story.event_times, strict=False):
                PurchaseOrderEvent.objects.filter(pk=event.pk).update(created_at=moment)
            receipts = PurchaseReceipt.objects.filter(purchase_order=story.order).order_by("pk")
            for receipt, moment in zip(receipts, story.receipt_times, strict=False):
                PurchaseReceipt.objects.filter(pk=receipt.pk).update(received_at=moment)
