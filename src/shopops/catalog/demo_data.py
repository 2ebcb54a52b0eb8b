"""Reproducible demo data: a Chinese merchant's catalog, shops on every platform, prices and listings."""

from __future__ import annotations

import datetime as dt
import itertools
import os
import random
import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import TextIO

from django.conf import settings
from django.contrib.auth.hashers import make_password
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from shopops.accounts.models import User
from shopops.accounts.roles import ROLES, sync_roles
from shopops.catalog import services as catalog_services
from shopops.catalog.models import (
    Brand,
    Category,
    ChannelListing,
    CodeSequence,
    CodingRule,
    GuardMode,
    ListingEvent,
    ListingStatus,
    PriceField,
    PriceHistory,
    PricingPolicy,
    Product,
    ProductImage,
    PromoPrice,
    ScheduledPriceChange,
    Sku,
)
from shopops.channels.models import Platform, Shop
from shopops.core import audit

PRODUCT_COUNT = 200
CODING_PATTERN = "{category}{brand}-{seq:05d}"
SOURCE = "demo"
DEMO_ACTOR = "demo"
SCOPED_SERVICE_USERNAME = "cs_tmall"

# (name, code, attribute grid kind, price band in yuan, children: (name, code suffix, product nouns))
CATEGORY_TREE: list[tuple[str, str, str, tuple[int, int], list[tuple[str, list[tuple[str, list[str]]]]]]] = [
    (
        "女装",
        "NZ",
        "apparel",
        (79, 459),
        [
            (
                "连衣裙",
                [
                    ("碎花连衣裙", ["法式碎花连衣裙", "雪纺碎花长裙", "收腰碎花裙"]),
                    ("针织连衣裙", ["修身针织连衣裙", "V领针织裙"]),
                ],
            ),
            (
                "T恤",
                [
                    ("短袖T恤", ["纯棉圆领短袖T恤", "宽松印花T恤"]),
                    ("长袖T恤", ["打底长袖T恤", "条纹长袖T恤"]),
                ],
            ),
            ("外套", [("风衣", ["中长款风衣", "双排扣风衣"]), ("羽绒服", ["轻薄羽绒服", "连帽长款羽绒服"])]),
        ],
    ),
    (
        "男装",
        "NA",
        "apparel",
        (69, 599),
        [
            (
                "衬衫",
                [
                    ("商务衬衫", ["免烫商务衬衫", "纯棉长袖衬衫"]),
                    ("休闲衬衫", ["牛津纺休闲衬衫", "亚麻短袖衬衫"]),
                ],
            ),
            (
                "裤装",
                [("休闲裤", ["直筒休闲裤", "束脚运动裤"]), ("牛仔裤", ["修身弹力牛仔裤", "宽松直筒牛仔裤"])],
            ),
            ("卫衣", [("连帽卫衣", ["加绒连帽卫衣", "抽绳连帽卫衣"]), ("圆领卫衣", ["纯色圆领卫衣"])]),
        ],
    ),
    (
        "鞋靴",
        "XX",
        "shoes",
        (99, 699),
        [
            (
                "运动鞋",
                [("跑步鞋", ["轻量缓震跑步鞋", "透气网面跑鞋"]), ("板鞋", ["经典小白鞋", "复古低帮板鞋"])],
            ),
            ("靴子", [("马丁靴", ["英伦风马丁靴"]), ("雪地靴", ["加厚保暖雪地靴"])]),
        ],
    ),
    (
        "美妆",
        "MY",
        "cosmetics",
        (39, 399),
        [
            (
                "护肤",
                [
                    ("面霜", ["保湿修护面霜", "烟酰胺亮肤面霜"]),
                    ("精华", ["玻尿酸补水精华", "抗皱紧致精华"]),
                    ("面膜", ["补水保湿面膜"]),
                ],
            ),
            ("彩妆", [("口红", ["丝绒哑光口红", "水润唇釉"]), ("粉底液", ["持妆遮瑕粉底液"])]),
        ],
    ),
    (
        "家居",
        "JJ",
        "home",
        (29, 499),
        [
            ("床品", [("四件套", ["纯棉四件套", "水洗棉四件套"]), ("枕头", ["乳胶枕", "记忆棉枕"])]),
            ("收纳", [("收纳箱", ["可折叠收纳箱", "透明衣物收纳箱"]), ("衣架", ["防滑植绒衣架"])]),
        ],
    ),
    (
        "数码配件",
        "SM",
        "digital",
        (19, 299),
        [
            (
                "手机壳",
                [("硅胶手机壳", ["液态硅胶手机壳"]), ("透明手机壳", ["防摔透明手机壳", "磁吸透明手机壳"])],
            ),
            (
                "充电",
                [
                    ("数据线", ["Type-C快充数据线", "编织充电线"]),
                    ("充电宝", ["20000毫安充电宝", "磁吸无线充电宝"]),
                    ("充电头", ["65W氮化镓充电器"]),
                ],
            ),
            ("耳机", [("蓝牙耳机", ["降噪真无线蓝牙耳机", "运动挂耳蓝牙耳机"])]),
        ],
    ),
    (
        "食品",
        "SP",
        "food",
        (15, 199),
        [
            ("零食", [("坚果", ["每日坚果", "盐焗腰果", "碧根果"]), ("饼干", ["全麦苏打饼干", "黄油曲奇"])]),
            ("茶饮", [("绿茶", ["明前龙井", "碧螺春"]), ("花茶", ["桂花乌龙", "玫瑰花茶"])]),
        ],
    ),
]

