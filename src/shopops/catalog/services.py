"""Catalog and pricing actions: categories, brands, products, SKUs, merchant codes, prices, listings."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import logging
import string
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import ROUND_FLOOR, ROUND_HALF_UP, Decimal
from typing import Any

from django.db import IntegrityError, models, transaction
from django.db.models import F, Q
from django.utils import timezone

from shopops.catalog.models import (
    LISTING_TRANSITIONS,
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
    ProductStatus,
    PromoPrice,
    ScheduledPriceChange,
    ScheduledPriceStatus,
    Sku,
)
from shopops.channels.models import Shop
from shopops.core import audit
from shopops.core.errors import Conflict, DomainError, InvalidInput, NotFound
from shopops.core.money import CENT, format_cny, to_money

logger = logging.getLogger(__name__)

CATEGORY_PATH_SEPARATOR = " › "
DEFAULT_CODING_PATTERN = "{category}{brand}-{seq:05d}"
CODING_PLACEHOLDERS = ("category", "brand", "seq", "yyyy", "mm")
BULK_MODES = ("percent", "amount", "set")
BULK_ROUNDINGS = ("cent", "yuan", "x9")
MAX_CODE_ATTEMPTS = 1000


class PriceGuardError(DomainError):
    """A price guard refusal; `issues` holds the rule breaches found (per SKU in bulk changes)."""

    def __init__(
        self, message: str, *, fields: dict[str, str] | None = None, issues: Iterable[GuardIssue] = ()
    ) -> None:
        super().__init__(message, fields=fields)
        self.issues = tuple(issues)


class PriceGuardBlocked(PriceGuardError, InvalidInput):
    code = "price_guard_blocked"
    status = 422


class PriceGuardWarning(PriceGuardError, Conflict):
    """The change breaks a non-blocking guard rule; repeat it with `acknowledge_warnings=True`."""

    code = "price_guard_warning"
    status = 409


class IllegalListingTransition(Conflict):
    code = "illegal_listing_transition"
    status = 409


class DuplicateMerchantCode(Conflict):
    code = "duplicate_merchant_code"
    status = 409


class DuplicateBarcode(Conflict):
    code = "duplicate_barcode"
    status = 409


@dataclass(frozen=True)
class GuardIssue:
    code: str  # "below_cost" | "below_min_margin" | "below_min_price"
    message: str
    blocking: bool


@dataclass(frozen=True)
class PriceChange:
    sku: Sku
    field: str
    old_value: Decimal | None
    new_value: Decimal | None
    warnings: tuple[GuardIssue, ...] = ()


@dataclass(frozen=True)
class AppliedSummary:
    started: tuple[int, ...] = ()
    finished: tuple[int, ...] = ()
    skipped: tuple[int, ...] = ()  # expired before they could start, or blocked by the price guard when due


@dataclass(frozen=True)
class BulkPriceRow:
    sku_id: int
    merchant_code: str
    name: str
    old_value: Decimal | None
    new_value: Decimal
    issues: tuple[GuardIssue, ...] = ()


@dataclass(frozen=True)
class BulkPriceResult:
    rows: tuple[BulkPriceRow, ...]
    changes: tuple[PriceChange, ...]


# Helpers shared by the services below.


def _user_or_none(actor: Any) -> Any:
    return actor if getattr(actor, "is_authenticated", False) else None


def _required_text(value: str | None, *, field: str, label: str, max_length: int) -> str:
    text = (value or "").strip()
    if not text:
        raise InvalidInput(f"{label}不能为空", fields={field: "必填"})
    if len(text) > max_length:
        raise InvalidInput(
            f"{label}不能超过 {max_length} 个字符", fields={field: f"最多 {max_length} 个字符"}
        )
    return text


def _price(value: Any, *, field: str) -> Decimal:
    amount = to_money(value, field=field)
    if amount < 0:
        raise InvalidInput("价格不能为负数", fields={field: "不能为负数"})
    return amount


def _optional_price(value: Any, *, field: str) -> Decimal | None:
    return None if value is None or value == "" else _price(value, field=field)


def _require_aware(value: dt.datetime, *, field: str) -> dt.datetime:
    if not isinstance(value, dt.datetime) or timezone.is_naive(value):
        raise InvalidInput("时间须带时区", fields={field: "须为带时区的时间"})
    return value


def _save_unique(instance: models.Model, conflict: DomainError) -> None:
    """Save; a unique constraint lost to a concurrent writer becomes `conflict`."""
    try:
        with transaction.atomic():
            instance.save()
    except IntegrityError:
        raise conflict from None


def _locked_sku(sku_id: int) -> Sku:
    sku = Sku.objects.select_for_update(of=("self",)).select_related("product").filter(pk=sku_id).first()
    if sku is None:
        raise NotFound("SKU 不存在", fields={"sku_id": "不存在"})
    return sku


# Categories and brands.


def _category_path(parent: Category | None, name: str) -> str:
    path = f"{parent.path}{CATEGORY_PATH_SEPARATOR}{name}" if parent else name
    if len(path) > 500:
        raise InvalidInput("类目路径超过 500 个字符", fields={"name": "路径过长"})
    return path


def _check_category_unique(
    *, code: str, name: str, parent_id: int | None, exclude_id: int | None = None
) -> None:
    others = Category.objects.exclude(pk=exclude_id) if exclude_id else Category.objects.all()
    if others.filter(code=code).exists():
        raise Conflict(f"类目编码“{code}”已存在", fields={"code": "重复"}, code="duplicate_category_code")
    if others.filter(parent_id=parent_id, name=name).exists():
        raise Conflict(f"同级已有类目“{name}”", fields={"name": "重复"}, code="duplicate_category_name")


def _get_category(category_id: int | None, *, field: str) -> Category:
    category = Category.objects.filter(pk=category_id).first() if category_id is not None else None
    if category is None:
        raise InvalidInput("类目不存在", fields={field: "不存在"})
    return category


def create_category(
    *, name: str, code: str, actor: Any, parent_id: int | None = None, sort_order: int = 0
) -> Category:
    name = _required_text(name, field="name", label="类目名称", max_length=60)
    code = _required_text(code, field="code", label="类目编码", max_length=20)
    with transaction.atomic():
        parent = _get_category(parent_id, field="parent_id") if parent_id is not None else None
        _check_category_unique(code=code, name=name, parent_id=parent_id)
        category = Category(
            parent=parent,
            name=name,
            code=code,
            sort_order=sort_order,
            path=_category_path(parent, name),
            depth=parent.depth + 1 if parent else 0,
        )
        _save_unique(category, Conflict("类目编码或名称重复", code="duplicate_category"))
        audit.record(actor=actor, action="category.created", instance=category, before={})
    return category


def _descendant_ids(category_id: int) -> list[int]:
    children: dict[int | None, list[int]] = {}
    for pk, parent_id in Category.objects.values_list("pk", "parent_id"):
        children.setdefault(parent_id, []).append(pk)
    found: list[int] = []
    frontier = [category_id]
    while frontier:
        current = frontier.pop()
        found.extend(children.get(current, []))
        frontier.extend(children.get(current, []))
    return found


def _refresh_subtree_paths(category: Category) -> None:
    subtree = {node.pk: node for node in Category.objects.filter(pk__in=_descendant_ids(category.pk))}
    subtree[category.pk] = category
    pending = [category]
    while pending:
        node = pending.pop()
        for child in (item for item in subtree.values() if item.parent_id == node.pk):
            child.path = _category_path(node, child.name)
            child.depth = node.depth + 1
            pending.append(child)
    descendants = [node for pk, node in subtree.items() if pk != category.pk]
    Category.objects.bulk_update(descendants, ["path", "depth"])


def update_category(
    *,
    category_id: int,
    actor: Any,
    name: str | None = None,
    code: str | None = None,
    parent_id: int | None = None,
    sort_order: int | None = None,
    move_to_root: bool = False,
) -> Category:
    """Change a category; `parent_id=None` keeps the parent, `move_to_root=True` makes it top-level."""
    with transaction.atomic():
        category = Category.objects.select_for_update().filter(pk=category_id).first()
        if category is None:
            raise NotFound("类目不存在", fields={"category_id": "不存在"})
        before = audit.snapshot(category)
        if name is not None:
            category.name = _required_text(name, field="name", label="类目名称", max_length=60)
        if code is not None:
            category.code = _required_text(code, field="code", label="类目编码", max_length=20)
        if sort_order is not None:
            category.sort_order = sort_order
        if move_to_root:
            category.parent = None
        elif parent_id is not None and parent_id != category.parent_id:
            if parent_id == category.pk or parent_id in _descendant_ids(category.pk):
                raise InvalidInput("不能把类目移到它自己或它的下级之下", fields={"parent_id": "会形成循环"})
            category.parent = _get_category(parent_id, field="parent_id")
        _check_category_unique(
            code=category.code, name=category.name, parent_id=category.parent_id, exclude_id=category.pk
        )
        category.path = _category_path(category.parent, category.name)
        category.depth = category.parent.depth + 1 if category.parent else 0
        _save_unique(category, Conflict("类目编码或名称重复", code="duplicate_category"))
        _refresh_subtree_paths(category)
        after = audit.snapshot(category)
        if audit.diff(before, after):
            audit.record(
                actor=actor, action="category.updated", instance=category, before=before, after=after
            )
    return category


def create_brand(*, name: str, code: str, actor: Any) -> Brand:
    name = _required_text(name, field="name", label="品牌名称", max_length=60)
    code = _required_text(code, field="code", label="品牌编码", max_length=20)
    with transaction.atomic():
        if Brand.objects.filter(name=name).exists():
            raise Conflict(f"品牌“{name}”已存在", fields={"name": "重复"}, code="duplicate_brand")
        if Brand.objects.filter(code=code).exists():
            raise Conflict(f"品牌编码“{code}”已存在", fields={"code": "重复"}, code="duplicate_brand")
        brand = Brand(name=name, code=code)
        _save_unique(brand, Conflict("品牌名称或编码重复", code="duplicate_brand"))
        audit.record(actor=actor, action="brand.created", instance=brand, before={})
    return brand


# Merchant codes.


def _render_code(pattern: str, values: dict[str, Any]) -> tuple[str, str]:
    """Render `pattern`; returns (text before {seq}, whole code)."""
    prefix: str | None = None
    parts: list[str] = []
    for literal, field_name, format_spec, _conversion in string.Formatter().parse(pattern):
        parts.append(literal)
        if field_name is None:
            continue
        if field_name == "seq" and prefix is None:
            prefix = "".join(parts)
        parts.append(format(values[field_name], format_spec or ""))
    code = "".join(parts)
    return (prefix if prefix is not None else code), code


def validate_coding_pattern(pattern: str) -> None:
    """Refuse a pattern with unknown placeholders, bad format specs or not exactly one {seq}."""
    if not pattern or not pattern.strip():
        raise InvalidInput("编码规则不能为空", fields={"pattern": "必填"})
    if len(pattern) > 100:
        raise InvalidInput("编码规则不能超过 100 个字符", fields={"pattern": "最多 100 个字符"})
    try:
        parsed = list(string.Formatter().parse(pattern))
    except ValueError:
        raise InvalidInput("编码规则的花括号不匹配", fields={"pattern": "花括号不匹配"}) from None
    names = [field_name for _, field_name, _, _ in parsed if field_name is not None]
    unknown = [name for name in names if name not in CODING_PLACEHOLDERS]
    if unknown:
        allowed = "、".join(f"{{{name}}}" for name in CODING_PLACEHOLDERS)
        raise InvalidInput(
            f"未知占位符：{'、'.join(unknown) or '{}'}（可用：{allowed}）", fields={"pattern": "含未知占位符"}
        )
    if names.count("seq") != 1:
        raise InvalidInput("编码规则须包含且仅包含一个 {seq} 流水号", fields={"pattern": "须含一个 {seq}"})
    if any(conversion for _, _, _, conversion in parsed):
        raise InvalidInput("编码规则不支持 !r/!s 转换", fields={"pattern": "不支持转换"})
    sample = {"category": "CAT", "brand": "BRD", "seq": 1, "yyyy": "2026", "mm": "01"}
    try:
        _render_code(pattern, sample)
    except (ValueError, TypeError, KeyError, IndexError):
        raise InvalidInput(
            "编码规则中的格式说明无效，如 {seq:05d}", fields={"pattern": "格式说明无效"}
        ) from None


def _sequence_key(prefix: str) -> str:
    max_length = CodeSequence._meta.get_field("key").max_length or 100
    if len(prefix) <= max_length:
        return prefix
    digest = hashlib.sha256(prefix.encode()).hexdigest()[:32]
    return f"{prefix[: max_length - 33]}#{digest}"


def _next_sequence_value(key: str) -> int:
    """Increment the counter of `key` with one UPDATE; concurrent callers queue on its row lock."""
    with transaction.atomic():
        sequence, _created = CodeSequence.objects.get_or_create(key=key)
        CodeSequence.objects.filter(pk=sequence.pk).update(last_value=F("last_value") + 1)
        return CodeSequence.objects.values_list("last_value", flat=True).get(pk=sequence.pk)


def _code_in_use(code: str) -> bool:
    return (
        Product.objects.filter(merchant_code=code).exists() or Sku.objects.filter(merchant_code=code).exists()
    )


def generate_merchant_code(*, category: Category, brand: Brand | None) -> str:
    """The next merchant code from the active coding rule (default `{category}{brand}-{seq:05d}`).

    The sequence counts per rendered prefix (the text before {seq}); values whose code already exists
    (e.g. typed by hand) are skipped.
    """
    rule = CodingRule.objects.filter(is_active=True).first()
    pattern = rule.pattern if rule else DEFAULT_CODING_PATTERN
    validate_coding_pattern(pattern)
    today = timezone.localdate()
    values: dict[str, Any] = {
        "category": category.code,
        "brand": brand.code if brand else "",
        "yyyy": f"{today.year:04d}",
        "mm": f"{today.month:02d}",
        "seq": 0,
    }
    prefix, _code = _render_code(pattern, values)
    key = _sequence_key(prefix)
    for _attempt in range(MAX_CODE_ATTEMPTS):
        values["seq"] = _next_sequence_value(key)
        _prefix, code = _render_code(pattern, values)
        if len(code) > 64:
            raise InvalidInput("生成的商家编码超过 64 个字符", fields={"merchant_code": "过长"})
        if not _code_in_use(code):
            return code
    raise Conflict(
        "无法生成未被占用的商家编码", fields={"merchant_code": "编码已用尽"}, code="merchant_code_exhausted"
    )


# Products.


def _get_brand(brand_id: int | None) -> Brand | None:
    if brand_id is None:
        return None
    brand = Brand.objects.filter(pk=brand_id).first()
    if brand is None:
        raise InvalidInput("品牌不存在", fields={"brand_id": "不存在"})
    if not brand.is_active:
        raise InvalidInput(f"品牌“{brand.name}”已停用", fields={"brand_id": "已停用"})
    return brand


def _product_status(status: str) -> str:
    if status not in ProductStatus.values:
        raise InvalidInput(f"未知商品状态：{status}", fields={"status": "无效"})
    return status


def _product_code(merchant_code: str, *, exclude_id: int | None = None) -> str:
    code = _required_text(merchant_code, field="merchant_code", label="商家编码", max_length=64)
    others = Product.objects.exclude(pk=exclude_id) if exclude_id else Product.objects.all()
    if others.filter(merchant_code=code).exists():
        raise DuplicateMerchantCode(f"商家编码“{code}”已存在", fields={"merchant_code": "重复"})
    return code


def create_product(
    *,
    name: str,
    category_id: int,
    actor: Any,
    brand_id: int | None = None,
    merchant_code: str | None = None,
    description: str = "",
    status: str = "active",
) -> Product:
    name = _required_text(name, field="name", label="商品名称", max_length=200)
    status = _product_status(status)
    with transaction.atomic():
        category = _get_category(category_id, field="category_id")
        brand = _get_brand(brand_id)
        if merchant_code is None or not merchant_code.strip():
            code = generate_merchant_code(category=category, brand=brand)
        else:
            code = _product_code(merchant_code)
        product = Product(
            name=name,
            merchant_code=code,
            category=category,
            brand=brand,
            description=description or "",
            status=status,
        )
        _save_unique(
            product, DuplicateMerchantCode(f"商家编码“{code}”已存在", fields={"merchant_code": "重复"})
        )
        audit.record(actor=actor, action="product.created", instance=product, before={})
    return product


PRODUCT_FIELDS = ("name", "category_id", "brand_id", "description", "status", "merchant_code")


def _apply_product_change(product: Product, name: str, value: Any) -> None:
    if name == "name":
        product.name = _required_text(value, field="name", label="商品名称", max_length=200)
    elif name == "category_id":
        product.category = _get_category(value, field="category_id")
    elif name == "brand_id":
        product.brand = _get_brand(value) if value != product.brand_id else product.brand
    elif name == "description":
        product.description = value or ""
    elif name == "status":
        product.status = _product_status(value)
    elif name == "merchant_code":
        product.merchant_code = _product_code(value, exclude_id=product.pk)


def update_product(*, product_id: int, actor: Any, **changes: Any) -> Product:
    """Change any of name, category_id, brand_id (None clears it), description, status, merchant_code."""
    unknown = sorted(set(changes) - set(PRODUCT_FIELDS))
    if unknown:
        raise InvalidInput(f"不能修改字段：{'、'.join(unknown)}", fields=dict.fromkeys(unknown, "不可修改"))
    with transaction.atomic():
        product = Product.objects.select_for_update().filter(pk=product_id).first()
        if product is None:
            raise NotFound("商品不存在", fields={"product_id": "不存在"})
        before = audit.snapshot(product)
        for name, value in changes.items():
            _apply_product_change(product, name, value)
        after = audit.snapshot(product)
        if audit.diff(before, after):
            conflict = DuplicateMerchantCode("商家编码已存在", fields={"merchant_code": "重复"})
            _save_unique(product, conflict)
            audit.record(actor=actor, action="product.updated", instance=product, before=before, after=after)
    return product


# Price guard.


@dataclass(frozen=True)
class _Policy:
    min_margin_percent: Decimal = Decimal(0)
    mode: str = GuardMode.WARN
    block_below_cost: bool = True


class _PolicyResolver:
    """Finds the pricing policy of a category: its own, its nearest ancestor's, the default row, defaults."""

    def __init__(self) -> None:
        policies = list(PricingPolicy.objects.all())
        default = next((policy for policy in policies if policy.category_id is None), None)
        self.default = self._plain(default) if default else _Policy()
        self.by_category = {
            policy.category_id: self._plain(policy) for policy in policies if policy.category_id
        }
        self.parents: dict[int, int | None] = (
            dict(Category.objects.values_list("pk", "parent_id")) if self.by_category else {}
        )

    @staticmethod
    def _plain(policy: PricingPolicy) -> _Policy:
        return _Policy(policy.min_margin_percent, policy.mode, policy.block_below_cost)

    def policy_for(self, category_id: int | None) -> _Policy:
        seen: set[int] = set()
        current = category_id
        while current is not None and current not in seen:
            if current in self.by_category:
                return self.by_category[current]
            seen.add(current)
            current = self.parents.get(current)
        return self.default


