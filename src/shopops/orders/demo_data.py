"""Reproducible demo orders: 90 days across every demo shop, landed the way real orders land.

Platform shops get their history as a platform-style export in our template, imported through the same
importer operators use; the own web shop's orders go through `create_order` like API orders. Orders of
the last STOCK_DAYS days are stock-tracked (the shops' `stock_effects_since`), so open orders hold
reservations and shipped ones left the warehouse through the ledger; older orders are history.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import random
import zoneinfo
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, TextIO

from django.db import connection
from django.db.models import Q
from django.utils import timezone

from shopops.catalog.demo_data import DEMO_ACTOR, SHOPS
from shopops.catalog.models import Sku
from shopops.channels.models import Platform, Shop
from shopops.core.tabular import Mode
from shopops.customers.models import Customer, CustomerAccount
from shopops.orders import services
from shopops.orders.imports import import_orders
from shopops.orders.models import Order, OrderEvent, OrderIssue, OrderLine, OrderStatus, SavedFilter
from shopops.orders.services.inputs import LineInput, OrderInput

STOCK_DAYS = 14
CENT = Decimal("0.01")
SHANGHAI = dt.timezone(dt.timedelta(hours=8))

# Mean orders per day by platform (the own web shop and Shopify are small).
DAILY_ORDERS = {
    Platform.TMALL: 5.0,
    Platform.TAOBAO: 3.0,
    Platform.JD: 2.5,
    Platform.PDD: 3.5,
    Platform.DOUYIN: 2.0,
    Platform.OWN: 1.5,
    Platform.SHOPIFY: 1.0,
}
SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈"
)
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰萍红鹏辉晶琳雪慧婷佳欣怡浩宇轩睿"
PLACES: list[tuple[str, str, str, str, str]] = [
    ("浙江省", "杭州市", "西湖区", "文三路", "310012"),
    ("浙江省", "宁波市", "鄞州区", "天童南路", "315100"),
    ("上海市", "上海市", "浦东新区", "张杨路", "200120"),
    ("北京市", "北京市", "朝阳区", "建国路", "100022"),
    ("广东省", "广州市", "天河区", "天河北路", "510620"),
    ("广东省", "深圳市", "南山区", "科技园南路", "518057"),
    ("江苏省", "南京市", "鼓楼区", "中山北路", "210008"),
    ("江苏省", "苏州市", "工业园区", "星湖街", "215021"),
    ("四川省", "成都市", "武侯区", "人民南路", "610041"),
    ("湖北省", "武汉市", "洪山区", "珞喻路", "430074"),
    ("山东省", "青岛市", "市南区", "香港中路", "266071"),
    ("福建省", "厦门市", "思明区", "湖滨南路", "361004"),
    ("陕西省", "西安市", "雁塔区", "小寨东路", "710061"),
    ("湖南省", "长沙市", "岳麓区", "麓山南路", "410083"),
]
# (carrier as platforms write it, tracking number maker)
CARRIERS: list[tuple[str, str]] = [
    ("顺丰速运", "SF{13}"),
    ("中通快递", "75{12}"),
    ("圆通速递", "YT{13}"),
    ("韵达快递", "3{14}"),
    ("极兔速递", "JT{13}"),
]
TEMPLATE_HEADER = [
    "订单号",
    "子订单号",
    "订单状态",
    "订单类型",
    "下单时间",
    "付款时间",
    "发货时间",
    "签收时间",
    "完成时间",
    "取消时间",
    "买家ID",
    "买家昵称",
    "收货人",
    "收货电话",
    "省",
    "市",
    "区县",
    "详细地址",
    "邮编",
    "运费",
    "店铺优惠",
    "平台优惠",
    "实付金额",
    "买家留言",
    "卖家备注",
    "旗帜",
    "关闭原因",
    "物流公司",
    "运单号",
    "商家编码",
    "商品标题",
    "规格",
    "数量",
    "单价",
]


@dataclass
class Buyer:
    buyer_id: str
    nick: str
    name: str
    phone: str
    place: tuple[str, str, str, str, str]
    street_number: int


@dataclass
class PlannedLine:
    sku: Sku
    quantity: int


@dataclass
class PlannedOrder:
    external_id: str
    buyer: Buyer
    placed_at: dt.datetime
    status: str
    lines: list[PlannedLine]
    shipping_fee: Decimal
    shop_discount: Decimal
    platform_discount: Decimal
    paid_at: dt.datetime | None = None
    shipped_at: dt.datetime | None = None
    delivered_at: dt.datetime | None = None
    completed_at: dt.datetime | None = None
    cancelled_at: dt.datetime | None = None
    close_reason: str = ""
    carrier: str = ""
    tracking_number: str = ""
    buyer_message: str = ""
    seller_memo: str = ""
    flag: int = 0
    order_type: str = "normal"
    extras: dict[str, Any] = field(default_factory=dict)

    @property
    def goods_amount(self) -> Decimal:
        return sum((line.sku.sale_price * line.quantity for line in self.lines), Decimal("0.00"))

    @property
    def paid_amount(self) -> Decimal:
        if self.paid_at is None:
            return Decimal("0.00")
        return self.goods_amount + self.shipping_fee - self.shop_discount - self.platform_discount


def is_empty() -> bool:
    return not Order.objects.exists()


def load(*, seed: int, days: int, stdout: TextIO) -> dict[str, int]:
    """Orders for the demo shops; adds nothing when orders exist or the demo catalog is missing."""
    shops = list(Shop.objects.filter(code__in=[code for code, _name, _platform in SHOPS]).order_by("pk"))
    if Order.objects.exists() or not shops or not Sku.objects.exists():
        return {}
    return OrderBuilder(seed=seed, days=days, shops=shops).build()


def reset() -> None:
    OrderIssue.objects.all().delete()
    with connection.cursor() as cursor:
        # the timeline refuses deletes through the ORM where it is append-only; a demo reset is the exception
        cursor.execute(f"DELETE FROM {connection.ops.quote_name(OrderEvent._meta.db_table)}")
    OrderLine.objects.all().delete()
    Order.objects.all().delete()
    SavedFilter.objects.all().delete()
    CustomerAccount.objects.all().delete()
    Customer.objects.all().delete()


def money(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


class OrderBuilder:
    def __init__(self, *, seed: int, days: int, shops: list[Shop]) -> None:
        self.random = random.Random(seed * 7919 + 11)
        self.days = days
        self.shops = shops
        self.now = timezone.now()
        self.skus = list(
            Sku.objects.filter(is_active=True, sale_price__gt=0)
            .filter(~Q(merchant_code=""))
            .select_related("product")
            .order_by("pk")
        )
        self.buyers = [self.make_buyer(number) for number in range(1, 601)]
        self.sequence = 0

    def make_buyer(self, number: int) -> Buyer:
        name = self.random.choice(SURNAMES) + "".join(
            self.random.choices(GIVEN, k=self.random.choice((1, 2)))
        )
        phone = f"1{self.random.choice('3578')}{self.random.randrange(10**9):09d}"
        return Buyer(
            buyer_id=f"buyer{number:05d}",
            nick=f"{name[0]}小{self.random.choice(GIVEN)}{number % 97}",
            name=name,
            phone=phone,
            place=self.random.choice(PLACES),
            street_number=self.random.randrange(1, 999),
        )

    def build(self) -> dict[str, int]:
        since = (self.now - dt.timedelta(days=STOCK_DAYS)).astimezone(SHANGHAI)
        for shop in self.shops:
            shop.settings = {**(shop.settings or {}), "stock_effects_since": since.isoformat()}
            shop.save(update_fields=["settings", "updated_at"])
        counts = {"orders": 0}
        for shop in self.shops:
            planned = self.plan_shop(shop)
            if shop.platform == Platform.OWN:
                for order in planned:
                    services.create_order(
                        actor=DEMO_ACTOR, shop_id=shop.pk, data=self.as_input(order), via="demo"
                    )
            else:
                self.import_file(shop, planned)
            counts["orders"] += len(planned)
        counts["order_lines"] = OrderLine.objects.count()
        counts["order_issues_open"] = OrderIssue.objects.filter(status="open").count()
        return counts

    def plan_shop(self, shop: Shop) -> list[PlannedOrder]:
        mean = DAILY_ORDERS.get(Platform(shop.platform), 3.0)
        planned: list[PlannedOrder] = []
        for age in range(self.days, -1, -1):
            day = (self.now - dt.timedelta(days=age)).astimezone(SHANGHAI).date()
            weekend = 1.3 if day.weekday() >= 5 else 1.0
            count = max(0, round(self.random.gauss(mean * weekend, mean / 3)))
            for _ in range(count):
                placed = dt.datetime.combine(day, dt.time(0, 0), SHANGHAI) + dt.timedelta(
                    minutes=self.random.choice(range(8 * 60, 24 * 60)) + self.random.random()
                )
                if placed >= self.now:
                    continue
                planned.append(self.plan_order(shop, placed))
        self.add_review_cases(shop, planned)
        return planned

    def plan_order(self, shop: Shop, placed: dt.datetime) -> PlannedOrder:
        self.sequence += 1
        prefix = {"jd": "3", "pdd": "2611", "shopify": "#"}.get(shop.platform, "")
        external_id = (
            f"#{1000 + self.sequence}"
            if prefix == "#"
            else f"{prefix}{placed:%y%m%d}{self.sequence:06d}{self.random.randrange(10**6):06d}"
        )
        lines = [
            PlannedLine(sku=sku, quantity=self.random.choice((1, 1, 1, 2, 3)))
            for sku in self.random.sample(self.skus, k=self.random.choice((1, 1, 1, 2, 3)))
        ]
        order = PlannedOrder(
            external_id=external_id,
            buyer=self.random.choice(self.buyers),
            placed_at=placed,
            status=OrderStatus.PENDING_PAYMENT,
            lines=lines,
            shipping_fee=self.random.choice((Decimal("0.00"),) * 4 + (Decimal("6.00"), Decimal("10.00"))),
            shop_discount=Decimal("0.00"),
            platform_discount=Decimal("0.00"),
        )
        goods = order.goods_amount
        if goods > 100 and self.random.random() < 0.5:
            order.shop_discount = Decimal("10.00") if goods < 300 else Decimal("30.00")
        if shop.platform in (Platform.TMALL, Platform.TAOBAO, Platform.PDD) and self.random.random() < 0.3:
            order.platform_discount = money(min(goods * Decimal("0.05"), Decimal("20.00")))
        if self.random.random() < 0.08:
            order.buyer_message = self.random.choice(
                ("请尽快发货", "送人的，不要放发票", "周末不在家，请发顺丰")
            )
        self.plan_life(order)
        return order

    def plan_life(self, order: PlannedOrder) -> None:
        age_hours = (self.now - order.placed_at).total_seconds() / 3600
        roll = self.random.random()
        if roll < 0.04 or (age_hours < 0.5 and roll < 0.5):
            if age_hours > 24:
                order.status = OrderStatus.CANCELLED
                order.cancelled_at = order.placed_at + dt.timedelta(hours=24)
                order.close_reason = "买家未付款，超时关闭"
            return
        paid = order.placed_at + dt.timedelta(minutes=self.random.uniform(0.5, 25))
        if paid > self.now:
            return  # placed in the last minutes: not paid yet
        order.paid_at = paid
        order.status = OrderStatus.PAID
        ship_hours = self.random.choice((4, 8, 18, 26, 30, 40, 52, 70))
        shipped = order.paid_at + dt.timedelta(hours=ship_hours + self.random.random())
        if shipped > self.now:
            return
        order.shipped_at = shipped
        order.status = OrderStatus.SHIPPED
        carrier, pattern = self.random.choice(CARRIERS)
        order.carrier = carrier
        digits = int(pattern[pattern.index("{") + 1 : pattern.index("}")])
        order.tracking_number = (
            pattern[: pattern.index("{")] + f"{self.random.randrange(10**digits):0{digits}d}"
        )
        delivered = shipped + dt.timedelta(hours=self.random.uniform(20, 80))
        if delivered > self.now:
            return
        order.delivered_at = delivered
        order.status = OrderStatus.DELIVERED
        completed = delivered + dt.timedelta(days=self.random.choice((1, 2, 3, 7, 10)))
        if completed > self.now:
            return
        order.completed_at = completed
        order.status = OrderStatus.COMPLETED

    def add_review_cases(self, shop: Shop, planned: list[PlannedOrder]) -> None:
        """A few orders the review rules should catch, so the exception queue is not empty."""
        recent = [order for order in planned if order.status == OrderStatus.PAID]
        if len(recent) < 4:
            return
        test_order = recent[-1]
        test_order.buyer_message = "测试订单，请勿发货"
        incomplete = recent[-2]
        incomplete.extras["no_address"] = True
        flagged = recent[-3]
        flagged.seller_memo = "买家要求改地址，已核实"
        flagged.flag = 2

    def receiver(self, order: PlannedOrder) -> dict[str, str]:
        buyer = order.buyer
        province, city, district, street, postcode = buyer.place
        address = "" if order.extras.get("no_address") else f"{street}{buyer.street_number}号"
        return {
            "receiver_name": buyer.name,
            "receiver_phone": buyer.phone,
            "receiver_province": province,
            "receiver_city": city,
            "receiver_district": district,
            "receiver_address": address,
            "receiver_postcode": postcode,
        }

    def as_input(self, order: PlannedOrder) -> OrderInput:
        receiver = self.receiver(order)
        return OrderInput(
            external_id=order.external_id,
            placed_at=order.placed_at,
            status=order.status,
            platform_status=order.status,
            order_type=order.order_type,
            buyer_id=order.buyer.buyer_id,
            buyer_nick=order.buyer.nick,
            receiver_name=receiver["receiver_name"],
            receiver_phone=receiver["receiver_phone"],
            receiver_province=receiver["receiver_province"],
            receiver_city=receiver["receiver_city"],
            receiver_district=receiver["receiver_district"],
            receiver_address=receiver["receiver_address"],
            receiver_postcode=receiver["receiver_postcode"],
            shipping_fee=order.shipping_fee,
            shop_discount=order.shop_discount,
            platform_discount=order.platform_discount,
            paid_amount=order.paid_amount,
            paid_at=order.paid_at,
            shipped_at=order.shipped_at,
            delivered_at=order.delivered_at,
            completed_at=order.completed_at,
            cancelled_at=order.cancelled_at,
            close_reason=order.close_reason,
            buyer_message=order.buyer_message,
            seller_memo=order.seller_memo,
            flag=order.flag,
            carrier_name=order.carrier,
            tracking_number=order.tracking_number,
            lines=[
                LineInput(
                    quantity=line.quantity,
                    unit_price=line.sku.sale_price,
                    merchant_code=line.sku.merchant_code,
                    title=line.sku.product.name,
                    spec=line.sku.spec,
                )
                for line in order.lines
            ],
        )

    def import_file(self, shop: Shop, planned: list[PlannedOrder]) -> None:
        # times as the shop's own export states them: Beijing time on the Chinese platforms; a shop abroad
        # in its zone with the offset, as Shopify's export does (no hour is ambiguous when clocks go back)
        zone = zoneinfo.ZoneInfo(shop.timezone or "Asia/Shanghai")
        pattern = "%Y-%m-%d %H:%M:%S" if zone.key == "Asia/Shanghai" else "%Y-%m-%d %H:%M:%S %z"
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(TEMPLATE_HEADER)
        for order in planned:
            receiver = self.receiver(order)
            for number, line in enumerate(order.lines, start=1):
                writer.writerow(
                    [
                        order.external_id,
                        f"{order.external_id}-{number}",
                        order.status,
                        order.order_type,
                        _time(order.placed_at, zone, pattern),
                        _time(order.paid_at, zone, pattern),
                        _time(order.shipped_at, zone, pattern),
                        _time(order.delivered_at, zone, pattern),
                        _time(order.completed_at, zone, pattern),
                        _time(order.cancelled_at, zone, pattern),
                        order.buyer.buyer_id,
                        order.buyer.nick,
                        receiver["receiver_name"],
                        receiver["receiver_phone"],
                        receiver["receiver_province"],
                        receiver["receiver_city"],
                        receiver["receiver_district"],
                        receiver["receiver_address"],
                        receiver["receiver_postcode"],
                        order.shipping_fee,
                        order.shop_discount,
                        order.platform_discount,
                        order.paid_amount,
                        order.buyer_message,
                        order.seller_memo,
                        order.flag or "",
                        order.close_reason,
                        order.carrier,
                        order.tracking_number,
                        line.sku.merchant_code,
                        line.sku.product.name,
                        line.sku.spec,
                        line.quantity,
                        line.sku.sale_price,
                    ]
                )
        data = io.BytesIO(buffer.getvalue().encode("utf-8-sig"))
        result = import_orders(
            source=data,
            filename=f"demo-{shop.code}.csv",
            actor=DEMO_ACTOR,
            shop=shop.code,
            format="template",
            mode=Mode.SKIP_BAD_ROWS,
        )
        if result.errors:
            first = result.errors[0]
            raise RuntimeError(
                f"demo import of {shop.code} failed: row {first.row} {first.column}: {first.message}"
            )


def _time(value: dt.datetime | None, zone: dt.tzinfo, pattern: str) -> str:
    return "" if value is None else value.astimezone(zone).strftime(pattern)