# (name, code, top-level category codes it sells in)
BRANDS: list[tuple[str, str, list[str]]] = [
    ("棉语", "MY", ["NZ", "NA", "JJ"]),
    ("山野", "SY", ["NA", "XX"]),
    ("素白", "SB", ["NZ"]),
    ("拾光", "SG", ["NZ", "MY"]),
    ("简屿", "JY", ["NA", "NZ"]),
    ("木槿", "MJ", ["NZ", "MY"]),
    ("青禾", "QH", ["SP"]),
    ("悦己", "YJ", ["MY"]),
    ("初语", "CY", ["NZ"]),
    ("北岸", "BA", ["NA", "XX"]),
    ("小野", "XY", ["XX"]),
    ("南山", "NS", ["SP"]),
    ("良品铺", "LP", ["SP", "JJ"]),
    ("云朵", "YD", ["JJ"]),
    ("极客", "JK", ["SM"]),
    ("声浪", "SL", ["SM"]),
    ("暖居", "NJ", ["JJ"]),
    ("花漾", "HY", ["MY", "NZ"]),
    ("茶语", "CH", ["SP"]),
    ("电小二", "DX", ["SM"]),
]

ATTRIBUTE_GRIDS: dict[str, list[tuple[str, list[str]]]] = {
    "apparel": [
        ("颜色", ["黑色", "白色", "杏色", "藏青", "雾霾蓝", "燕麦色"]),
        ("尺码", ["S", "M", "L", "XL", "XXL"]),
    ],
    "shoes": [
        ("颜色", ["白色", "黑色", "米灰"]),
        ("尺码", ["36", "37", "38", "39", "40", "41", "42", "43", "44"]),
    ],
    "cosmetics": [("规格", ["30ml", "50ml", "100ml"])],
    "home": [("颜色", ["奶白", "浅灰", "豆沙粉", "墨绿"]), ("尺寸", ["1.5m床", "1.8m床"])],
    "digital": [
        ("颜色", ["黑色", "白色", "远峰蓝"]),
        ("适用机型", ["iPhone 15", "iPhone 15 Pro", "华为 Mate 60", "小米 14"]),
    ],
    "food": [("净含量", ["250g", "500g", "1kg"]), ("口味", ["原味", "盐焗", "蜂蜜"])],
}