def margin_percent(*, sale_price: Decimal, cost_price: Decimal) -> Decimal | None:
    """(sale − cost) / sale × 100, or None when the sale price is 0."""
    if sale_price == 0:
        return None
    return (sale_price - cost_price) / sale_price * 100


def _guard_issues(
    policy: _Policy, *, sale_price: Decimal, cost_price: Decimal, min_price: Decimal | None
) -> list[GuardIssue]:
    blocks_by_mode = policy.mode == GuardMode.BLOCK
    issues: list[GuardIssue] = []
    if sale_price < cost_price:
        # Below cost also means below any margin ≥ 0, so the margin rule is not repeated.
        message = f"售价 {format_cny(sale_price)} 低于成本价 {format_cny(cost_price)}"
        issues.append(GuardIssue("below_cost", message, policy.block_below_cost or blocks_by_mode))
    elif policy.min_margin_percent > 0:
        margin = margin_percent(sale_price=sale_price, cost_price=cost_price)
        if margin is None or margin < policy.min_margin_percent:
            shown = "—" if margin is None else f"{margin.quantize(CENT, rounding=ROUND_HALF_UP)}%"
            message = f"毛利率 {shown} 低于最低毛利率 {policy.min_margin_percent}%"
            issues.append(GuardIssue("below_min_margin", message, blocks_by_mode))
    if min_price is not None and sale_price < min_price:
        message = f"售价 {format_cny(sale_price)} 低于最低售价 {format_cny(min_price)}"
        issues.append(GuardIssue("below_min_price", message, blocks_by_mode))
    return issues


