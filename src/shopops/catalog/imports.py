"""Products and SKUs from CSV/XLSX with Chinese headers (and back), built on core's import engine.

Why a bulk path beside `services.create_sku` / `update_sku`: those take a row lock, resolve the pricing
policy and write an audit entry per call — several queries per SKU, minutes for 100,000 rows. Here each
chunk of rows costs a handful of queries: existing SKUs and products are loaded by merchant code in
one query, new rows go in with `bulk_create`, changed ones with `bulk_update`. The per-record rules are
the services' own: price guard (`PolicyResolver`/`price_issues`, so a blocking issue is a row error
and a warning is reported), merchant-code generation (`generate_merchant_code`), categories and brands
(`create_category`/`create_brand`, rare enough to go one by one). Audit: ONE `catalog.imported` entry
per file (counts, file name, SHA-256), plus one `sku.updated` / `product.updated` entry per updated
record; created records are covered by the file entry. Price history: one row per created or changed
price, source "import". Unchanged rows write nothing, so importing the same file twice changes nothing.

Matching: the SKU merchant code (商家编码) is the key. Rows are grouped into products by 商品编码, or,
when that column is absent or empty, by 商品名称 + 类目 + 品牌. The first row of a product sets its
fields; later rows may leave them empty, but may not contradict them. A column left out of the file
leaves that field alone; an empty cell clears optional fields (条码, 划线价, 品牌, 描述, 重量) and leaves
required ones (售价, 成本价, 商品名称, 类目) unchanged.

Categories: a path (`女装/连衣裙`, `女装 › 连衣裙`, `女装>连衣裙`) is walked from the top and missing
levels are created with generated codes (C001, C002, …); a single name matches the only category of
that name anywhere (or creates a top-level one); two categories of that name is a row error. Brands
missing by name are created (codes B001, …); an inactive brand is a row error.
"""

from __future__ import annotations

import datetime as dt
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import IO, Any

from django.contrib.contenttypes.models import ContentType
from django.db.models import QuerySet
from django.utils import timezone

from shopops.catalog import queries as catalog_queries
from shopops.catalog import services
from shopops.catalog.models import Brand, Category, PriceHistory, Product, ProductStatus, Sku
from shopops.core import audit, tabular
from shopops.core.models import AuditEntry
from shopops.core.permissions import check_permission
from shopops.core.tabular import Column, ImportResult, TableRow

IMPORT_SOURCE = "import"
IMPORT_REASON = "导入"
BATCH_SIZE = 500
PRICE_KEYS = ("sale_price", "cost_price", "list_price")
STATUS_CHOICES = {
    "在售": ProductStatus.ACTIVE,
    "已归档": ProductStatus.ARCHIVED,
    "归档": ProductStatus.ARCHIVED,
    "active": ProductStatus.ACTIVE,
    "archived": ProductStatus.ARCHIVED,
}
STATUS_LABELS: dict[str, str] = {ProductStatus.ACTIVE: "在售", ProductStatus.ARCHIVED: "已归档"}
SPEC_PAIR_SEPARATORS = re.compile(r"[;；]")
SPEC_NAME_SEPARATORS = re.compile(r"[:：]")


@dataclass(frozen=True)
class Spec:
    attributes: dict[str, str]
    text: str


def parse_spec(text: str) -> Spec:
    """`颜色:黑色;尺码:M` → attributes; text without any `:` is kept as a free-form spec."""
    if not SPEC_NAME_SEPARATORS.search(text):
        return Spec({}, text[:200])
    attributes: dict[str, str] = {}
    for piece in filter(None, (part.strip() for part in SPEC_PAIR_SEPARATORS.split(text))):
        parts = SPEC_NAME_SEPARATORS.split(piece, maxsplit=1)
        if len(parts) != 2 or not parts[0].strip() or not parts[1].strip():
            raise ValueError(f"“{piece}”应写成 名称:值，多个用 ; 分隔，如 颜色:黑色;尺码:M")
        attributes[parts[0].strip()] = parts[1].strip()
    return Spec(attributes, services.spec_from_attributes(attributes)[:200])


def parse_grams(text: str) -> int:
    grams = tabular.parse_int(text)
    if grams < 0:
        raise ValueError("不能为负数")
    return grams


def parse_kilograms(text: str) -> int:
    kilograms = tabular.parse_decimal(text)
    if kilograms < 0:
        raise ValueError("不能为负数")
    return int((kilograms * 1000).to_integral_value(rounding=ROUND_HALF_UP))


