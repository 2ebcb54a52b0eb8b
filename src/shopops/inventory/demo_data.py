"""Reproducible demo stock: warehouses, opening stock, sales history, bundles, a transfer, a stocktake."""

from __future__ import annotations

import datetime as dt
import math
import random
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, TextIO

from django.db import connection
from django.utils import timezone

from shopops.accounts.models import User
from shopops.catalog.demo_data import DEMO_ACTOR, SHOPS, demo_catalog_present
from shopops.catalog.models import Sku
from shopops.channels.models import Shop
from shopops.core.models import Alert
from shopops.inventory import services
from shopops.inventory.models import (
    BundleComponent,
    ChannelStockRule,
    Location,
    MovementType,
    Reservation,
    StockLevel,
    StockMovement,
    Stocktake,
    StocktakeLine,
    StocktakeScope,
    StockThreshold,
    Transfer,
    TransferLine,
    UserWarehouseScope,
    Warehouse,
    WarehouseKind,
    WarehouseScopeSetting,
    WriteOffReason,
)
from shopops.inventory.queries import sellable_quantity

# (code, name, kind, address, share of the SKUs it stocks, share of a SKU's sales it ships)
WAREHOUSES: list[tuple[str, str, str, str, float, float]] = [
    ("HZ01", "杭州仓", WarehouseKind.OWN, "浙江省杭州市余杭区仓前街道良睦路1399号3号库", 1.0, 0.6),
    (
        "GZ3PL",
        "广州仓",
        WarehouseKind.THIRD_PARTY,
        "广东省广州市白云区太和镇龙归物流园B区12号（顺丰仓配）",
        0.35,
        0.4,
    ),
    ("SH-STORE", "上海静安门店", WarehouseKind.STORE, "上海市静安区南京西路1266号B1层", 0.08, 0.1),
]
MAIN_WAREHOUSE = "HZ01"
THIRD_PARTY_WAREHOUSE = "GZ3PL"
STORE_WAREHOUSE = "SH-STORE"
MAX_HISTORY_DAYS = 365  # sales history is capped so a long --days stays fast
BUNDLE_COUNT = 3
COUNTER_USERNAME = "warehouse"
APPROVER_USERNAME = "operations"
REFERENCE_TYPE = "demo"
BATCH_SIZE = 2000


@dataclass
class Plan:
    """What one SKU's stock story looks like in one warehouse."""

    sku_id: int
    warehouse_id: int
    rate: float  # units sold per day while selling
    selling_days: range
    final_on_hand: int
    sales: list[tuple[dt.datetime, int]] = field(default_factory=list)


def is_empty() -> bool:
    return not Warehouse.objects.exists() and not StockMovement.objects.exists()


def load(*, seed: int, days: int, stdout: TextIO) -> dict[str, int]:
    """Build the demo stock on the demo catalog; adds nothing when warehouses already exist."""
    if Warehouse.objects.exists() or not demo_catalog_present():
        return {}
    return StockBuilder(seed=seed, days=days).build()


def reset() -> None:
    """Delete every inventory row, the ledger included (demo reset only), and the stock alerts."""
    Alert.objects.filter(kind__startswith="inventory.").delete()
    Reservation.objects.all().delete()
    StocktakeLine.objects.all().delete()
    Stocktake.objects.all().delete()
    TransferLine.objects.all().delete()
    Transfer.objects.all().delete()
    StockThreshold.objects.all().delete()
    BundleComponent.objects.all().delete()
    ChannelStockRule.objects.all().delete()
    with connection.cursor() as cursor:
        # the ledger refuses deletes through the ORM on purpose; a demo reset is the one exception
        cursor.execute(f"DELETE FROM {connection.ops.quote_name(StockMovement._meta.db_table)}")
    StockLevel.objects.all().delete()
    Location.objects.all().delete()
    UserWarehouseScope.objects.all().delete()
    WarehouseScopeSetting.objects.all().delete()
    Warehouse.objects.all().delete()


def poisson(generator: random.Random, mean: float) -> int:
    """A Poisson-distributed count (Knuth), drawn from the seeded generator."""
    limit, count, product = math.exp(-mean), 0, generator.random()
    while product > limit:
        count += 1
        product *= generator.random()
    return count