def check_price_guard(*, sku: Sku, sale_price: Decimal, cost_price: Decimal) -> list[GuardIssue]:
    """The guard rules `sale_price`/`cost_price` would break for this SKU (reads policies, writes nothing)."""
    policy = _PolicyResolver().policy_for(sku.product.category_id)
    return _guard_issues(policy, sale_price=sale_price, cost_price=cost_price, min_price=sku.min_price)


def _raise_for_issues(
    issues: Iterable[GuardIssue], *, acknowledge_warnings: bool, field: str = "sale_price"
) -> None:
    issues = tuple(issues)
    blocking = [issue for issue in issues if issue.blocking]
    if blocking:
        text = "；".join(issue.message for issue in blocking)
        raise PriceGuardBlocked(f"价格保护阻止了此次调价：{text}", fields={field: text}, issues=issues)
    if issues and not acknowledge_warnings:
        text = "；".join(issue.message for issue in issues)
        raise PriceGuardWarning(f"价格保护提醒：{text}。确认后可继续", fields={field: text}, issues=issues)


# Prices.


def _informational(issues: Iterable[GuardIssue]) -> tuple[GuardIssue, ...]:
    return tuple(dataclasses.replace(issue, blocking=False) for issue in issues)


def _price_issues(
    resolver: _PolicyResolver, sku: Sku, new_values: dict[str, Decimal | None]
) -> tuple[GuardIssue, ...]:
    """Guard issues of a change. Only a new sale price is guarded; a new cost (a fact, not a decision)
    yields the same findings as non-blocking information."""
    if "sale_price" not in new_values and "cost_price" not in new_values:
        return ()
    sale_price = new_values.get("sale_price", sku.sale_price)
    cost_price = new_values.get("cost_price", sku.cost_price)
    assert sale_price is not None
    assert cost_price is not None
    policy = resolver.policy_for(sku.product.category_id)
    issues = tuple(
        _guard_issues(policy, sale_price=sale_price, cost_price=cost_price, min_price=sku.min_price)
    )
    return issues if "sale_price" in new_values else _informational(issues)