COLUMNS: tuple[Column, ...] = (
    Column(
        "product_name",
        "商品名称",
        ("商品标题", "宝贝标题", "标题", "名称", "product name", "product_name"),
        parser=tabular.text_parser(200),
    ),
    Column(
        "product_code",
        "商品编码",
        ("商品货号", "款号", "SPU编码", "商家编码-商品维度", "product code", "product_code"),
        parser=tabular.identifier_parser(64),
    ),
    Column(
        "merchant_code",
        "商家编码",
        (
            "SKU编码",
            "SKU商家编码",
            "商家编码-规格维度",
            "外部系统编号",
            "sku",
            "merchant code",
            "merchant_code",
        ),
        required=True,
        parser=tabular.identifier_parser(64),
    ),
    Column("category", "类目", ("分类", "商品类目", "category"), parser=tabular.text_parser(500)),
    Column("brand", "品牌", ("brand",), parser=tabular.text_parser(60)),
    Column(
        "spec", "规格", ("规格属性", "销售属性", "商品规格", "宝贝规格", "spec", "variant"), parser=parse_spec
    ),
    Column(
        "sale_price",
        "售价",
        ("售价(元)", "销售价", "一口价", "价格", "sale price", "price"),
        parser=tabular.parse_money,
    ),
    Column(
        "cost_price",
        "成本价",
        ("成本价(元)", "成本", "进价", "cost price", "cost"),
        parser=tabular.parse_money,
    ),
    Column(
        "list_price",
        "划线价",
        ("划线价(元)", "原价", "市场价", "吊牌价", "list price", "compare at price"),
        parser=tabular.parse_money,
    ),
    Column(
        "barcode",
        "条码",
        ("条形码", "商品条码", "69码", "barcode", "ean"),
        parser=tabular.identifier_parser(64),
    ),
    Column("weight_grams", "重量(克)", ("重量(g)", "重量", "weight (g)", "weight_grams"), parser=parse_grams),
    Column(
        "weight_kg",
        "重量(kg)",
        ("重量(千克)", "重量(公斤)", "weight (kg)", "weight_kg"),
        parser=parse_kilograms,
    ),
    Column("description", "描述", ("商品描述", "详情", "description"), parser=tabular.parse_text),
    Column("status", "状态", ("商品状态", "status"), parser=tabular.choice_parser(STATUS_CHOICES)),
    Column("is_active", "启用", ("SKU状态", "是否启用", "active", "is_active"), parser=tabular.parse_bool),
)
EXPORT_HEADERS = tuple(column.name for column in COLUMNS if column.key != "weight_kg")
COST_HEADER = "成本价"
PRODUCT_FIELDS = ("product_name", "category", "brand", "description", "status")


@dataclass
class ProductPlan:
    """One product of the file: its record (saved or not yet) and the row that defined it."""

    product: Product
    first_row: int
    values: dict[str, Any]
    before: dict[str, Any] | None = None  # snapshot of an existing product whose fields the file changes
    changes: dict[str, list[Any]] = field(default_factory=dict)
    is_reported: bool = False  # its changes are shown on the first written row of the product


@dataclass
class SkuPlan:
    row: TableRow
    sku: Sku
    group: ProductPlan
    before: dict[str, Any] | None
    price_changes: dict[str, tuple[Decimal | None, Decimal | None]]
    changes: dict[str, list[Any]] = field(default_factory=dict)