class StockBuilder:
    """Warehouses and the ledger history in bulk, then the rest through the inventory services."""

    def __init__(self, *, seed: int, days: int) -> None:
        self.random = random.Random(f"inventory-{seed}")
        self.history_days = min(days, MAX_HISTORY_DAYS)
        self.now = timezone.now().replace(microsecond=0)
        self.actor: Any = User.objects.filter(username=COUNTER_USERNAME).first() or DEMO_ACTOR
        self.warehouses: dict[str, Warehouse] = {}
        self.rates: dict[int, float] = {}
        self.plans: list[Plan] = []
        self.bundles: dict[int, dict[int, int]] = {}

    def build(self) -> dict[str, int]:
        self.build_warehouses()
        skus = list(Sku.objects.order_by("merchant_code").values_list("pk", "merchant_code"))
        self.choose_bundles(skus)
        self.plan_stock([sku for sku in skus if sku[0] not in self.bundles])
        movements = self.write_history()
        self.build_bundles()
        self.build_safety_stock()
        self.build_transfers()
        self.build_write_off()
        self.build_stocktake()
        self.build_reservations()
        self.build_channel_rules()
        alerts = self.build_thresholds()
        return {
            "warehouses": len(self.warehouses),
            "stock_levels": StockLevel.objects.count(),
            "stock_movements": StockMovement.objects.count(),
            "sales_history_rows": movements,
            "bundles": len(self.bundles),
            "stock_alerts": alerts,
        }

    def build_warehouses(self) -> None:
        for code, name, kind, address, _share, _sales in WAREHOUSES:
            self.warehouses[code] = services.create_warehouse(
                code=code, name=name, kind=kind, address=address, actor=DEMO_ACTOR
            )

    def choose_bundles(self, skus: list[tuple[int, str]]) -> None:
        """A few SKUs become bundles (套装) of two or three SKUs of the same top category."""
        by_prefix: dict[str, list[int]] = defaultdict(list)
        for sku_id, code in skus:
            by_prefix[code[:2]].append(sku_id)
        for sku_id, code in self.random.sample(skus, BUNDLE_COUNT):
            candidates = [
                other for other in by_prefix[code[:2]] if other != sku_id and other not in self.bundles
            ]
            picked = self.random.sample(candidates, self.random.randint(2, 3))
            self.bundles[sku_id] = {component: self.random.randint(1, 2) for component in picked}
        components = {component for parts in self.bundles.values() for component in parts}
        for sku_id in list(self.bundles):
            if sku_id in components:  # a component may not be a bundle itself
                del self.bundles[sku_id]

    def sku_rate(self) -> tuple[float, range]:
        """Units per day and the days on which a SKU sells: some never sell, some stopped selling."""
        days = self.history_days
        roll = self.random.random()
        if roll < 0.12:
            return 0.0, range(0)
        rate = min(self.random.lognormvariate(-0.6, 1.0), 12.0)
        if roll < 0.22:
            return rate, range(max(days // 3, 1))
        return rate, range(days)

    def final_quantity(self, rate: float, selling_days: range) -> int:
        """Stock left today: mostly 15–60 days of cover, some low or out, some overstocked."""
        if rate == 0 or selling_days.stop < self.history_days:
            return self.random.randint(5, 80)
        roll = self.random.random()
        if roll < 0.1:
            cover = self.random.uniform(0, 5)
        elif roll < 0.2:
            cover = self.random.uniform(150, 300)
        else:
            cover = self.random.uniform(15, 60)
        return round(rate * cover)

    def plan_stock(self, skus: list[tuple[int, str]]) -> None:
        for sku_id, _code in skus:
            rate, selling_days = self.sku_rate()
            self.rates[sku_id] = rate
            for code, _name, _kind, _address, share, sales_share in WAREHOUSES:
                if code != MAIN_WAREHOUSE and self.random.random() >= share:
                    continue
                local_rate = rate * sales_share
                self.plans.append(
                    Plan(
                        sku_id=sku_id,
                        warehouse_id=self.warehouses[code].pk,
                        rate=local_rate,
                        selling_days=selling_days,
                        final_on_hand=self.final_quantity(local_rate, selling_days),
                    )
                )

    def sales_of(self, plan: Plan, start: dt.datetime) -> None:
        for day in plan.selling_days:
            quantity = poisson(self.random, plan.rate)
            if quantity:
                at = start + dt.timedelta(days=day, minutes=self.random.randint(9 * 60, 23 * 60 - 1))
                plan.sales.append((min(at, self.now - dt.timedelta(minutes=5)), quantity))

    def write_history(self) -> int:
        """Opening stock (期初) at the start, then daily sales (销售出库), as ledger rows in time order.

        Each level's rows chain exactly (on hand after = previous after + delta) and the level ends at
        the sum of its rows, so `shopops stock verify` finds no drift.
        """
        start = self.now - dt.timedelta(days=self.history_days)
        rows: list[tuple[dt.datetime, int, int, str, int]] = []
        for plan in self.plans:
            self.sales_of(plan, start)
            sold = sum(quantity for _at, quantity in plan.sales)
            opening = sold + plan.final_on_hand
            if opening:
                rows.append((start, plan.sku_id, plan.warehouse_id, MovementType.OPENING, opening))
            rows.extend(
                (at, plan.sku_id, plan.warehouse_id, MovementType.SALE_OUT, -quantity)
                for at, quantity in plan.sales
            )
        rows.sort(key=lambda row: (row[0], row[1], row[2]))
        levels: dict[tuple[int, int], int] = defaultdict(int)
        movements = []
        for at, sku_id, warehouse_id, movement_type, delta in rows:
            levels[(sku_id, warehouse_id)] += delta
            movements.append(
                StockMovement(
                    sku_id=sku_id,
                    warehouse_id=warehouse_id,
                    movement_type=movement_type,
                    on_hand_delta=delta,
                    on_hand_after=levels[(sku_id, warehouse_id)],
                    reserved_after=0,
                    reference_type=REFERENCE_TYPE,
                    reference_id="opening"
                    if movement_type == MovementType.OPENING
                    else at.strftime("%Y%m%d"),
                    created_at=at,
                    note="演示期初库存" if movement_type == MovementType.OPENING else "演示销售出库",
                )
            )
        StockLevel.objects.bulk_create(
            [
                StockLevel(sku_id=plan.sku_id, warehouse_id=plan.warehouse_id, on_hand=plan.final_on_hand)
                for plan in self.plans
            ],
            batch_size=BATCH_SIZE,
        )
        StockMovement.objects.bulk_create(movements, batch_size=BATCH_SIZE)
        return len(movements)

    def main_levels(self) -> list[StockLevel]:
        """Levels of the main warehouse, best sellers first (ties by SKU id: reproducible)."""
        levels = list(StockLevel.objects.filter(warehouse=self.warehouses[MAIN_WAREHOUSE]).order_by("sku_id"))
        return sorted(levels, key=lambda level: (-self.rates.get(level.sku_id, 0.0), level.sku_id))

    def build_bundles(self) -> None:
        for bundle_id, components in sorted(self.bundles.items()):
            services.set_bundle_components(bundle_sku_id=bundle_id, components=components, actor=self.actor)

    def build_safety_stock(self) -> None:
        """Safety stock (安全库存) of about three days of sales for the 40 best sellers in the main warehouse."""
        for level in self.main_levels()[:40]:
            wanted = math.ceil(self.rates[level.sku_id] * 0.6 * 3)
            if 0 < wanted <= level.on_hand // 2:
                services.set_safety_stock(
                    sku_id=level.sku_id,
                    warehouse_id=level.warehouse_id,
                    safety_stock=wanted,
                    actor=self.actor,
                )

    def free_main_skus(self, count: int, *, minimum: int, skip: int = 0) -> list[StockLevel]:
        levels = [
            level
            for level in self.main_levels()
            if level.on_hand - level.reserved - level.safety_stock >= minimum
            and level.sku_id not in self.component_ids()
        ]
        return levels[skip : skip + count]

    def component_ids(self) -> set[int]:
        return {component for parts in self.bundles.values() for component in parts}

    def build_transfers(self) -> None:
        """One transfer received earlier (广州仓 → 杭州仓) and one in transit (杭州仓 → 门店)."""
        main, third_party, store = (
            self.warehouses[code] for code in (MAIN_WAREHOUSE, THIRD_PARTY_WAREHOUSE, STORE_WAREHOUSE)
        )
        from_third_party = {
            level.sku_id: max(level.on_hand // 4, 1)
            for level in StockLevel.objects.filter(warehouse=third_party, on_hand__gte=20).order_by("sku_id")[
                :3
            ]
        }
        if from_third_party:
            transfer = services.create_transfer(
                source_id=third_party.pk,
                destination_id=main.pk,
                lines=from_third_party,
                actor=self.actor,
                note="广州仓回调杭州仓",
            )
            services.ship_transfer(transfer_id=transfer.pk, actor=self.actor)
            services.receive_transfer(transfer_id=transfer.pk, quantities=from_third_party, actor=self.actor)
        to_store = {level.sku_id: self.random.randint(3, 8) for level in self.free_main_skus(4, minimum=30)}
        if to_store:
            transfer = services.create_transfer(
                source_id=main.pk, destination_id=store.pk, lines=to_store, actor=self.actor, note="门店补货"
            )
            services.ship_transfer(transfer_id=transfer.pk, actor=self.actor)

    def build_write_off(self) -> None:
        for level in self.free_main_skus(2, minimum=20, skip=4):
            services.write_off_stock(
                sku_id=level.sku_id,
                warehouse_id=level.warehouse_id,
                quantity=self.random.randint(1, 3),
                reason=WriteOffReason.DAMAGED,
                note="外箱压损，商品无法销售",
                actor=self.actor,
            )

    def build_stocktake(self) -> None:
        """A posted cycle count of ten SKUs in 广州仓 with a few gains and losses (盘盈/盘亏)."""
        counter = User.objects.filter(username=COUNTER_USERNAME).first()
        approver = User.objects.filter(username=APPROVER_USERNAME).first()
        warehouse = self.warehouses[THIRD_PARTY_WAREHOUSE]
        levels = list(
            StockLevel.objects.filter(warehouse=warehouse, on_hand__gte=5).exclude(
                sku_id__in=self.component_ids()
            )
        )
        if counter is None or approver is None or not levels:
            return
        chosen = sorted(self.random.sample(levels, min(10, len(levels))), key=lambda level: level.sku_id)
        stocktake = services.start_stocktake(
            warehouse_id=warehouse.pk,
            scope=StocktakeScope.SKUS,
            sku_ids=[level.sku_id for level in chosen],
            actor=counter,
            note="月度循环盘点",
        )
        codes = dict(
            Sku.objects.filter(pk__in=[level.sku_id for level in chosen]).values_list("pk", "merchant_code")
        )
        variances = [0, 0, 0, 0, 0, -1, -2, 1, -1, 2]
        for level, variance in zip(chosen, variances, strict=False):
            services.record_count(
                stocktake_id=stocktake.pk,
                barcode_or_code=codes[level.sku_id],
                quantity=level.on_hand + variance,
                actor=counter,
            )
        services.submit_stocktake(stocktake_id=stocktake.pk, actor=counter)
        services.post_stocktake(stocktake_id=stocktake.pk, actor=approver)

    def build_reservations(self) -> None:
        """Two orders waiting to ship hold stock (预占), one of them a bundle."""
        for number, level in enumerate(self.free_main_skus(2, minimum=10, skip=6), start=1):
            services.reserve_stock(
                sku_id=level.sku_id,
                quantity=self.random.randint(1, 3),
                reference=f"DEMO-{self.now:%Y%m%d}-{number:04d}",
                warehouse_id=level.warehouse_id,
                expires_at=None if number == 1 else self.now + dt.timedelta(days=2),
                actor=self.actor,
            )
        for bundle_id in sorted(self.bundles):
            if sellable_quantity(sku_id=bundle_id) >= 1:
                services.reserve_stock(
                    sku_id=bundle_id, quantity=1, reference=f"DEMO-{self.now:%Y%m%d}-0003", actor=self.actor
                )
                return

    def build_channel_rules(self) -> None:
        """淘宝 may sell at most 60%, 拼多多 keeps a buffer of 2, the own web shop keeps 5 units for itself."""
        shops = dict(
            Shop.objects.filter(code__in=[code for code, _name, _platform in SHOPS]).values_list("code", "pk")
        )
        # (shop, buffer units, quota percent, units kept for the shop)
        for code, buffer_units, quota_percent, reserved_units in (
            ("taobao-store", 0, 60, 0),
            ("pdd-official", 2, 100, 0),
            ("own-web", 0, 100, 5),
        ):
            if code in shops:
                services.set_channel_stock_rule(
                    shop_id=shops[code],
                    buffer_units=buffer_units,
                    quota_percent=quota_percent,
                    reserved_units=reserved_units,
                    actor=self.actor,
                )

    def build_thresholds(self) -> int:
        """Reorder points (a week of sales) and overstock lines (100 days) on the main warehouse's selling
        SKUs: the best sellers, and some running low or overstocked further down the list, so that
        the 工作台 has low-stock and overstock alerts; then one alert check."""
        selling = [level for level in self.main_levels() if self.rates.get(level.sku_id, 0) > 0.2]

        def cover(level: StockLevel) -> float:
            return level.on_hand / (self.rates[level.sku_id] * 0.6)

        tail = selling[60:]
        chosen = selling[:12]
        chosen += [level for level in tail if cover(level) < 5][:8]
        chosen += [level for level in tail if cover(level) > 150][:6]
        for level in sorted(chosen, key=lambda level: level.sku_id):
            daily = self.rates[level.sku_id] * 0.6
            services.set_stock_threshold(
                sku_id=level.sku_id,
                warehouse_id=level.warehouse_id,
                low_stock_quantity=math.ceil(daily * 7),
                overstock_quantity=max(math.ceil(daily * 100), math.ceil(daily * 7) + 1),
                actor=self.actor,
            )
        for level in selling[12:20]:
            services.set_stock_threshold(sku_id=level.sku_id, low_stock_quantity=10, actor=self.actor)
        return services.check_stock_alerts(now=self.now).raised