def _apply_prices(
    sku: Sku,
    new_values: dict[str, Decimal | None],
    *,
    actor: Any,
    reason: str,
    source: str,
    acknowledge_warnings: bool,
    enforce_guard: bool = True,
    resolver: _PolicyResolver | None = None,
) -> list[PriceChange]:
    """Write price changes of a locked SKU: guard, save, one history row per field, one audit entry."""
    changed = {name: value for name, value in new_values.items() if getattr(sku, name) != value}
    if not changed:
        return []
    issues = _price_issues(resolver or _PolicyResolver(), sku, changed)
    if enforce_guard and "sale_price" in changed:
        _raise_for_issues(issues, acknowledge_warnings=acknowledge_warnings)
    old_values = {name: getattr(sku, name) for name in changed}
    for name, value in changed.items():
        setattr(sku, name, value)
    sku.save(update_fields=[*changed, "updated_at"])
    user = _user_or_none(actor)
    PriceHistory.objects.bulk_create(
        PriceHistory(
            sku=sku,
            field=name,
            old_value=old_values[name],
            new_value=value,
            reason=reason,
            source=source,
            actor=user,
        )
        for name, value in changed.items()
    )
    audit.record(
        actor=actor,
        action="sku.price_changed",
        instance=sku,
        changes={**{name: [old_values[name], value] for name, value in changed.items()}, "source": source},
        reason=reason,
    )
    return [PriceChange(sku, name, old_values[name], value, issues) for name, value in changed.items()]


def _price_field(field: str) -> str:
    if field not in PriceField.values:
        raise InvalidInput(
            f"未知价格类型：{field}", fields={"field": "须为 sale_price、cost_price 或 list_price"}
        )
    return field


def _price_for_field(value: Any, field: str) -> Decimal | None:
    if field == PriceField.LIST:
        return _optional_price(value, field=field)
    if value is None:
        raise InvalidInput("价格不能为空", fields={field: "必填"})
    return _price(value, field=field)


def change_price(
    *,
    sku_id: int,
    actor: Any,
    new_value: Decimal | str | int | None,
    field: str = "sale_price",
    reason: str = "",
    source: str = "manual",
    acknowledge_warnings: bool = False,
) -> PriceChange:
    """Change one price of a SKU; unchanged values write nothing. The caller checks `catalog.change_price`."""
    field = _price_field(field)
    value = _price_for_field(new_value, field)
    with transaction.atomic():
        sku = _locked_sku(sku_id)
        changes = _apply_prices(
            sku,
            {field: value},
            actor=actor,
            reason=reason,
            source=source,
            acknowledge_warnings=acknowledge_warnings,
        )
    if changes:
        return changes[0]
    return PriceChange(sku, field, getattr(sku, field), getattr(sku, field))