class ProductImporter(tabular.RowImporter):
    columns = COLUMNS

    def __init__(self, *, actor: Any, filename: str) -> None:
        self.actor = actor
        self.user = actor if getattr(actor, "is_authenticated", False) else None
        self.filename = filename
        self.resolver = services.PolicyResolver()
        self.seen_codes: dict[str, int] = {}
        self.seen_barcodes: dict[str, int] = {}
        self.groups: dict[tuple[str, ...], ProductPlan] = {}
        self.categories: dict[str, Category] = {}
        self.brands: dict[str, Brand] = {}
        self.created_products = 0
        self.known_products: dict[str, Product] = {}  # existing products of the current chunk, by code
        self.sku_type = ContentType.objects.get_for_model(Sku)
        self.product_type = ContentType.objects.get_for_model(Product)

    def discard_state(self) -> None:
        self.groups.clear()
        self.categories.clear()
        self.brands.clear()
        self.resolver = services.PolicyResolver()

    # Checks that need the whole file so far.

    def _check_repeats(self, row: TableRow) -> None:
        code = row.get("merchant_code")
        if code is None:
            row.add_error("merchant_code", "商家编码不能为空")
            return
        first = self.seen_codes.setdefault(code, row.number)
        if first != row.number:
            row.add_error("merchant_code", f"商家编码“{code}”与第 {first} 行重复")
        barcode = row.get("barcode")
        if barcode is not None:
            first = self.seen_barcodes.setdefault(barcode, row.number)
            if first != row.number:
                row.add_error("barcode", f"条码“{barcode}”与第 {first} 行重复")

    @staticmethod
    def _check_barcodes(rows: list[TableRow]) -> None:
        wanted = {row.get("barcode"): row for row in rows if row.get("barcode") is not None}
        if not wanted:
            return
        owners = Sku.objects.filter(barcode__in=list(wanted)).values_list("barcode", "merchant_code")
        for barcode, owner in owners:
            row = wanted[barcode]
            if owner != row.get("merchant_code"):
                row.add_error("barcode", f"条码“{barcode}”已被 SKU {owner} 使用")

    # Categories and brands.

    def _next_code(self, model: type[Category] | type[Brand], prefix: str) -> str:
        number = model.objects.count() + 1
        while model.objects.filter(code=f"{prefix}{number:03d}").exists():
            number += 1
        return f"{prefix}{number:03d}"

    @staticmethod
    def _category_names(text: str) -> list[str]:
        """Split a path on ›, else on >, else on / — unless the whole text is a category name (T恤/卫衣)."""
        text = text.strip()
        for separator in ("›", ">"):
            if separator in text:
                return [name.strip() for name in text.split(separator) if name.strip()]
        if "/" in text and not Category.objects.filter(name=text).exists():
            return [name.strip() for name in text.split("/") if name.strip()]
        return [text]

    def _category(self, text: str) -> Category | str:
        """The category of a path or leaf name (created when missing), or the reason there is none."""
        if text in self.categories:
            return self.categories[text]
        names = self._category_names(text)
        if not names:
            return "类目不能为空"
        if len(names) == 1:
            matches = list(Category.objects.filter(name=names[0])[:2])
            if len(matches) > 1:
                return f"有多个名为“{names[0]}”的类目，请填写完整路径，如 {matches[0].path}"
            if matches:
                self.categories[text] = matches[0]
                return matches[0]
        parent: Category | None = None
        for name in names:
            found = Category.objects.filter(parent=parent, name=name).first()
            if found is None:
                found = services.create_category(
                    name=name,
                    code=self._next_code(Category, "C"),
                    actor=self.actor,
                    parent_id=parent.pk if parent else None,
                )
            parent = found
            self.resolver.parents[found.pk] = found.parent_id  # so a parent's pricing policy applies
        assert parent is not None
        self.categories[text] = parent
        return parent

    def _brand(self, name: str) -> Brand | str:
        brand = self.brands.get(name)
        if brand is None:
            brand = Brand.objects.filter(name=name).first() or services.create_brand(
                name=name, code=self._next_code(Brand, "B"), actor=self.actor
            )
            self.brands[name] = brand
        if not brand.is_active:
            return f"品牌“{name}”已停用"
        return brand

    # Products.

    @staticmethod
    def _group_key(row: TableRow) -> tuple[str, ...]:
        code = row.get("product_code")
        if code:
            return ("code", code)
        return ("name", row.get("product_name") or "", row.get("category") or "", row.get("brand") or "")

    def _check_same_product(self, row: TableRow, plan: ProductPlan) -> None:
        for key in PRODUCT_FIELDS:
            value = row.get(key)
            if value is not None and plan.values.get(key) is not None and value != plan.values[key]:
                row.add_error(
                    key, f"与第 {plan.first_row} 行（同一商品）不一致：“{value}” ≠ “{plan.values[key]}”"
                )

    def _resolve_product_fields(self, row: TableRow) -> dict[str, Any]:
        """Category and brand records for the row's texts; errors go on the row."""
        resolved: dict[str, Any] = {}
        if row.get("category") is not None:
            category = self._category(row.get("category"))
            if isinstance(category, str):
                row.add_error("category", category)
            resolved["category"] = category
        if row.has("brand"):
            brand = self._brand(row.get("brand")) if row.get("brand") is not None else None
            if isinstance(brand, str):
                row.add_error("brand", brand)
            resolved["brand"] = brand
        return resolved

    def _find_product(
        self, row: TableRow, existing_sku: Sku | None, resolved: dict[str, Any]
    ) -> Product | None:
        code = row.get("product_code")
        if code:
            return self.known_products.get(code)
        if existing_sku is not None:
            return existing_sku.product
        if "category" in resolved and row.get("product_name"):
            return (
                Product.objects.filter(
                    name=row.get("product_name"), category=resolved["category"], brand=resolved.get("brand")
                )
                .order_by("pk")
                .first()
            )
        return None

    def _new_product(self, row: TableRow, resolved: dict[str, Any]) -> Product | None:
        if not row.get("product_name"):
            row.add_error("product_name", "新商品须填写商品名称")
        if "category" not in resolved:
            row.add_error("category", "新商品须填写类目")
        if not row.is_valid:
            return None
        brand = resolved.get("brand")
        code = row.get("product_code") or services.generate_merchant_code(
            category=resolved["category"], brand=brand
        )
        return Product(
            name=row.get("product_name"),
            merchant_code=code,
            category=resolved["category"],
            brand=brand,
            description=row.get("description") or "",
            status=row.get("status") or ProductStatus.ACTIVE,
        )

    @staticmethod
    def _product_changes(product: Product, row: TableRow, resolved: dict[str, Any]) -> None:
        if row.get("product_name"):
            product.name = row.get("product_name")
        if "category" in resolved:
            product.category = resolved["category"]
        if "brand" in resolved:
            product.brand = resolved["brand"]
        if row.has("description"):
            product.description = row.get("description") or ""
        if row.get("status"):
            product.status = row.get("status")

    def _product_plan(self, row: TableRow, existing_sku: Sku | None) -> ProductPlan | None:
        key = self._group_key(row)
        plan = self.groups.get(key)
        if plan is not None:
            self._check_same_product(row, plan)
            return plan if row.is_valid else None
        if key == ("name", "", "", "") and existing_sku is None:
            row.add_error("product_name", "新 SKU 须填写商品名称（或商品编码）")
            return None
        resolved = self._resolve_product_fields(row)
        if not row.is_valid:
            return None
        product = self._find_product(row, existing_sku, resolved)
        if product is None:
            product = self._new_product(row, resolved)
            if product is None:
                return None
            plan = ProductPlan(
                product=product, first_row=row.number, values={k: row.get(k) for k in PRODUCT_FIELDS}
            )
        else:
            before = audit.snapshot(product)
            self._product_changes(product, row, resolved)
            changes = audit.diff(before, audit.snapshot(product))
            plan = ProductPlan(
                product=product,
                first_row=row.number,
                values={k: row.get(k) for k in PRODUCT_FIELDS},
                before=before if changes else None,
                changes=changes,
            )
        self.groups[key] = plan
        return plan

    # SKUs.

    def _sku_values(self, row: TableRow, sku: Sku) -> None:
        spec: Spec | None = row.get("spec")
        if row.has("spec"):
            if spec is None:
                if sku.spec or sku.attributes:
                    sku.spec, sku.attributes = "", {}
            elif spec.attributes:
                if spec.attributes != sku.attributes:
                    sku.attributes, sku.spec = spec.attributes, spec.text
            elif spec.text != sku.spec or sku.attributes:
                sku.spec, sku.attributes = spec.text, {}
        if row.has("barcode"):
            sku.barcode = row.get("barcode")
        if row.has("weight_grams") or row.has("weight_kg"):
            grams = row.get("weight_grams")
            sku.weight_grams = grams if grams is not None else row.get("weight_kg")
        if row.get("is_active") is not None:
            sku.is_active = row.get("is_active")

    def _new_prices(self, row: TableRow, sku: Sku, is_new: bool) -> dict[str, Decimal | None]:
        prices: dict[str, Decimal | None] = {}
        for key in ("sale_price", "cost_price"):
            value = row.get(key)
            if value is None:
                if is_new:
                    row.add_error(key, f"新 SKU 须填写{row.labels.get(key, key)}")
            elif is_new or value != getattr(sku, key):
                prices[key] = value
        if row.has("list_price") and (is_new or row.get("list_price") != sku.list_price):
            prices["list_price"] = row.get("list_price")
        return prices

    def _guard(self, row: TableRow, sku: Sku, prices: dict[str, Decimal | None]) -> None:
        for issue in services.price_issues(self.resolver, sku, prices):
            if issue.blocking:
                row.add_error("sale_price", issue.message)
            else:
                row.add_warning("sale_price", issue.message)

    def _plan_sku(self, row: TableRow, existing: Sku | None) -> SkuPlan | None:
        group = self._product_plan(row, existing)
        if group is None:
            return None
        is_new = existing is None
        sku = existing or Sku(merchant_code=row.get("merchant_code"), attributes={}, spec="")
        before = None if is_new else audit.snapshot(sku)
        sku.product = group.product
        self._sku_values(row, sku)
        prices = self._new_prices(row, sku, is_new)
        if is_new and group.product.status == ProductStatus.ARCHIVED:
            row.add_error("merchant_code", "商品已归档，不能新增 SKU")
        if not row.is_valid:
            return None
        if "sale_price" in prices or "cost_price" in prices:
            self._guard(row, sku, prices)
            if not row.is_valid:
                return None
        price_changes = {key: (None if is_new else getattr(sku, key), value) for key, value in prices.items()}
        for key, value in prices.items():
            setattr(sku, key, value)
        return SkuPlan(row=row, sku=sku, group=group, before=before, price_changes=price_changes)

    # The chunk.

    def process(self, rows: list[TableRow]) -> None:
        for row in rows:
            if row.is_valid:
                self._check_repeats(row)
        valid = [row for row in rows if row.is_valid]
        self._check_barcodes(valid)
        codes = [row.get("merchant_code") for row in valid if row.is_valid]
        existing = {
            sku.merchant_code: sku
            for sku in Sku.objects.filter(merchant_code__in=codes).select_related("product")
        }
        product_codes = {
            row.get("product_code")
            for row in valid
            if row.get("product_code") and self._group_key(row) not in self.groups
        }
        self.known_products = {
            product.merchant_code: product
            for product in Product.objects.filter(merchant_code__in=product_codes)
        }
        plans: list[SkuPlan] = []
        for row in valid:
            if not row.is_valid:
                continue
            row.key = row.get("merchant_code")
            plan = self._plan_sku(row, existing.get(row.key))
            if plan is not None:
                plans.append(plan)
        self._write(plans)

    def _write(self, plans: list[SkuPlan]) -> None:
        now = timezone.now()
        self._write_products(plans, now)
        created: list[SkuPlan] = []
        updated: list[SkuPlan] = []
        for plan in plans:
            plan.sku.product = plan.group.product  # the product has its id now
            if plan.before is None:
                created.append(plan)
                plan.row.action = tabular.Action.CREATED
                plan.row.changes = {}
                continue
            plan.changes = changes = audit.diff(plan.before, audit.snapshot(plan.sku))
            report_group = bool(plan.group.changes) and not plan.group.is_reported
            plan.group.is_reported = plan.group.is_reported or report_group
            plan.row.changes = {**({"product": plan.group.changes} if report_group else {}), **changes}
            plan.row.action = tabular.Action.UPDATED if plan.row.changes else tabular.Action.UNCHANGED
            if changes:
                plan.sku.updated_at = now
                updated.append(plan)
        Sku.objects.bulk_create([plan.sku for plan in created], batch_size=BATCH_SIZE)
        self._write_updates(updated)
        PriceHistory.objects.bulk_create(self._history(created + updated), batch_size=BATCH_SIZE)

    def _write_products(self, plans: list[SkuPlan], now: dt.datetime) -> None:
        groups = list({id(plan.group): plan.group for plan in plans}.values())
        new = [group.product for group in groups if group.product.pk is None]
        Product.objects.bulk_create(new, batch_size=BATCH_SIZE)
        self.created_products += len(new)
        changed = [group for group in groups if group.before is not None]
        if not changed:
            return
        for group in changed:
            group.product.updated_at = now
        Product.objects.bulk_update(
            [group.product for group in changed],
            ["name", "category", "brand", "description", "status", "updated_at"],
            batch_size=BATCH_SIZE,
        )
        AuditEntry.objects.bulk_create(
            self._audit_entry(group.product, self.product_type, "product.updated", group.changes)
            for group in changed
        )
        for group in changed:
            group.before = None  # written once, even when the product's rows span chunks

    def _write_updates(self, updated: list[SkuPlan]) -> None:
        if not updated:
            return
        fields = sorted({name.removesuffix("_id") for plan in updated for name in plan.changes})
        Sku.objects.bulk_update(
            [plan.sku for plan in updated], [*fields, "updated_at"], batch_size=BATCH_SIZE
        )
        AuditEntry.objects.bulk_create(
            (self._audit_entry(plan.sku, self.sku_type, "sku.updated", plan.changes) for plan in updated),
            batch_size=BATCH_SIZE,
        )

    def _history(self, plans: list[SkuPlan]) -> Iterator[PriceHistory]:
        for plan in plans:
            for name, (old, new) in plan.price_changes.items():
                if plan.before is None and new is None:
                    continue
                yield PriceHistory(
                    sku=plan.sku,
                    field=name,
                    old_value=old,
                    new_value=new,
                    reason=IMPORT_REASON,
                    source=IMPORT_SOURCE,
                    actor=self.user,
                )

    def _audit_entry(
        self, instance: Any, content_type: ContentType, action: str, changes: dict[str, Any]
    ) -> AuditEntry:
        return audit.entry(
            actor=self.user or self.actor,
            action=action,
            instance=instance,
            changes=changes,
            reason=f"{IMPORT_REASON} {self.filename}",
            content_type=content_type,
        )

    def finish(self, result: ImportResult) -> None:
        audit.record(
            actor=self.actor,
            action="catalog.imported",
            changes={
                **result.counts(),
                "products_created": self.created_products,
                "filename": result.filename,
                "sha256": result.sha256,
                "mode": result.mode,
            },
            object_repr=result.filename,
            reason=IMPORT_REASON,
        )