SHOPS: list[tuple[str, str, str]] = [
    ("tmall-flagship", "棉语天猫旗舰店", Platform.TMALL),
    ("taobao-store", "棉语淘宝店", Platform.TAOBAO),
    ("jd-flagship", "棉语京东旗舰店", Platform.JD),
    ("pdd-official", "棉语拼多多官方店", Platform.PDD),
    ("douyin-live", "棉语抖音小店", Platform.DOUYIN),
    ("own-web", "棉语官网商城", Platform.OWN),
    ("shopify-global", "MIANYU Global", Platform.SHOPIFY),
]
SHOP_CONTACTS = [
    ("王晓明", "13800138001", "浙江省杭州市余杭区仓前街道文一西路998号梦想小镇3幢"),
    ("李娜", "13900139002", "广东省广州市白云区太和镇龙归物流园B区12号"),
    ("张伟", "0571-88886666", "浙江省杭州市滨江区江南大道588号恒鑫大厦"),
]
SCALED_ATTRIBUTES = {
    "规格": [Decimal("1"), Decimal("1.5"), Decimal("2.4")],
    "净含量": [Decimal("1"), Decimal("1.8"), Decimal("3.2")],
}
CENT = Decimal("0.01")


@dataclass
class DemoSummary:
    """What a demo run did; `loaded` is False when the catalog already had data."""

    seed: int
    loaded: bool = False
    counts: dict[str, int] = field(default_factory=dict)
    created_users: list[str] = field(default_factory=list)
    existing_users: list[str] = field(default_factory=list)


def catalog_is_empty() -> bool:
    return not Product.objects.exists() and not Category.objects.exists()


def demo_password_file() -> Path:
    return Path(settings.VAR_DIR) / "demo-login.txt"


def demo_password() -> str:
    """The demo users' password: generated once, kept readable only by the owner in var/."""
    path = demo_password_file()
    if path.exists():
        return path.read_text(encoding="utf-8").strip()
    password = f"demo-{secrets.token_urlsafe(9)}"
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(password + "\n")
    return password


def demo_catalog_present() -> bool:
    """Whether the catalog is the demo's (its shops exist and it has SKUs): other apps' demo data
    builds on it and never on a merchant's real catalog."""
    return (
        Shop.objects.filter(code__in=[code for code, _name, _platform in SHOPS]).exists()
        and Sku.objects.exists()
    )


# The `shopops demo` pipeline (see core/management/commands/demo.py).


def is_empty() -> bool:
    return catalog_is_empty()


def load(*, seed: int, days: int, stdout: TextIO) -> dict[str, int]:
    """Load the demo catalog when it is empty and make the demo users; prints their password once."""
    password = demo_password()
    summary = load_demo(seed=seed, days=days, password=password)
    if summary.created_users:
        stdout.write(f"demo users: {', '.join(summary.created_users)} — password: {password}\n")
    if summary.existing_users:
        stdout.write(f"existing users kept as they were: {', '.join(summary.existing_users)}\n")
    return summary.counts if summary.loaded else {}


def reset() -> None:
    delete_catalog()


def load_demo(*, seed: int = 42, days: int = 90, reset: bool = False, password: str) -> DemoSummary:
    """Load the demo catalog (or rebuild it with `reset`) and make one user per role; idempotent."""
    summary = DemoSummary(seed=seed)
    with transaction.atomic():
        sync_roles()
        if reset:
            delete_catalog()
        if (
            catalog_is_empty()
            and not Shop.objects.filter(code__in=[code for code, _name, _platform in SHOPS]).exists()
        ):
            builder = DemoBuilder(seed=seed, days=days)
            summary.counts = builder.build()
            summary.loaded = True
            audit.record(
                actor=DEMO_ACTOR, action="demo.loaded", changes={"seed": seed, "counts": summary.counts}
            )
        make_users(password=password, summary=summary)
    return summary


def delete_catalog() -> None:
    """Remove every catalog row and the demo shops (the demo users stay: the audit refers to them)."""
    for model in (
        PromoPrice,
        ScheduledPriceChange,
        PriceHistory,
        ListingEvent,
        ChannelListing,
        ProductImage,
        Sku,
        Product,
    ):
        model.objects.all().delete()
    PricingPolicy.objects.all().delete()
    CodingRule.objects.all().delete()
    CodeSequence.objects.all().delete()
    depth = Category.objects.aggregate(deepest=Max("depth"))["deepest"] or 0
    for level in range(depth, -1, -1):
        Category.objects.filter(depth=level).delete()
    Brand.objects.all().delete()
    Shop.objects.filter(code__in=[code for code, _name, _platform in SHOPS]).delete()