# SKUs.


def spec_from_attributes(attributes: dict[str, Any]) -> str:
    """{"颜色": "黑色", "尺码": "M"} → "颜色:黑色;尺码:M"."""
    return ";".join(f"{name}:{value}" for name, value in attributes.items())


def _clean_attributes(attributes: Any) -> dict[str, str]:
    if attributes is None:
        return {}
    if not isinstance(attributes, dict):
        raise InvalidInput("规格属性须为 名称→值 的字典", fields={"attributes": "格式无效"})
    return {str(name).strip(): str(value).strip() for name, value in attributes.items()}


def _clean_barcode(barcode: str | None, *, exclude_id: int | None = None) -> str | None:
    text = (barcode or "").strip()
    if not text:
        return None
    others = Sku.objects.exclude(pk=exclude_id) if exclude_id else Sku.objects.all()
    if others.filter(barcode=text).exists():
        raise DuplicateBarcode(f"条码“{text}”已被其他 SKU 使用", fields={"barcode": "重复"})
    return text


def _sku_code(merchant_code: str, *, exclude_id: int | None = None) -> str:
    code = _required_text(merchant_code, field="merchant_code", label="商家编码", max_length=64)
    others = Sku.objects.exclude(pk=exclude_id) if exclude_id else Sku.objects.all()
    if others.filter(merchant_code=code).exists():
        raise DuplicateMerchantCode(f"商家编码“{code}”已存在", fields={"merchant_code": "重复"})
    return code


def _next_sku_code(product: Product) -> str:
    number = product.skus.count() + 1
    while Sku.objects.filter(merchant_code=f"{product.merchant_code}-{number:02d}").exists():
        number += 1
    return f"{product.merchant_code}-{number:02d}"


def _weight(value: Any) -> int | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InvalidInput("重量须为不小于 0 的整数（克）", fields={"weight_grams": "须为非负整数"})
    return value


def create_sku(
    *,
    product_id: int,
    actor: Any,
    sale_price: Decimal | str | int,
    cost_price: Decimal | str | int,
    merchant_code: str | None = None,
    barcode: str | None = None,
    attributes: dict[str, Any] | None = None,
    spec: str | None = None,
    weight_grams: int | None = None,
    list_price: Decimal | str | int | None = None,
    min_price: Decimal | str | int | None = None,
    acknowledge_warnings: bool = False,
    reason: str = "",
    source: str = "manual",
) -> Sku:
    """Add a SKU; its initial prices are written to the price history with no old value."""
    attributes = _clean_attributes(attributes)
    prices = {
        "sale_price": _price(sale_price, field="sale_price"),
        "cost_price": _price(cost_price, field="cost_price"),
        "list_price": _optional_price(list_price, field="list_price"),
    }
    with transaction.atomic():
        product = Product.objects.select_for_update().filter(pk=product_id).first()
        if product is None:
            raise NotFound("商品不存在", fields={"product_id": "不存在"})
        if product.status == ProductStatus.ARCHIVED:
            raise InvalidInput(
                "商品已归档，不能新增 SKU", fields={"product_id": "已归档"}, code="product_archived"
            )
        code = (
            _sku_code(merchant_code) if merchant_code and merchant_code.strip() else _next_sku_code(product)
        )
        sku = Sku(
            product=product,
            merchant_code=code,
            barcode=_clean_barcode(barcode),
            attributes=attributes,
            spec=(spec.strip() if spec is not None else spec_from_attributes(attributes))[:200],
            weight_grams=_weight(weight_grams),
            min_price=_optional_price(min_price, field="min_price"),
            **prices,
        )
        issues = _price_issues(_PolicyResolver(), sku, {"sale_price": sku.sale_price})
        _raise_for_issues(issues, acknowledge_warnings=acknowledge_warnings)
        _save_unique(sku, Conflict("商家编码或条码重复", code="duplicate_merchant_code"))
        user = _user_or_none(actor)
        PriceHistory.objects.bulk_create(
            PriceHistory(
                sku=sku, field=name, old_value=None, new_value=value, reason=reason, source=source, actor=user
            )
            for name, value in prices.items()
            if value is not None
        )
        audit.record(actor=actor, action="sku.created", instance=sku, before={}, reason=reason)
    return sku


SKU_PRICE_FIELDS = tuple(PriceField.values)
SKU_FIELDS = ("merchant_code", "barcode", "attributes", "spec", "weight_grams", "min_price", "is_active")


def _apply_sku_change(sku: Sku, name: str, value: Any) -> None:
    if name == "merchant_code":
        sku.merchant_code = _sku_code(value, exclude_id=sku.pk)
    elif name == "barcode":
        sku.barcode = _clean_barcode(value, exclude_id=sku.pk)
    elif name == "attributes":
        sku.attributes = _clean_attributes(value)
    elif name == "spec":
        sku.spec = (value or "").strip()[:200]
    elif name == "weight_grams":
        sku.weight_grams = _weight(value)
    elif name == "min_price":
        sku.min_price = _optional_price(value, field="min_price")
    elif name == "is_active":
        sku.is_active = bool(value)


def update_sku(
    *,
    sku_id: int,
    actor: Any,
    reason: str = "",
    acknowledge_warnings: bool = False,
    source: str = "manual",
    **changes: Any,
) -> Sku:
    """Change a SKU. Price fields (sale_price, cost_price, list_price) take the change_price path:
    guard, history, `sku.price_changed`; the rest is audited as `sku.updated`."""
    unknown = sorted(set(changes) - set(SKU_FIELDS) - set(SKU_PRICE_FIELDS))
    if unknown:
        raise InvalidInput(f"不能修改字段：{'、'.join(unknown)}", fields=dict.fromkeys(unknown, "不可修改"))
    prices = {name: _price_for_field(changes.pop(name), name) for name in SKU_PRICE_FIELDS if name in changes}
    with transaction.atomic():
        sku = _locked_sku(sku_id)
        before = audit.snapshot(sku)
        for name, value in changes.items():
            _apply_sku_change(sku, name, value)
        if "attributes" in changes and "spec" not in changes:
            sku.spec = spec_from_attributes(sku.attributes)[:200]
        after = audit.snapshot(sku)
        if audit.diff(before, after):
            _save_unique(sku, Conflict("商家编码或条码重复", code="duplicate_merchant_code"))
            audit.record(
                actor=actor, action="sku.updated", instance=sku, before=before, after=after, reason=reason
            )
        _apply_prices(
            sku, prices, actor=actor, reason=reason, source=source, acknowledge_warnings=acknowledge_warnings
        )
    return sku


