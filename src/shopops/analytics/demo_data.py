"""Demo analytics: a year of web-shop traffic that matches the orders, platform traffic reports, ad spend.

Runs after the orders demo. It adds a year of order history (the orders demo covers `--days`), imported
through the order importer like the orders demo's platform files (older than the shops'
`stock_effects_since`, so history moves no stock), plus extra own-shop orders over the whole year (the
recent ones reserve and ship stock through the importer like any import) so the web shop converts
2–4 % of its visitors. Every own-shop order gets the visit it came from (an `order_placed` and a
`payment` event with the order's external id). Events are written as the compacted Parquet the collect
compactor makes; then the pipeline syncs the facts and builds the rollups, so the 数据中心 shows
numbers right after `make run`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
import random
import shutil
import uuid
from collections import defaultdict
from decimal import Decimal
from typing import Any, TextIO

import pyarrow as pa
import pyarrow.parquet as pq
from django.conf import settings
from django.db.models import Count, Sum
from django.utils import timezone

from shopops.analytics.models import AdSpend, TrafficReport
from shopops.analytics.warehouse import facts, rollups, store, tables
from shopops.catalog.demo_data import SHOPS
from shopops.channels.models import Platform, Shop
from shopops.orders.demo_data import SHANGHAI, OrderBuilder, PlannedOrder
from shopops.orders.models import Order

YEAR = 365
# a short demo (tests use --days 7 or 30) gets twice its --days of analytics history instead of a year
FULL_HISTORY_FROM_DAYS = 60
# own web shop: visitors per day (before weekday/season factors) and extra orders per day on top of the
# orders demo's, so that orders ÷ visitors lands near 3 %
VISITORS_PER_DAY = 150
EXTRA_OWN_ORDERS_PER_DAY = 4.0
DEMO_FILE = "demo.parquet"
SOURCES: list[tuple[str, str, float]] = [  # source, medium, weight
    ("direct", "direct", 0.26),
    ("baidu", "organic", 0.18),
    ("wechat", "social", 0.16),
    ("douyin", "social", 0.12),
    ("xiaohongshu", "social", 0.10),
    ("weibo", "social", 0.04),
    ("google", "organic", 0.04),
    ("newsletter", "email", 0.05),
    ("baidu", "cpc", 0.05),
]
CAMPAIGNS = {"newsletter": ["双11预热", "会员日"], "baidu/cpc": ["品牌词", "床品四件套"]}
DEVICES = (("mobile", 0.72), ("desktop", 0.22), ("tablet", 0.05), ("other", 0.01))
AD_CHANNELS = {
    Platform.TMALL: ["直通车", "万相台"],
    Platform.TAOBAO: ["直通车"],
    Platform.JD: ["京东快车"],
    Platform.PDD: ["多多搜索"],
    Platform.DOUYIN: ["巨量千川"],
    Platform.OWN: ["百度推广", "微信广告"],
}
REPORTED_PLATFORMS = (Platform.TAOBAO, Platform.TMALL, Platform.JD, Platform.PDD)


def is_empty() -> bool:
    return not TrafficReport.objects.exists() and not AdSpend.objects.exists()


def reset() -> None:
    TrafficReport.objects.all().delete()
    AdSpend.objects.all().delete()
    root = tables.analytics_dir()
    for path in tables.parquet_files("events"):
        if path.name == DEMO_FILE:
            path.unlink()
    shutil.rmtree(root / "facts", ignore_errors=True)
    shutil.rmtree(store.rollups_dir(root), ignore_errors=True)
    tables.warehouse_path(root).unlink(missing_ok=True)


def load(*, seed: int, days: int, stdout: TextIO) -> dict[str, int]:
    """A year of traffic, history orders, reports and spend; nothing when there is analytics data already
    (or when settings.ANALYTICS_DEMO is False: the other apps' demo tests switch it off to stay fast)."""
    if not getattr(settings, "ANALYTICS_DEMO", True):
        return {}
    shops = list(Shop.objects.filter(code__in=[code for code, _name, _platform in SHOPS]).order_by("pk"))
    own = next((shop for shop in shops if shop.platform == Platform.OWN), None)
    if not is_empty() or own is None or not Order.objects.filter(shop__in=shops).exists():
        return {}
    history = YEAR if days >= FULL_HISTORY_FROM_DAYS else 2 * days
    builder = DemoAnalytics(seed=seed, days=days, shops=shops, own=own, history=history)
    counts = builder.build()
    stdout.write(f"analytics: {counts['events']} events, {counts['history_orders']} history orders\n")
    return counts


class HistoryOrders(OrderBuilder):
    """The orders demo's builder, planning only the days before its window (older than `days`)."""

    def __init__(self, *, seed: int, days: int, shops: list[Shop], oldest: int, extra_own: float) -> None:
        super().__init__(seed=seed + 101, days=oldest, shops=shops)
        self.newest_age = days + 1
        self.extra_own = extra_own
        self.sequence = 500_000  # external ids apart from the orders demo's
        # a year brings new customers too, not only the orders demo's 600 regulars
        self.buyers += [self.make_buyer(number) for number in range(601, 3001)]

    def plan_window(self, shop: Shop, *, newest_age: int, mean: float) -> list[PlannedOrder]:
        planned: list[PlannedOrder] = []
        for age in range(self.days, newest_age - 1, -1):
            day = (self.now - dt.timedelta(days=age)).astimezone(SHANGHAI).date()
            weekend = 1.3 if day.weekday() >= 5 else 1.0
            season = 1.0 + 0.25 * (day.month in (6, 11, 12))
            count = max(0, round(self.random.gauss(mean * weekend * season, mean / 3)))
            for _ in range(count):
                placed = dt.datetime.combine(day, dt.time(0, 0), SHANGHAI) + dt.timedelta(
                    minutes=self.random.choice(range(8 * 60, 24 * 60)) + self.random.random()
                )
                if placed < self.now - dt.timedelta(hours=2):
                    planned.append(self.plan_order(shop, placed))
        return planned

    def build_history(self) -> int:
        from shopops.orders.demo_data import DAILY_ORDERS

        total = 0
        for shop in self.shops:
            mean = DAILY_ORDERS.get(Platform(shop.platform), 3.0)
            planned = self.plan_window(shop, newest_age=self.newest_age, mean=mean)
            if shop.platform == Platform.OWN:
                # the web shop sells more than the orders demo's trickle, over the whole year (the
                # importer reserves and ships stock for the recent ones, as for any imported order)
                planned += self.plan_window(shop, newest_age=1, mean=self.extra_own)
            if planned:
                self.import_file(shop, planned)
            total += len(planned)
        return total


class DemoAnalytics:
    def __init__(self, *, seed: int, days: int, shops: list[Shop], own: Shop, history: int) -> None:
        self.random = random.Random(seed * 6151 + 3)
        self.days = days
        self.history = history
        self.shops = shops
        self.own = own
        self.now = timezone.now()
        self.today = timezone.localdate()
        from shopops.catalog.models import Product

        self.products = list(
            Product.objects.exclude(merchant_code="").order_by("pk").values_list("merchant_code", flat=True)
        ) or ["P1"]
        self.popular = self.products[: max(1, len(self.products) // 3)]
        self.visitors: list[str] = []
        self.event_numbers = itertools.count(1)

    def build(self) -> dict[str, int]:
        history = HistoryOrders(
            seed=self.random.randrange(10**6),
            days=self.days,
            shops=self.shops,
            oldest=self.history,
            extra_own=EXTRA_OWN_ORDERS_PER_DAY,
        ).build_history()
        events = self.write_events()
        reports = self.traffic_reports()
        spend = self.ad_spend()
        from shopops.analytics.pipeline import pipeline_lock

        with pipeline_lock(wait=True):  # a running `shopops analytics loop` waits
            facts.sync(full=True)
            rollups.rebuild()
        return {
            "events": events,
            "history_orders": history,
            "traffic_reports": reports,
            "ad_spend_rows": spend,
        }

    # traffic

    def pick(self, weighted: Any) -> Any:
        roll = self.random.random() * sum(item[-1] for item in weighted)
        for item in weighted:
            roll -= item[-1]
            if roll <= 0:
                return item
        return weighted[-1]

    def visitor(self) -> str:
        if self.visitors and self.random.random() < 0.3:
            return self.random.choice(self.visitors)
        visitor = uuid.UUID(int=self.random.getrandbits(128)).hex
        self.visitors.append(visitor)
        return visitor

    def ip_key(self, visitor: str) -> str:
        # several visitors share an office or carrier NAT
        return hashlib.sha256(f"demo-ip-{int(visitor[:6], 16) % 9000}".encode()).hexdigest()[:32]

    def session(
        self, *, visitor: str, began: dt.datetime, order: tuple[str, Decimal, list[str]] | None = None
    ) -> list[dict[str, Any]]:
        source, medium, _weight = self.pick(SOURCES)
        campaigns = CAMPAIGNS.get(source) or CAMPAIGNS.get(f"{source}/{medium}") or [""]
        campaign = self.random.choice(campaigns)
        device = self.pick(DEVICES)[0]
        ip_key = self.ip_key(visitor)
        steps: list[tuple[str, str]] = [("page_view", "")]
        if order is not None:
            product = order[2][0] if order[2] else self.random.choice(self.popular)
            steps += [("product_view", product), ("add_to_cart", product), ("checkout_start", "")]
        else:
            for _ in range(self.random.choice((0, 0, 1, 1, 2, 3, 4, 6))):
                roll = self.random.random()
                product = self.random.choice(self.popular if roll < 0.6 else self.products)
                if roll < 0.3:
                    steps.append(("page_view", ""))
                elif roll < 0.85:
                    steps.append(("product_view", product))
                elif roll < 0.96:
                    steps.append(("add_to_cart", product))
                else:
                    steps.append(("checkout_start", ""))
        moment = began
        rows = []
        for kind, product in steps:
            rows.append(self.event(kind, moment, visitor, source, medium, campaign, product, device, ip_key))
            moment += dt.timedelta(
                seconds=self.random.choice((8, 20, 45, 90, 150, 400)) + self.random.random()
            )
        if order is not None:
            external_id, amount, _products = order
            for kind in ("order_placed", "payment"):
                row = self.event(kind, moment, visitor, source, medium, campaign, "", device, ip_key)
                row["order_id"] = external_id
                row["amount"] = amount
                row["path"] = "/checkout/done" if kind == "order_placed" else "/pay/return"
                rows.append(row)
                moment += dt.timedelta(seconds=30 + self.random.random() * 60)
        return rows

    def event(
        self,
        kind: str,
        moment: dt.datetime,
        visitor: str,
        source: str,
        medium: str,
        campaign: str,
        product: str,
        device: str,
        ip_key: str,
    ) -> dict[str, Any]:
        path = f"/p/{product}" if product else self.random.choice(("/", "/c/bedding", "/c/towels", "/sale"))
        query = f"?utm_source={source}&utm_medium={medium}" if source not in ("direct",) else ""
        return {
            "event_id": f"demo-{next(self.event_numbers):08x}",
            "type": kind,
            "ts": moment.astimezone(dt.UTC),
            "day": moment.astimezone(SHANGHAI).date(),
            "shop_id": self.own.pk,
            "channel": "own",
            "visitor_id": visitor,
            "session_id": "",
            "path": path,
            "url": f"https://shop.mianyu.example{path}{query}",
            "referrer": "" if source == "direct" else f"https://{source}.example/",
            "source": source,
            "medium": medium,
            "campaign": campaign,
            "product": product,
            "sku": "",
            "order_id": "",
            "amount": None,
            "device": device,
            "ip_key": ip_key,
            "received_at": moment.astimezone(dt.UTC),
        }

    def own_orders(self) -> dict[dt.date, list[tuple[str, dt.datetime, Decimal, list[str]]]]:
        by_day: dict[dt.date, list[tuple[str, dt.datetime, Decimal, list[str]]]] = defaultdict(list)
        products: dict[int, list[str]] = defaultdict(list)
        for order_id, code in Order.objects.filter(shop=self.own).values_list(
            "id", "lines__sku__product__merchant_code"
        ):
            if code:
                products[order_id].append(code)
        for order_id, external_id, placed_at, amount in Order.objects.filter(shop=self.own).values_list(
            "id", "external_id", "placed_at", "goods_amount"
        ):
            by_day[placed_at.astimezone(SHANGHAI).date()].append(
                (external_id, placed_at, amount, products[order_id])
            )
        return by_day

    def write_events(self) -> int:
        orders = self.own_orders()
        total = 0
        first = self.today - dt.timedelta(days=self.history)
        for offset in range(self.history + 1):
            day = first + dt.timedelta(days=offset)
            weekend = 1.25 if day.weekday() >= 5 else 1.0
            season = 1.0 + 0.3 * (day.month in (6, 11, 12))
            growth = 0.8 + 0.4 * offset / self.history
            rows: list[dict[str, Any]] = []
            for external_id, placed_at, amount, products in orders.get(day, []):
                began = placed_at - dt.timedelta(minutes=self.random.uniform(3, 12))
                rows += self.session(
                    visitor=self.visitor(), began=began, order=(external_id, amount, products)
                )
            visitors = max(0, round(self.random.gauss(VISITORS_PER_DAY * weekend * season * growth, 15)))
            midnight = dt.datetime.combine(day, dt.time(0, 0), SHANGHAI)
            for _ in range(visitors):
                began = midnight + dt.timedelta(seconds=self.random.triangular(0, 86399, 75600))
                if began >= self.now:
                    continue
                visitor = self.visitor()
                rows += self.session(visitor=visitor, began=began)
                if self.random.random() < 0.12:  # back later the same day
                    rows += self.session(
                        visitor=visitor, began=began + dt.timedelta(hours=self.random.uniform(1, 5))
                    )
            rows = [row for row in rows if row["ts"] < self.now]
            if not rows:
                continue
            by_day: dict[dt.date, list[dict[str, Any]]] = defaultdict(list)
            for row in rows:
                by_day[row["day"]].append(row)
            for event_day, day_rows in by_day.items():
                path = (
                    tables.dataset_dir("events")
                    / f"day={event_day.isoformat()}"
                    / (DEMO_FILE if event_day == day else f"demo-{day.isoformat()}.parquet")
                )
                path.parent.mkdir(parents=True, exist_ok=True)
                day_rows.sort(key=lambda row: row["ts"])
                pq.write_table(pa.Table.from_pylist(day_rows, schema=tables.EVENTS_SCHEMA), path)
                total += len(day_rows)
        return total

    # platform reports and spend

    def traffic_reports(self) -> int:
        reported = [shop for shop in self.shops if shop.platform in REPORTED_PLATFORMS]
        rows = []
        for shop in reported:
            per_day: dict[dt.date, list[Any]] = defaultdict(lambda: [0, 0, Decimal("0.00")])
            paid = Order.objects.filter(shop=shop, is_valid=True, paid_at__isnull=False).values_list(
                "paid_at", "customer_id", "paid_amount"
            )
            buyers: dict[dt.date, set[Any]] = defaultdict(set)
            for paid_at, customer_id, amount in paid:
                if paid_at is None:
                    continue
                day = paid_at.astimezone(SHANGHAI).date()
                per_day[day][1] += 1
                per_day[day][2] += amount
                buyers[day].add(customer_id)
            for day, (_unused, paid_orders, amount) in sorted(per_day.items()):
                paying = len(buyers[day])
                visitors = max(paying, round(paying / self.random.uniform(0.025, 0.05)))
                rows.append(
                    TrafficReport(
                        shop=shop,
                        day=day,
                        product_code="",
                        visitors=visitors,
                        page_views=round(visitors * self.random.uniform(2.2, 3.6)),
                        add_to_cart_buyers=round(visitors * self.random.uniform(0.06, 0.12)),
                        paying_buyers=paying,
                        paid_orders=paid_orders,
                        paid_amount=amount,
                        bounce_rate=Decimal(str(round(self.random.uniform(0.35, 0.6), 4))),
                        avg_stay_seconds=Decimal(str(round(self.random.uniform(40, 140), 2))),
                    )
                )
        TrafficReport.objects.bulk_create(rows, batch_size=1000)
        return len(rows)

    def ad_spend(self) -> int:
        first = self.today - dt.timedelta(days=self.history)
        revenue = dict(
            Order.objects.filter(is_valid=True, paid_at__isnull=False)
            .values("shop_id")
            .annotate(total=Sum("paid_amount"), n=Count("id"))
            .values_list("shop_id", "total")
        )
        rows = []
        for shop in self.shops:
            channels = AD_CHANNELS.get(Platform(shop.platform), [])
            daily_revenue = Decimal(revenue.get(shop.pk) or 0) / self.history
            for offset in range(self.history + 1):
                day = first + dt.timedelta(days=offset)
                for ad_channel in channels:
                    spend = (daily_revenue * Decimal(str(self.random.uniform(0.04, 0.10)))).quantize(
                        Decimal("0.01")
                    )
                    if spend <= 0:
                        continue
                    clicks = int(spend / Decimal(str(self.random.uniform(0.6, 1.8))))
                    attributed = (spend * Decimal(str(self.random.uniform(1.5, 4.5)))).quantize(
                        Decimal("0.01")
                    )
                    rows.append(
                        AdSpend(
                            shop=shop,
                            day=day,
                            ad_channel=ad_channel,
                            campaign=self.random.choice(("日常推广", "新品推广", "大促冲量"))
                            if offset % 30
                            else "周年庆",
                            spend=spend,
                            impressions=clicks * self.random.randint(20, 60),
                            clicks=clicks,
                            attributed_orders=max(0, int(attributed / 180)),
                            attributed_revenue=attributed,
                        )
                    )
        seen: set[tuple[Any, ...]] = set()
        unique = []
        for row in rows:
            key = (row.shop_id, row.day, row.ad_channel, row.campaign)
            if key not in seen:
                seen.add(key)
                unique.append(row)
        AdSpend.objects.bulk_create(unique, batch_size=1000)
        return len(unique)
