"""Shared errors, results and helpers of the catalog services."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.db import IntegrityError, models, transaction
from django.utils import timezone

from shopops.catalog.models import (
    Sku,
)
from shopops.core.errors import Conflict, DomainError, InvalidInput, NotFound
from shopops.core.money import to_money

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


class PriceOutOfRange(InvalidInput):
    """A computed price does not fit the price columns; `fields` names each SKU, its price and the limit."""

    code = "price_out_of_range"


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