# Scheduled price changes.

OPEN_SCHEDULE_STATUSES = (ScheduledPriceStatus.PENDING, ScheduledPriceStatus.ACTIVE)


def _overlapping(starts_at: dt.datetime, ends_at: dt.datetime | None) -> Q:
    """Rows whose [starts_at, ends_at) window meets [starts_at, ends_at); a missing end is open-ended."""
    condition = Q(ends_at__isnull=True) | Q(ends_at__gt=starts_at)
    if ends_at is not None:
        condition &= Q(starts_at__lt=ends_at)
    return condition


def schedule_price_change(
    *,
    sku_id: int,
    new_price: Decimal | str | int,
    starts_at: dt.datetime,
    actor: Any,
    ends_at: dt.datetime | None = None,
    reason: str = "",
    acknowledge_warnings: bool = False,
) -> ScheduledPriceChange:
    """Plan a sale price from `starts_at` (until `ends_at`, then back to the price before it)."""
    price = _price(new_price, field="new_price")
    _require_aware(starts_at, field="starts_at")
    if ends_at is not None and _require_aware(ends_at, field="ends_at") <= starts_at:
        raise InvalidInput("结束时间须晚于开始时间", fields={"ends_at": "须晚于开始时间"})
    with transaction.atomic():
        sku = _locked_sku(sku_id)
        clash = sku.scheduled_prices.filter(status__in=OPEN_SCHEDULE_STATUSES).filter(
            _overlapping(starts_at, ends_at)
        )
        if clash.exists():
            raise Conflict(
                "该 SKU 在此时间段已有定时调价",
                fields={"starts_at": "与已有定时调价重叠"},
                code="schedule_overlap",
            )
        _raise_for_issues(
            _price_issues(_PolicyResolver(), sku, {"sale_price": price}),
            acknowledge_warnings=acknowledge_warnings,
        )
        schedule = ScheduledPriceChange.objects.create(
            sku=sku,
            new_price=price,
            starts_at=starts_at,
            ends_at=ends_at,
            reason=reason,
            created_by=_user_or_none(actor),
        )
        audit.record(
            actor=actor, action="scheduled_price.created", instance=schedule, before={}, reason=reason
        )
    return schedule


def _revert_schedule(schedule: ScheduledPriceChange, *, actor: Any, source: str) -> None:
    """Put back the price from before the schedule, unless someone changed the price meanwhile
    (then the later manual decision wins). Reverting is never blocked by the guard."""
    sku = _locked_sku(schedule.sku_id)
    if schedule.previous_price is None or sku.sale_price != schedule.new_price:
        return
    _apply_prices(
        sku,
        {"sale_price": schedule.previous_price},
        actor=actor,
        reason=schedule.reason or "定时调价结束",
        source=source,
        acknowledge_warnings=True,
        enforce_guard=False,
    )


def cancel_scheduled_price_change(*, schedule_id: int, actor: Any) -> ScheduledPriceChange:
    with transaction.atomic():
        schedule = ScheduledPriceChange.objects.select_for_update().filter(pk=schedule_id).first()
        if schedule is None:
            raise NotFound("定时调价不存在", fields={"schedule_id": "不存在"})
        if schedule.status not in OPEN_SCHEDULE_STATUSES:
            raise Conflict(
                f"定时调价已{schedule.get_status_display()}，不能取消",
                fields={"status": schedule.status},
                code="schedule_not_cancellable",
            )
        before = audit.snapshot(schedule)
        if schedule.status == ScheduledPriceStatus.ACTIVE:
            _revert_schedule(schedule, actor=actor, source="schedule_cancelled")
        schedule.status = ScheduledPriceStatus.CANCELLED
        schedule.save(update_fields=["status"])
        audit.record(actor=actor, action="scheduled_price.cancelled", instance=schedule, before=before)
    return schedule


def _finish_schedule(schedule_id: int, *, now: dt.datetime, actor: Any) -> bool:
    with transaction.atomic():
        schedule = (
            ScheduledPriceChange.objects.select_for_update()
            .filter(pk=schedule_id, status=ScheduledPriceStatus.ACTIVE, ends_at__lte=now)
            .first()
        )
        if schedule is None:  # another run got there first
            return False
        before = audit.snapshot(schedule)
        _revert_schedule(schedule, actor=actor, source="schedule_end")
        schedule.status = ScheduledPriceStatus.FINISHED
        schedule.save(update_fields=["status"])
        audit.record(actor=actor, action="scheduled_price.finished", instance=schedule, before=before)
    return True


def _start_schedule(schedule_id: int, *, now: dt.datetime, actor: Any) -> str | None:
    """Start one due schedule; returns "started", "skipped" or None when there was nothing to do."""
    with transaction.atomic():
        schedule = (
            ScheduledPriceChange.objects.select_for_update()
            .filter(pk=schedule_id, status=ScheduledPriceStatus.PENDING, starts_at__lte=now)
            .first()
        )
        if schedule is None:
            return None
        before = audit.snapshot(schedule)
        if schedule.ends_at is not None and schedule.ends_at <= now:
            schedule.status = ScheduledPriceStatus.FINISHED
            schedule.save(update_fields=["status"])
            audit.record(actor=actor, action="scheduled_price.expired", instance=schedule, before=before)
            return "skipped"
        sku = _locked_sku(schedule.sku_id)
        previous_price = sku.sale_price
        try:
            _apply_prices(
                sku,
                {"sale_price": schedule.new_price},
                actor=actor,
                reason=schedule.reason or "定时调价",
                source="schedule",
                acknowledge_warnings=True,
            )
        except PriceGuardBlocked as error:
            logger.warning("scheduled price %s blocked by the price guard: %s", schedule.pk, error.message)
            schedule.status = ScheduledPriceStatus.CANCELLED
            schedule.save(update_fields=["status"])
            audit.record(
                actor=actor,
                action="scheduled_price.blocked",
                instance=schedule,
                before=before,
                reason=error.message,
            )
            return "skipped"
        schedule.previous_price = previous_price
        schedule.status = ScheduledPriceStatus.ACTIVE
        schedule.save(update_fields=["previous_price", "status"])
        audit.record(actor=actor, action="scheduled_price.started", instance=schedule, before=before)
    return "started"


