"""The price guard and price changes of one SKU (with history)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django.db import transaction

from shopops.catalog.models import (
    Category,
    GuardMode,
    PriceField,
    PriceHistory,
    PricingPolicy,
    Sku,
)
from shopops.catalog.queries import is_below_cost
from shopops.catalog.services.common import (
    GuardIssue,
    PriceChange,
    PriceGuardBlocked,
    PriceGuardWarning,
    _locked_sku,
    _optional_price,
    _price,
)
from shopops.core import audit
from shopops.core.audit import user_or_none
from shopops.core.errors import InvalidInput
from shopops.core.money import CENT, format_cny


@dataclass(frozen=True)
class _Policy:
    min_margin_percent: Decimal = Decimal(0)
    mode: str = GuardMode.WARN
    block_below_cost: bool = True


class PolicyResolver:
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
    if is_below_cost(sale_price, cost_price):
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
    policy = PolicyResolver().policy_for(sku.product.category_id)
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


def price_issues(
    resolver: PolicyResolver, sku: Sku, new_values: dict[str, Decimal | None]
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
    resolver: PolicyResolver | None = None,
) -> list[PriceChange]:
    """Write price changes of a locked SKU: guard, save, one history row per field, one audit entry."""
    changed = {name: value for name, value in new_values.items() if getattr(sku, name) != value}
    if not changed:
        return []
    issues = price_issues(resolver or PolicyResolver(), sku, changed)
    if enforce_guard and "sale_price" in changed:
        _raise_for_issues(issues, acknowledge_warnings=acknowledge_warnings)
    old_values = {name: getattr(sku, name) for name in changed}
    for name, value in changed.items():
        setattr(sku, name, value)
    sku.save(update_fields=[*changed, "updated_at"])
    user = user_or_none(actor)
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