def make_users(*, password: str, summary: DemoSummary) -> None:
    """One staff user per role, named by the role key, and a 客服 limited to two shops."""
    groups = sync_roles()
    wanted: list[tuple[str, str, list[Shop] | None]] = [(role, role, None) for role in ROLES]
    scoped_shops = list(Shop.objects.filter(code__in=["tmall-flagship", "taobao-store"]))
    wanted.append((SCOPED_SERVICE_USERNAME, "customer_service", scoped_shops))
    hashed = ""  # argon2 is slow on purpose: hash the shared demo password once
    for username, role, shops in wanted:
        user = User.objects.filter(username=username).first()
        if user is not None:
            summary.existing_users.append(username)
        else:
            hashed = hashed or make_password(password)
            user = User.objects.create(username=username, password=hashed, is_staff=True)
            summary.created_users.append(username)
        user.groups.add(groups[role])
        if shops is not None:
            user.has_all_shops = False
            user.save(update_fields=["has_all_shops"])
            user.shop_scope.set(shops)


def money(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def round_yuan(value: Decimal) -> Decimal:
    return money(value.to_integral_value(rounding=ROUND_HALF_UP))


def ean13(number: int) -> str:
    """A valid EAN-13 with the 69 (China) prefix."""
    body = f"69{number:010d}"
    total = sum(int(digit) * (3 if index % 2 else 1) for index, digit in enumerate(body))
    return body + str((10 - total % 10) % 10)


@dataclass
class Leaf:
    category: Category
    kind: str
    band: tuple[int, int]
    nouns: list[str]
    top_code: str


class DemoBuilder:
    """Builds the catalog with bulk inserts; every random choice comes from one seeded generator."""

    def __init__(self, *, seed: int, days: int) -> None:
        self.random = random.Random(seed)
        self.days = days
        self.now = timezone.now().replace(microsecond=0)
        self.sequences: dict[str, int] = {}
        self.barcodes = itertools.count(1)
        self.leaves: list[Leaf] = []
        self.brands: dict[str, Brand] = {}
        self.shops: list[Shop] = []

    def build(self) -> dict[str, int]:
        CodingRule.objects.create(name="默认规则", pattern=CODING_PATTERN, is_active=True)
        self.build_categories()
        self.build_brands()
        self.build_shops()
        planned = self.build_products()
        skus = self.build_skus(planned)
        self.build_price_history(skus)
        products = [product for product, _leaf in planned]
        listings = self.build_listings(products)
        self.build_policies()
        self.build_price_plans(skus)
        CodeSequence.objects.bulk_create(
            CodeSequence(key=key, last_value=value) for key, value in sorted(self.sequences.items())
        )
        return {
            "categories": Category.objects.count(),
            "brands": len(self.brands),
            "shops": len(self.shops),
            "products": len(products),
            "skus": len(skus),
            "listings": listings,
            "price_history": PriceHistory.objects.count(),
        }

    def build_categories(self) -> None:
        for top_index, (top_name, top_code, kind, band, children) in enumerate(CATEGORY_TREE):
            top = Category.objects.create(
                name=top_name, code=top_code, path=top_name, depth=0, sort_order=top_index
            )
            for middle_index, (middle_name, leaves) in enumerate(children, start=1):
                middle = Category.objects.create(
                    parent=top,
                    name=middle_name,
                    code=f"{top_code}{middle_index:02d}",
                    path=f"{top_name} › {middle_name}",
                    depth=1,
                    sort_order=middle_index,
                )
                for leaf_index, (leaf_name, nouns) in enumerate(leaves, start=1):
                    leaf = Category.objects.create(
                        parent=middle,
                        name=leaf_name,
                        code=f"{middle.code}{leaf_index:02d}",
                        path=f"{middle.path} › {leaf_name}",
                        depth=2,
                        sort_order=leaf_index,
                    )
                    self.leaves.append(
                        Leaf(category=leaf, kind=kind, band=band, nouns=nouns, top_code=top_code)
                    )

    def build_brands(self) -> None:
        created = Brand.objects.bulk_create(Brand(name=name, code=code) for name, code, _tops in BRANDS)
        self.brands = {brand.code: brand for brand in created}
        self.brand_tops = {code: tops for _name, code, tops in BRANDS}

    def build_shops(self) -> None:
        shops = []
        for index, (code, name, platform) in enumerate(SHOPS):
            contact_name, contact_phone, address = SHOP_CONTACTS[index % len(SHOP_CONTACTS)]
            shops.append(
                Shop(
                    code=code,
                    name=name,
                    platform=platform,
                    contact_name=contact_name,
                    contact_phone=contact_phone,
                    return_address=address,
                    timezone="America/Los_Angeles" if platform == Platform.SHOPIFY else "Asia/Shanghai",
                )
            )
        self.shops = Shop.objects.bulk_create(shops)

    def next_code(self, category: Category, brand: Brand) -> str:
        prefix = CODING_PATTERN.split("{seq")[0].format(category=category.code, brand=brand.code)
        self.sequences[prefix] = self.sequences.get(prefix, 0) + 1
        return CODING_PATTERN.format(category=category.code, brand=brand.code, seq=self.sequences[prefix])

    def build_products(self) -> list[tuple[Product, Leaf]]:
        products: list[tuple[Product, Leaf]] = []
        names: set[str] = set()
        for index in range(PRODUCT_COUNT):
            leaf = (
                self.leaves[index % len(self.leaves)]
                if index < len(self.leaves)
                else self.random.choice(self.leaves)
            )
            candidates = sorted(code for code, tops in self.brand_tops.items() if leaf.top_code in tops)
            brand = self.brands[self.random.choice(candidates)]
            name = self.product_name(brand, leaf, names)
            product = Product(
                name=name,
                merchant_code=self.next_code(leaf.category, brand),
                category=leaf.category,
                brand=brand,
                description=f"{brand.name}{leaf.category.name}，{self.random.choice(['新品上市', '经典款', '店长推荐', '热销爆款', '限量款'])}。",
            )
            products.append((product, leaf))
        Product.objects.bulk_create([product for product, _leaf in products])
        return products

    def product_name(self, brand: Brand, leaf: Leaf, taken: set[str]) -> str:
        season = ["春季新款", "夏季新款", "秋冬新款", "经典款", "升级款"]
        for _attempt in range(20):
            name = f"{brand.name} {self.random.choice(season)}{self.random.choice(leaf.nouns)}"
            if name not in taken:
                taken.add(name)
                return name
        name = f"{brand.name} {leaf.nouns[0]} {len(taken) + 1}号"
        taken.add(name)
        return name

    def variants(self, kind: str) -> list[dict[str, str]]:
        grid = ATTRIBUTE_GRIDS[kind]
        chosen: list[tuple[str, list[str]]] = []
        for attribute, values in grid:
            if len(grid) == 1:
                count = self.random.randint(1, len(values))
            else:
                count = (
                    self.random.randint(1, min(3, len(values)))
                    if attribute in ("颜色", "口味")
                    else self.random.randint(2, min(4, len(values)))
                )
            start = self.random.randrange(len(values) - count + 1)
            chosen.append((attribute, values[start : start + count]))
        return [
            dict(zip([name for name, _values in chosen], combination, strict=True))
            for combination in itertools.product(*[values for _name, values in chosen])
        ]

    def base_price(self, band: tuple[int, int]) -> Decimal:
        low, high = band
        return Decimal(self.random.randrange(low // 10, high // 10 + 1) * 10 + 9)

    def build_skus(self, products: list[tuple[Product, Leaf]]) -> list[Sku]:
        skus = []
        for product, leaf in products:
            base = self.base_price(leaf.band)
            margin = Decimal(self.random.randint(35, 65)) / 100
            list_factor = Decimal(self.random.choice(["1.3", "1.5", "1.8", "2"]))
            for number, attributes in enumerate(self.variants(leaf.kind), start=1):
                sale = self.scaled(base, attributes)
                cost = money(sale * (1 - margin))
                skus.append(
                    Sku(
                        product=product,
                        merchant_code=f"{product.merchant_code}-{number:02d}",
                        barcode=ean13(next(self.barcodes)),
                        attributes=attributes,
                        spec=";".join(f"{key}:{value}" for key, value in attributes.items()),
                        weight_grams=self.random.randint(80, 1500),
                        cost_price=cost,
                        sale_price=sale,
                        list_price=money((sale * list_factor).to_integral_value() - 1),
                        min_price=money(cost * Decimal("1.05")) if self.random.random() < 0.2 else None,
                    )
                )
        self.make_trouble(skus)
        return Sku.objects.bulk_create(skus)

    def scaled(self, base: Decimal, attributes: dict[str, str]) -> Decimal:
        price = base
        for attribute, factors in SCALED_ATTRIBUTES.items():
            if attribute in attributes:
                values = ATTRIBUTE_GRIDS["cosmetics" if attribute == "规格" else "food"][0][1]
                price = (base * factors[values.index(attributes[attribute])]).to_integral_value() + Decimal(
                    "0.00"
                )
        if attributes.get("尺码") == "XXL":
            price += 10
        return money(price)

    def make_trouble(self, skus: list[Sku]) -> None:
        """A few SKUs priced below cost and a few with a thin margin, so the 工作台 has work to show."""
        for sku in self.random.sample(skus, 6):
            sku.cost_price = money(sku.sale_price * Decimal("1.08"))
            sku.min_price = None
        for sku in self.random.sample(skus, 10):
            if sku.cost_price < sku.sale_price:
                sku.cost_price = money(sku.sale_price * Decimal("0.96"))
                sku.min_price = None

    def build_price_history(self, skus: list[Sku]) -> None:
        """Initial rows for every price, then earlier sale prices for some SKUs, ending at today's value."""
        opened = self.now - dt.timedelta(days=self.days)
        initial: list[PriceHistory] = []
        changes: dict[int, list[PriceHistory]] = {}
        for sku in skus:
            history = list(self.sale_price_story(sku))
            first_sale = history[0] if history else sku.sale_price
            initial.extend(
                [
                    PriceHistory(
                        sku=sku,
                        field=PriceField.SALE,
                        old_value=None,
                        new_value=first_sale,
                        reason="初始价格",
                        source=SOURCE,
                    ),
                    PriceHistory(
                        sku=sku,
                        field=PriceField.COST,
                        old_value=None,
                        new_value=sku.cost_price,
                        reason="初始价格",
                        source=SOURCE,
                    ),
                    PriceHistory(
                        sku=sku,
                        field=PriceField.LIST,
                        old_value=None,
                        new_value=sku.list_price,
                        reason="初始价格",
                        source=SOURCE,
                    ),
                ]
            )
            steps = [*history, sku.sale_price]
            # a SKU's changes happen in the order they were drawn: later steps on later days
            days = sorted(self.random.sample(range(1, self.days), len(steps) - 1))
            for (old, new), day in zip(itertools.pairwise(steps), days, strict=True):
                changes.setdefault(day, []).append(
                    PriceHistory(
                        sku=sku,
                        field=PriceField.SALE,
                        old_value=old,
                        new_value=new,
                        source=SOURCE,
                        reason=self.random.choice(
                            ["大促结束恢复原价", "竞品调价跟进", "成本上涨", "清仓", "新品期结束"]
                        ),
                    )
                )
        PriceHistory.objects.bulk_create(initial)
        PriceHistory.objects.filter(source=SOURCE, old_value__isnull=True).update(created_at=opened)
        for day in sorted(changes):
            rows = PriceHistory.objects.bulk_create(changes[day])
            PriceHistory.objects.filter(pk__in=[row.pk for row in rows]).update(
                created_at=opened + dt.timedelta(days=day)
            )

    def sale_price_story(self, sku: Sku) -> Iterator[Decimal]:
        """Earlier sale prices of a SKU (possibly none), oldest first."""
        if self.random.random() >= 0.25:
            return
        for _step in range(self.random.randint(1, 2)):
            yield money(sku.sale_price * Decimal(self.random.choice(["0.8", "0.9", "1.1", "1.2"])))

    def build_listings(self, products: list[Product]) -> int:
        listings: list[ChannelListing] = []
        stories: list[list[tuple[str, str, str]]] = []
        for product in products:
            shops = self.random.sample(self.shops, self.random.randint(1, 4))
            for shop in shops:
                status, story = self.listing_story()
                listings.append(
                    ChannelListing(
                        product=product,
                        shop=shop,
                        status=status,
                        changed_at=self.now,
                        external_id=str(self.random.randrange(10**11, 10**12))
                        if status != ListingStatus.DRAFT
                        else "",
                        reason=story[-1][2] if story else "",
                    )
                )
                stories.append(story)
        created = ChannelListing.objects.bulk_create(listings)
        events = [
            ListingEvent(listing=listing, from_status=before, to_status=after, reason=reason)
            for listing, story in zip(created, stories, strict=True)
            for before, after, reason in story
        ]
        ListingEvent.objects.bulk_create(events)
        return len(created)

    def listing_story(self) -> tuple[str, list[tuple[str, str, str]]]:
        roll = self.random.random()
        if roll < 0.7:
            return ListingStatus.LISTED, [(ListingStatus.DRAFT, ListingStatus.LISTED, "新品上架")]
        if roll < 0.9:
            return ListingStatus.DELISTED, [
                (ListingStatus.DRAFT, ListingStatus.LISTED, "新品上架"),
                (
                    ListingStatus.LISTED,
                    ListingStatus.DELISTED,
                    self.random.choice(["换季下架", "缺货下架", "平台违规整改"]),
                ),
            ]
        return ListingStatus.DRAFT, []

    def build_price_plans(self, skus: list[Sku]) -> None:
        """Two scheduled price changes and a few shop promotions around today, made through the services."""
        tomorrow = timezone.localtime(self.now).replace(hour=0, minute=0, second=0) + dt.timedelta(days=1)
        # comfortably above every policy's minimum margin even at 85 %, so the price guard lets them pass
        healthy = [sku for sku in skus if sku.sale_price * Decimal("0.85") > sku.cost_price * Decimal("1.5")]
        picked = self.random.sample(healthy, 7)
        catalog_services.schedule_price_change(
            sku_id=picked[0].pk,
            new_price=round_yuan(picked[0].sale_price * Decimal("0.85")),
            starts_at=tomorrow,
            ends_at=tomorrow + dt.timedelta(days=3),
            reason="周末限时折扣",
            actor=DEMO_ACTOR,
        )
        catalog_services.schedule_price_change(
            sku_id=picked[1].pk,
            new_price=round_yuan(picked[1].sale_price * Decimal("1.1")),
            starts_at=tomorrow + dt.timedelta(days=7),
            reason="原料涨价，下周起调价",
            actor=DEMO_ACTOR,
        )
        listed = set(
            ChannelListing.objects.filter(status=ListingStatus.LISTED).values_list("product_id", "shop_id")
        )
        for sku in picked[2:]:
            shop = next((shop for shop in self.shops if (sku.product_id, shop.pk) in listed), self.shops[0])
            catalog_services.create_promo_price(
                sku_id=sku.pk,
                shop_id=shop.pk,
                name=self.random.choice(["618年中大促", "直播间专享价", "新客立减", "会员日特惠"]),
                price=round_yuan(sku.sale_price * Decimal("0.85")),
                starts_at=self.now - dt.timedelta(days=1),
                ends_at=self.now + dt.timedelta(days=self.random.randint(3, 14)),
                actor=DEMO_ACTOR,
            )

    def build_policies(self) -> None:
        digital = Category.objects.get(code="SM")
        PricingPolicy.objects.bulk_create(
            [
                PricingPolicy(
                    category=None,
                    min_margin_percent=Decimal("15.00"),
                    mode=GuardMode.WARN,
                    block_below_cost=True,
                ),
                PricingPolicy(
                    category=digital,
                    min_margin_percent=Decimal("20.00"),
                    mode=GuardMode.BLOCK,
                    block_below_cost=True,
                ),
            ]
        )


def demo_fingerprint() -> list[tuple[str, str, str, str]]:
    """The merchant codes and prices of every SKU, to compare two runs."""
    return [
        (code, str(sale), str(cost), spec)
        for code, sale, cost, spec in Sku.objects.order_by("merchant_code").values_list(
            "merchant_code", "sale_price", "cost_price", "spec"
        )
    ]