def apply_due_price_changes(*, now: dt.datetime | None = None, actor: Any = None) -> AppliedSummary:
    """The job: end due active schedules, then start due pending ones. Each schedule is handled in its
    own transaction under a row lock that re-checks its state, so running twice or concurrently is safe.
    Ends go first so a schedule starting when another ends sees the restored price as its previous one."""
    now = _require_aware(now or timezone.now(), field="now")
    due_ends = ScheduledPriceChange.objects.filter(status=ScheduledPriceStatus.ACTIVE, ends_at__lte=now)
    finished = [
        pk
        for pk in due_ends.order_by("ends_at", "pk").values_list("pk", flat=True)
        if _finish_schedule(pk, now=now, actor=actor)
    ]
    started: list[int] = []
    skipped: list[int] = []
    due_starts = ScheduledPriceChange.objects.filter(status=ScheduledPriceStatus.PENDING, starts_at__lte=now)
    for pk in due_starts.order_by("starts_at", "pk").values_list("pk", flat=True):
        outcome = _start_schedule(pk, now=now, actor=actor)
        if outcome == "started":
            started.append(pk)
        elif outcome == "skipped":
            skipped.append(pk)
    return AppliedSummary(started=tuple(started), finished=tuple(finished), skipped=tuple(skipped))


# Promotional prices.


def create_promo_price(
    *,
    sku_id: int,
    shop_id: int,
    name: str,
    price: Decimal | str | int,
    starts_at: dt.datetime,
    ends_at: dt.datetime,
    actor: Any,
) -> PromoPrice:
    """An activity price of a SKU on one shop; refused when it overlaps another or the guard blocks it."""
    name = _required_text(name, field="name", label="活动名称", max_length=100)
    amount = _price(price, field="price")
    _require_aware(starts_at, field="starts_at")
    if _require_aware(ends_at, field="ends_at") <= starts_at:
        raise InvalidInput("结束时间须晚于开始时间", fields={"ends_at": "须晚于开始时间"})
    with transaction.atomic():
        sku = _locked_sku(sku_id)
        shop = Shop.objects.filter(pk=shop_id).first()
        if shop is None:
            raise InvalidInput("店铺不存在", fields={"shop_id": "不存在"})
        clash = PromoPrice.objects.filter(sku=sku, shop=shop, is_active=True).filter(
            _overlapping(starts_at, ends_at)
        )
        if clash.exists():
            raise Conflict(
                "该 SKU 在此店铺此时间段已有活动价",
                fields={"starts_at": "与已有活动价重叠"},
                code="promo_overlap",
            )
        issues = _price_issues(_PolicyResolver(), sku, {"sale_price": amount})
        _raise_for_issues(
            [issue for issue in issues if issue.blocking], acknowledge_warnings=True, field="price"
        )
        promo = PromoPrice.objects.create(
            sku=sku,
            shop=shop,
            name=name,
            price=amount,
            starts_at=starts_at,
            ends_at=ends_at,
            created_by=_user_or_none(actor),
        )
        audit.record(actor=actor, action="promo_price.created", instance=promo, before={})
    return promo


def deactivate_promo_price(*, promo_id: int, actor: Any) -> PromoPrice:
    with transaction.atomic():
        promo = PromoPrice.objects.select_for_update().filter(pk=promo_id).first()
        if promo is None:
            raise NotFound("活动价不存在", fields={"promo_id": "不存在"})
        if promo.is_active:
            before = audit.snapshot(promo)
            promo.is_active = False
            promo.save(update_fields=["is_active"])
            audit.record(actor=actor, action="promo_price.deactivated", instance=promo, before=before)
    return promo


# Bulk price adjustment.


def round_price(amount: Decimal, rounding: str) -> Decimal:
    """cent: to 0.01 (half up); yuan: to whole yuan (half up); x9: to the nearest amount ending in .9
    (89.91 → 89.90, 90.00 → 89.90, 90.50 → 90.90; a tie goes to the lower one; never below 0.90)."""
    if rounding == "cent":
        return amount.quantize(CENT, rounding=ROUND_HALF_UP)
    if rounding == "yuan":
        return amount.quantize(Decimal(1), rounding=ROUND_HALF_UP).quantize(CENT)
    nine = Decimal("0.9")
    lower = (amount - nine).to_integral_value(rounding=ROUND_FLOOR) + nine
    upper = lower + 1
    chosen = upper if lower < 0 or upper - amount < amount - lower else lower
    return chosen.quantize(CENT)


def _bulk_value(mode: str, value: Any, field: str, rounding: str) -> Decimal:
    if mode not in BULK_MODES:
        raise InvalidInput(f"未知调价方式：{mode}", fields={"mode": "须为 percent、amount 或 set"})
    if rounding not in BULK_ROUNDINGS:
        raise InvalidInput(f"未知取整方式：{rounding}", fields={"rounding": "须为 cent、yuan 或 x9"})
    _price_field(field)
    amount = to_money(value, field="value")
    if mode == "set" and amount < 0:
        raise InvalidInput("价格不能为负数", fields={"value": "不能为负数"})
    return amount


def _adjusted(old: Decimal | None, *, mode: str, value: Decimal, rounding: str) -> Decimal | str:
    """The new price, or the reason there is none."""
    if mode == "set":
        raw = value
    elif old is None:
        return "无原价，不能按比例或金额调整"
    elif mode == "percent":
        raw = old * (100 + value) / 100
    else:
        raw = old + value
    if raw < 0:
        return f"调整后价格为负数（{raw.quantize(CENT, rounding=ROUND_HALF_UP)}）"
    return round_price(raw, rounding)


def _bulk_rows(
    skus: list[Sku], *, mode: str, value: Decimal, field: str, rounding: str
) -> list[BulkPriceRow]:
    resolver = _PolicyResolver()
    rows: list[BulkPriceRow] = []
    refused: dict[str, str] = {}
    for sku in skus:
        old = getattr(sku, field)
        new = _adjusted(old, mode=mode, value=value, rounding=rounding)
        if isinstance(new, str):
            refused[str(sku.pk)] = f"{sku.merchant_code}：{new}"
            continue
        issues = _price_issues(resolver, sku, {field: new}) if new != old else ()
        name = f"{sku.product.name} {sku.spec}".strip()
        rows.append(BulkPriceRow(sku.pk, sku.merchant_code, name, old, new, issues))
    if refused:
        raise InvalidInput(f"{len(refused)} 个 SKU 无法调价", fields=refused)
    return rows