def _check_import_permission(actor: Any) -> None:
    if getattr(actor, "is_authenticated", False):
        for permission in ("catalog.add_sku", "catalog.change_sku", "catalog.change_price"):
            check_permission(actor, permission)


def import_products(
    *,
    source: str | os.PathLike[str] | IO[bytes],
    filename: str | None = None,
    actor: Any,
    mode: str = tabular.Mode.ALL_OR_NOTHING,
    dry_run: bool = False,
    file_format: str | None = None,
    progress: tabular.Progress | None = None,
    sheet: str | None = None,
) -> ImportResult:
    """Import products and SKUs; `actor` is a user (who needs add/change SKU and change price) or a
    name such as "cli:root". Refuses the whole file with `tabular.ImportRefused`."""
    _check_import_permission(actor)
    name = filename or (Path(os.fspath(source)).name if isinstance(source, str | os.PathLike) else "upload")
    return tabular.run_import(
        source=source,
        filename=name,
        importer=ProductImporter(actor=actor, filename=name),
        mode=mode,
        dry_run=dry_run,
        file_format=file_format,
        sheet=sheet,
        progress=progress,
    )


def _export_row(sku: Sku) -> tuple[Any, ...]:
    product = sku.product
    return (
        product.name,
        product.merchant_code,
        sku.merchant_code,
        product.category.path or product.category.name,
        product.brand.name if product.brand else None,
        services.spec_from_attributes(sku.attributes) if sku.attributes else (sku.spec or None),
        sku.sale_price,
        sku.cost_price,
        sku.list_price,
        sku.barcode,
        sku.weight_grams,
        product.description or None,
        STATUS_LABELS.get(product.status, product.status),
        "是" if sku.is_active else "否",
    )


