"""Categories, brands and merchant codes."""

from __future__ import annotations

import hashlib
import string
from typing import Any

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from shopops.catalog.models import (
    Brand,
    Category,
    CodeSequence,
    CodingRule,
    Product,
    Sku,
)
from shopops.catalog.services.common import (
    CATEGORY_PATH_SEPARATOR,
    CODING_PLACEHOLDERS,
    DEFAULT_CODING_PATTERN,
    MAX_CODE_ATTEMPTS,
    _save_unique,
)
from shopops.core import audit
from shopops.core.errors import Conflict, InvalidInput, NotFound, required_text


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
    name = required_text(name, field="name", label="类目名称", max_length=60)
    code = required_text(code, field="code", label="类目编码", max_length=20)
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
            category.name = required_text(name, field="name", label="类目名称", max_length=60)
        if code is not None:
            category.code = required_text(code, field="code", label="类目编码", max_length=20)
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
    name = required_text(name, field="name", label="品牌名称", max_length=60)
    code = required_text(code, field="code", label="品牌编码", max_length=20)
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