def _bulk_skus(sku_ids: list[int], *, lock: bool) -> list[Sku]:
    wanted = list(dict.fromkeys(sku_ids))
    if not wanted:
        raise InvalidInput("请选择 SKU", fields={"sku_ids": "必填"})
    queryset = Sku.objects.select_related("product").filter(pk__in=wanted).order_by("pk")
    skus = list(queryset.select_for_update(of=("self",)) if lock else queryset)
    missing = sorted(set(wanted) - {sku.pk for sku in skus})
    if missing:
        raise InvalidInput(
            f"SKU 不存在：{', '.join(map(str, missing))}",
            fields={"sku_ids": f"不存在：{', '.join(map(str, missing))}"},
        )
    return skus


def preview_bulk_price_adjustment(
    *,
    sku_ids: list[int],
    mode: str,
    value: Decimal | str | int,
    field: str = "sale_price",
    rounding: str = "cent",
) -> list[BulkPriceRow]:
    """What a bulk adjustment would do, row by row, with guard issues; writes nothing.

    mode "percent": value −10 → 10% cheaper; "amount": value −5 → ¥5 cheaper; "set": value is the price.
    Rounding: see `round_price`. A negative result refuses the whole request."""
    amount = _bulk_value(mode, value, field, rounding)
    return _bulk_rows(
        _bulk_skus(sku_ids, lock=False), mode=mode, value=amount, field=field, rounding=rounding
    )


def _per_sku_issues(rows: list[BulkPriceRow], *, blocking_only: bool) -> dict[str, str]:
    return {
        str(row.sku_id): f"{row.merchant_code}：" + "；".join(issue.message for issue in issues)
        for row in rows
        if (issues := [issue for issue in row.issues if issue.blocking or not blocking_only])
    }


def apply_bulk_price_adjustment(
    *,
    sku_ids: list[int],
    mode: str,
    value: Decimal | str | int,
    actor: Any,
    reason: str,
    field: str = "sale_price",
    rounding: str = "cent",
    acknowledge_warnings: bool = False,
) -> BulkPriceResult:
    """Apply a bulk adjustment all-or-nothing: rows are recomputed under lock exactly as in the preview;
    any blocked row (or unacknowledged warning) refuses the whole batch, naming each SKU in `fields`."""
    amount = _bulk_value(mode, value, field, rounding)
    reason = _required_text(reason, field="reason", label="调价原因", max_length=300)
    with transaction.atomic():
        skus = _bulk_skus(sku_ids, lock=True)
        rows = _bulk_rows(skus, mode=mode, value=amount, field=field, rounding=rounding)
        if field == PriceField.SALE:
            all_issues = [issue for row in rows for issue in row.issues]
            blocked = _per_sku_issues(rows, blocking_only=True)
            if blocked:
                raise PriceGuardBlocked(
                    f"价格保护阻止了 {len(blocked)} 个 SKU 的调价", fields=blocked, issues=all_issues
                )
            if all_issues and not acknowledge_warnings:
                warned = _per_sku_issues(rows, blocking_only=False)
                raise PriceGuardWarning(
                    f"{len(warned)} 个 SKU 触发价格保护提醒，确认后可继续", fields=warned, issues=all_issues
                )
        resolver = _PolicyResolver()
        changes: list[PriceChange] = []
        for sku, row in zip(skus, rows, strict=True):
            changes += _apply_prices(
                sku,
                {field: row.new_value},
                actor=actor,
                reason=reason,
                source="bulk",
                acknowledge_warnings=True,
                resolver=resolver,
            )
    return BulkPriceResult(rows=tuple(rows), changes=tuple(changes))


# Channel listings.


def _check_listing_allowed(product: Product, shop: Shop, status: str, reason: str) -> None:
    if status == ListingStatus.LISTED:
        if product.status == ProductStatus.ARCHIVED:
            raise InvalidInput(
                "商品已归档，不能上架", fields={"status": "商品已归档"}, code="product_archived"
            )
        if not shop.is_active:
            raise InvalidInput(
                f"店铺“{shop.name}”已停用，不能上架", fields={"shop_id": "已停用"}, code="shop_inactive"
            )
    if status == ListingStatus.DELISTED and not reason:
        raise InvalidInput("下架须填写原因", fields={"reason": "下架须填写原因"})


def set_listing_status(
    *, product_id: int, shop_id: int, status: str, actor: Any, reason: str = ""
) -> ChannelListing:
    """Move a product's listing on one shop along LISTING_TRANSITIONS (creating the draft if missing)."""
    if status not in ListingStatus.values:
        raise InvalidInput(f"未知上下架状态：{status}", fields={"status": "无效"})
    reason = (reason or "").strip()[:300]
    with transaction.atomic():
        product = Product.objects.filter(pk=product_id).first()
        if product is None:
            raise NotFound("商品不存在", fields={"product_id": "不存在"})
        shop = Shop.objects.filter(pk=shop_id).first()
        if shop is None:
            raise NotFound("店铺不存在", fields={"shop_id": "不存在"})
        listing, created = ChannelListing.objects.select_for_update().get_or_create(
            product=product, shop=shop
        )
        if created:
            audit.record(actor=actor, action="listing.created", instance=listing, before={})
            if status == ListingStatus.DRAFT:
                return listing
        current = listing.status
        if status not in LISTING_TRANSITIONS.get(current, set()):
            raise IllegalListingTransition(
                f"不能从“{ListingStatus(current).label}”变为“{ListingStatus(status).label}”",
                fields={"status": f"{current} → {status} 不允许"},
            )
        _check_listing_allowed(product, shop, status, reason)
        before = audit.snapshot(listing)
        listing.status = status
        listing.changed_by = _user_or_none(actor)
        listing.changed_at = timezone.now()
        listing.reason = reason
        listing.save(update_fields=["status", "changed_by", "changed_at", "reason"])
        ListingEvent.objects.create(
            listing=listing, from_status=current, to_status=status, reason=reason, actor=_user_or_none(actor)
        )
        audit.record(actor=actor, action=f"listing.{status}", instance=listing, before=before, reason=reason)
    return listing