def export_products(
    *,
    user: Any,
    destination: str | os.PathLike[str] | IO[bytes],
    file_format: str = "csv",
    queryset: QuerySet[Sku] | None = None,
) -> int:
    """Write SKUs with the import headers, so the file re-imports with zero changes; returns the row count.
    `user` (when a user) needs catalog.view_sku; None means the system (CLI without --user)."""
    if user is not None:
        check_permission(user, "catalog.view_sku")
    skus = (
        (queryset if queryset is not None else Sku.objects.all())
        .select_related("product__category", "product__brand")
        .order_by("product_id", "merchant_code")
    )
    rows: Iterator[tuple[Any, ...]] = (_export_row(sku) for sku in skus.iterator(chunk_size=2000))
    headers = EXPORT_HEADERS
    if user is not None and not catalog_queries.can_view_cost(user):
        # 美工/客服/推广: the file leaves out the 成本价 column (it still re-imports: prices are optional)
        cost = EXPORT_HEADERS.index(COST_HEADER)
        headers = EXPORT_HEADERS[:cost] + EXPORT_HEADERS[cost + 1 :]
        rows = (row[:cost] + row[cost + 1 :] for row in rows)
    return tabular.write_table(
        destination,
        headers=headers,
        rows=rows,
        file_format=file_format,
        sheet_name="商品",
    )


IMPORT_KINDS = {"products": import_products}
EXPORT_KINDS = {"products": export_products}
