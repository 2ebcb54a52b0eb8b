"""Writing imported orders: new ones in bulk, existing ones compared field by field, changed ones updated.

Why a bulk path beside `services.create_order`: that one matches the customer, inserts, reserves, reviews
and audits per order — a dozen queries each, far too many for a million lines. Here each chunk costs a
handful of queries: existing orders and their lines in two SELECTs, customers through
`customers.services.match_customers`, SKUs by merchant code from a per-import cache (handed to
`prepare_order` as `sku_ids`), new orders, lines and one `created` OrderEvent each with one
executemany/COPY per table (`imports.bulk`). The stored values are the services' own
(`prepare_order`: validation, amounts, discount split, phone hashes, receiver fingerprint, stock
tracking), so an imported order is the order `create_order` would have made. Existing orders whose
values all match are left alone (nothing written: a re-import changes nothing); changed ones go through
`apply_platform_update`, which records the differences on the timeline and keeps stock in step.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.utils import timezone

from shopops.catalog.models import Sku
from shopops.channels.models import Shop
from shopops.channels.services import shop_settings
from shopops.core import audit
from shopops.core.errors import DomainError
from shopops.core.pii import mask, pii_fields
from shopops.core.tabular import Action, ImportResult, RowError, TableRow
from shopops.customers.services import BuyerKey, match_customers
from shopops.orders import services
from shopops.orders.imports.bulk import Inserter, fetch_in
from shopops.orders.imports.reading import Reading, build_order
from shopops.orders.models import (
    Order,
    OrderEvent,
    OrderEventKind,
    OrderLine,
    OrderSource,
    StockState,
)
from shopops.orders.services.creation import PreparedOrder, prepare_order
from shopops.orders.services.inputs import OrderInput
from shopops.orders.services.refunds import refund_status_for
from shopops.orders.services.review import (
    NewOrder,
    ReviewSettings,
    active_rules,
    new_order_outcome,
    review_new_orders,
    review_settings,
)
from shopops.orders.services.sku_keys import MappingKey, mapped_sku_ids, mapping_key

VIA = "import"
# Stored values that are not the platform's word: the shop, and what stock effects made of the order.
NOT_COMPARED = frozenset({"shop", "stock_state", "pay_deadline"})
AMOUNTS_FROM_LINES = frozenset({"goods_amount", "paid_amount", "merchant_received"})
LINE_FIELDS = (
    "external_line_id",
    "merchant_code",
    "sku_id",
    "title",
    "spec",
    "quantity",
    "unit_price",
    "discount",
    "amount",
    "platform_status",
    "refunded_amount",
)


@dataclass
class PlannedOrder:
    """One order of the chunk: its rows, what the file says, and what the database holds."""

    rows: list[TableRow]
    data: OrderInput
    prepared: PreparedOrder
    existing: dict[str, Any] | None = None
    changes: dict[str, list[Any]] = field(default_factory=dict)


@dataclass
class Created:
    """What `_create` made of a chunk's new orders: their ids, those with stock effects to settle
    (reviewed the usual way afterwards) and the history ones (`tracked` is empty for a history file)
    with the review outcome their INSERT carried, reviewed from these values."""

    ids: list[int] = field(default_factory=list)
    tracked: list[int] = field(default_factory=list)
    untracked: list[NewOrder] = field(default_factory=list)
    outcomes: list[tuple[str, bool]] = field(default_factory=list)
    config: ReviewSettings = field(default_factory=review_settings)
    now: dt.datetime = field(default_factory=timezone.now)

    def __post_init__(self) -> None:
        self.rules = active_rules(self.config)


def _line_tuple(values: dict[str, Any]) -> tuple[Any, ...]:
    return tuple(values[name] for name in LINE_FIELDS)


def _prepared_line_values(prepared: PreparedOrder) -> list[dict[str, Any]]:
    return [
        {
            "external_line_id": line.data.external_line_id[:64],
            "merchant_code": line.data.merchant_code.strip()[:64],
            "sku_id": line.sku_id,
            "title": line.data.title[:200],
            "spec": line.data.spec[:200],
            "quantity": line.data.quantity,
            "unit_price": line.data.unit_price,
            "discount": line.discount,
            "amount": line.amount,
            "platform_status": line.data.platform_status[:60],
            "refunded_amount": min(line.data.refund_amount or Decimal(0), line.amount),
            "is_gift": line.data.is_gift,
        }
        for line in prepared.lines
    ]


def _plain(value: Any) -> Any:
    """A value as it goes into JSON (timeline changes, previews)."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    return value


class OrderWriter:
    """Turns chunks of rows (grouped by order) into orders of one shop."""

    def __init__(
        self, *, shop: Shop, reading: Reading, actor: Any, filename: str, sha256: str, validate_only: bool
    ) -> None:
        self.shop = shop
        self.reading = reading
        self.settings = shop_settings(shop)
        self.actor = actor
        self.user = audit.user_or_none(actor)
        self.filename = filename
        self.sha256 = sha256
        self.validate_only = validate_only
        self.skus: dict[str, int | None] = {}
        self.titled: dict[MappingKey, int | None] = {}
        self.warned_codes: set[str] = set()
        self.orders_created = 0
        self.orders_updated = 0
        self.orders_unchanged = 0
        self.amounts_from_lines = bool(reading.platform_format.quirk("order_amounts_from_lines", False))
        self.inserters = {model: Inserter(model) for model in (Order, OrderLine, OrderEvent)}
        # external ids of this chunk looked up by `_not_from_this_file`, and those the shop already has
        self.looked_up: set[str] = set()
        self.known: set[str] = set()

    def discard_state(self) -> None:
        self.skus.clear()
        self.titled.clear()

    # Reading and preparing.

    def _sku_ids(self, plans: Iterable[OrderInput]) -> None:
        plans = list(plans)
        titled = {
            mapping_key("", line.title, line.spec)
            for data in plans
            for line in data.lines
            if not line.merchant_code.strip() and (line.title.strip() or line.spec.strip())
        } - self.titled.keys()
        if titled:  # lines without a code: only an operator's mapping by title and spec can match them
            mapped_titles = mapped_sku_ids(self.shop.pk, titled)
            for key in titled:
                self.titled[key] = mapped_titles.get(key)
        wanted = {
            line.merchant_code.strip()
            for data in plans
            for line in data.lines
            if line.merchant_code.strip() and line.merchant_code.strip() not in self.skus
        }
        if not wanted:
            return
        found: dict[str, int | None] = dict(
            Sku.objects.filter(merchant_code__in=wanted).values_list("merchant_code", "pk")
        )
        # codes no SKU carries: the shop's 商品对应 (an operator's choice, kept per shop)
        mapped = mapped_sku_ids(self.shop.pk, [mapping_key(code) for code in wanted if code not in found])
        for code in wanted:
            self.skus[code] = found.get(code) or mapped.get(mapping_key(code))

    def _prepare(self, data: OrderInput) -> PreparedOrder:
        """`prepare_order` with SKUs from this import's cache (looked up per chunk by `_sku_ids`), so
        it asks the database nothing."""
        sku_ids = [
            self.skus.get(line.merchant_code.strip())
            if line.merchant_code.strip()
            else self.titled.get(mapping_key("", line.title, line.spec))
            for line in data.lines
        ]
        return prepare_order(self.shop, data, self.settings, sku_ids=sku_ids)

    def _plan(self, groups: list[list[TableRow]]) -> list[PlannedOrder]:
        built: list[tuple[list[TableRow], OrderInput]] = []
        for rows in groups:
            data = build_order(self.reading, rows)
            if data is not None:
                built.append((rows, data))
        self._sku_ids(data for _rows, data in built)
        plans: list[PlannedOrder] = []
        for rows, data in built:
            try:
                prepared = self._prepare(data)
            except DomainError as error:
                _report_refusal(rows, error)
                continue
            plans.append(PlannedOrder(rows=rows, data=data, prepared=prepared))
        return plans

    def _warn_unknown_skus(self, plans: list[PlannedOrder]) -> None:
        for plan in plans:
            for row, line in zip(self._line_rows(plan), plan.data.lines, strict=False):
                code = line.merchant_code.strip()
                if code and self.skus.get(code) is None and code not in self.warned_codes:
                    self.warned_codes.add(code)
                    row.add_warning(
                        "merchant_code", f"商家编码“{code}”没有对应的 SKU（订单照常导入，审单会提示）"
                    )

    def _line_rows(self, plan: PlannedOrder) -> list[TableRow]:
        return plan.rows if self.reading.platform_format.line_level else plan.rows[:1]

    # Processing a chunk.

    def process(self, groups: list[list[TableRow]]) -> None:
        """Validate every order of the chunk, then write the valid ones (unless only validating)."""
        plans = self._plan(self._not_from_this_file(groups))
        for rows in groups:
            _spread_errors(rows)
        plans = [plan for plan in plans if all(row.is_valid for row in plan.rows)]
        self._warn_unknown_skus(plans)
        if self.validate_only:
            for plan in plans:
                _mark(plan.rows, Action.CREATED, plan.data.external_id, {})
            return
        self._attach_existing(plans)
        new = [plan for plan in plans if plan.existing is None]
        known = [plan for plan in plans if plan.existing is not None]
        created = self._create(new)
        changed = self._update(known)
        # stock first: the review reads the stock state (out_of_stock), as create_order does
        for order_id in created.tracked:
            services.sync_order_stock(actor=self.actor, order_id=order_id)
        touched = created.tracked + changed
        if touched:
            services.review_orders(order_ids=touched, actor=self.actor)
        if created.untracked:
            # history orders (no stock effects): reviewed from the values written, no reload
            review_new_orders(
                created.untracked,
                written=created.outcomes,
                actor=self.actor,
                config=created.config,
                now=created.now,
            )

    def updates_existing_orders(self, groups: list[list[TableRow]]) -> bool:
        """Whether any order of the chunk is already in the shop: only an update can be refused when it
        is written (the service decides what a newer export may change); a new order's errors are all
        known from validating it."""
        keys = sorted({key for rows in groups if (key := rows[0].values.get("external_id")) is not None})
        return bool(
            fetch_in(
                f"SELECT external_id FROM {Order._meta.db_table} WHERE shop_id = %s AND",
                "external_id",
                keys,
                [self.shop.pk],
            )
        )

    def _not_from_this_file(self, groups: list[list[TableRow]]) -> list[list[TableRow]]:
        """Orders last written from this very file (same SHA-256) are unchanged: the file cannot say
        anything about them it did not say before. Saves reading them again on a repeated import."""
        keys = {rows[0].values.get("external_id") for rows in groups if all(row.is_valid for row in rows)}
        keys.discard(None)
        self.looked_up, self.known = set(), set()
        if not keys or self.validate_only:
            return groups
        seen: set[str] = set()
        for external_id, sha256 in fetch_in(
            f"SELECT external_id, import_sha256 FROM {Order._meta.db_table} WHERE shop_id = %s AND",
            "external_id",
            sorted(keys),
            [self.shop.pk],
        ):
            self.known.add(external_id)
            if sha256 == self.sha256:
                seen.add(external_id)
        self.looked_up = {key for key in keys if key is not None}
        if not seen:
            return groups
        remaining = []
        for rows in groups:
            key = rows[0].values.get("external_id")
            if key in seen and all(row.is_valid for row in rows):
                _mark(rows, Action.UNCHANGED, key, {})
                self.orders_unchanged += 1
            else:
                remaining.append(rows)
        return remaining

    def _attach_existing(self, plans: list[PlannedOrder]) -> None:
        if not plans:
            return
        by_id = {plan.prepared.values["external_id"]: plan for plan in plans}
        if self.looked_up.issuperset(by_id) and not self.known.intersection(by_id):
            return  # `_not_from_this_file` found none of them in the shop: all new (a first import)
        rows = Order.objects.filter(shop=self.shop, external_id__in=list(by_id)).values()
        orders: dict[int, dict[str, Any]] = {row["id"]: dict(row) for row in rows}
        if not orders:
            return
        lines: dict[int, list[dict[str, Any]]] = {order_id: [] for order_id in orders}
        for line in (
            OrderLine.objects.filter(order_id__in=list(orders)).order_by("order_id", "line_no").values()
        ):
            lines[line["order_id"]].append(dict(line))
        for order_id, row in orders.items():
            row["lines"] = lines[order_id]
            by_id[row["external_id"]].existing = row

    # New orders.

    def _customers(self, plans: list[PlannedOrder]) -> list[Any]:
        keys = [
            BuyerKey(
                platform=self.shop.platform,
                buyer_id=plan.data.buyer_id,
                phone=plan.data.receiver_phone,
                name=plan.data.buyer_nick or plan.data.receiver_name,
                email=plan.data.buyer_email,
                ordered_at=plan.data.placed_at,
                phone_hash=plan.prepared.values["receiver_phone_hash"],
            )
            for plan in plans
        ]
        return match_customers(keys)

    def _create(self, plans: list[PlannedOrder]) -> Created:
        created = Created()
        if not plans:
            return created
        customers = self._customers(plans)
        rows = []
        lines: list[list[dict[str, Any]]] = []
        subjects: list[NewOrder | None] = []
        for plan, customer in zip(plans, customers, strict=True):
            values = dict(plan.prepared.values)
            values["shop_id"] = values.pop("shop").pk
            values["customer_id"] = customer.pk if customer is not None else None
            values["source"] = OrderSource.IMPORT
            values["refund_status"] = refund_status_for(
                paid=values["paid_amount"], refunded=values["refunded_amount"]
            )
            values["import_sha256"] = self.sha256
            line_values = _prepared_line_values(plan.prepared)
            subject = None
            if values["stock_state"] == StockState.UNTRACKED:
                # no stock effects to wait for: the review outcome goes in with the INSERT
                subject = NewOrder(
                    values,
                    customer,
                    [(line["sku_id"], line["merchant_code"], line["quantity"]) for line in line_values],
                )
                outcome = new_order_outcome(subject, created.config, created.now, created.rules)
                values["review_status"], values["is_valid"] = outcome
                created.outcomes.append(outcome)
            rows.append(values)
            lines.append(line_values)
            subjects.append(subject)
        self.inserters[Order].insert(rows)
        external_ids = [values["external_id"] for values in rows]
        ids = dict(
            fetch_in(
                f"SELECT external_id, id FROM {Order._meta.db_table} WHERE shop_id = %s AND",
                "external_id",
                external_ids,
                [self.shop.pk],
            )
        )
        order_ids = [ids[external_id] for external_id in external_ids]
        for order_id, subject in zip(order_ids, subjects, strict=True):
            if subject is None:
                created.tracked.append(order_id)
            else:
                subject.pk = order_id
                created.untracked.append(subject)
        self.inserters[OrderLine].insert(
            {"order_id": order_id, "line_no": number, **line}
            for order_id, order_lines in zip(order_ids, lines, strict=True)
            for number, line in enumerate(order_lines, start=1)
        )
        message = f"导入 {self.filename}"[:500]
        self.inserters[OrderEvent].insert(
            {
                "order_id": order_id,
                "kind": OrderEventKind.CREATED,
                "actor_id": self.user.pk if self.user is not None else None,
                "via": VIA,
                "message": message,
                "changes": {"warnings": plan.prepared.warnings} if plan.prepared.warnings else {},
                "to_status": values["status"],
            }
            for order_id, plan, values in zip(order_ids, plans, rows, strict=True)
        )
        for plan in plans:
            _mark(plan.rows, Action.CREATED, plan.data.external_id, {})
        self.orders_created += len(order_ids)
        created.ids = order_ids
        return created

    # Existing orders.

    def _differences(self, plan: PlannedOrder) -> dict[str, list[Any]]:
        stored = plan.existing
        assert stored is not None
        changes: dict[str, list[Any]] = {}
        skipped = NOT_COMPARED | (AMOUNTS_FROM_LINES if self.amounts_from_lines else frozenset())
        for name, value in plan.prepared.values.items():
            if name in skipped or name not in stored:
                continue
            if stored[name] != value:
                changes[name] = [_plain(stored[name]), _plain(value)]
        if not self.reading.platform_format.line_level and stored["lines"]:
            return changes  # an order report's one summary line never replaces the lines we hold
        old_lines = [_line_tuple(line) for line in stored["lines"]]
        new_lines = [_line_tuple(line) for line in _prepared_line_values(plan.prepared)]
        if old_lines != new_lines:
            changes["lines"] = [_plain(old_lines), _plain(new_lines)]
        return changes

    def _replace_summary_line(self, plan: PlannedOrder) -> None:
        """The order report gave the order one summary line (title and count, no SKU); an item-level
        file brings the real lines: the summary goes, `apply_platform_update` adds the lines."""
        stored = plan.existing
        assert stored is not None
        summary = [
            line
            for line in stored["lines"]
            if not line["external_line_id"] and line["sku_id"] is None and not line["shipped_quantity"]
        ]
        has_line_ids = any(line.external_line_id for line in plan.data.lines)
        if has_line_ids and summary and len(summary) == len(stored["lines"]):
            OrderLine.objects.filter(pk__in=[line["id"] for line in summary]).delete()

    def _update(self, plans: list[PlannedOrder]) -> list[int]:
        changed: list[int] = []
        message = f"导入 {self.filename}"[:500]
        for plan in plans:
            assert plan.existing is not None
            differences = self._differences(plan)
            order_id = plan.existing["id"]
            if self.amounts_from_lines:
                for name in AMOUNTS_FROM_LINES:
                    setattr(plan.data, name, None)  # the lines' sum is not the order's (postage, discounts)
            if differences and self._apply(plan, order_id, message, differences):
                Order.objects.filter(pk=order_id).update(import_sha256=self.sha256)
                _mark(plan.rows, Action.UPDATED, plan.data.external_id, _masked(differences))
                changed.append(order_id)
                self.orders_updated += 1
            elif plan.rows[0].is_valid:
                _mark(plan.rows, Action.UNCHANGED, plan.data.external_id, {})
                self.orders_unchanged += 1
        return changed

    def _apply(self, plan: PlannedOrder, order_id: int, message: str, differences: dict[str, Any]) -> bool:
        """The service decides what a newer export may change; a refusal is that order's error only."""
        try:
            with transaction.atomic():
                if "lines" in differences and self.reading.platform_format.line_level:
                    self._replace_summary_line(plan)
                return services.apply_platform_update(
                    actor=self.actor, order_id=order_id, data=plan.data, via=VIA, message=message
                )
        except DomainError as error:
            plan.rows[0].errors.append(RowError(plan.rows[0].number, "", error.message))
            _spread_errors(plan.rows)
            return False

    def finish(self, result: ImportResult, format_name: str) -> None:
        audit.record(
            actor=self.actor,
            action="orders.imported",
            changes={
                **result.counts(),
                "orders_created": self.orders_created,
                "orders_updated": self.orders_updated,
                "orders_unchanged": self.orders_unchanged,
                "shop": self.shop.code,
                "format": format_name,
                "filename": result.filename,
                "sha256": result.sha256,
                "mode": result.mode,
                "unknown_columns": result.unknown_columns,
            },
            object_repr=result.filename,
            reason=f"导入订单 {result.filename}"[:500],
            shop_id=self.shop.pk,
        )


def _mark(rows: list[TableRow], action: Action, key: str, changes: dict[str, Any]) -> None:
    for index, row in enumerate(rows):
        row.action = action
        row.key = key
        row.changes = changes if index == 0 else {}


def _masked(differences: dict[str, list[Any]]) -> dict[str, list[Any]]:
    """The differences as an import report keeps them (`ImportJob.result`, shown to the uploader):
    personal-data fields masked, whoever looks. The clear values are on the order and its timeline."""
    kinds = pii_fields(Order)
    return {
        name: [mask(kinds[name], value) for value in values] if name in kinds else values
        for name, values in differences.items()
    }


def _spread_errors(rows: list[TableRow]) -> None:
    """A bad row makes its whole order bad: the order's other rows say which row to fix."""
    bad = [row.number for row in rows if not row.is_valid]
    if not bad:
        return
    for row in rows:
        if row.is_valid:
            row.errors.append(RowError(row.number, "", f"同一订单的第 {bad[0]} 行有错误，整单未导入"))


def _report_refusal(rows: list[TableRow], error: DomainError) -> None:
    """A refusal of the order services (e.g. refunded more than paid): on the column it names, if any."""
    columns = [key for key in error.fields if key in rows[0].labels]
    if columns:
        for key in columns:
            rows[0].add_error(key, f"{error.message}：{error.fields[key]}")
        return
    detail = "；".join(f"{key}: {value}" for key, value in error.fields.items())
    rows[0].errors.append(
        RowError(rows[0].number, "", f"{error.message}（{detail}）" if detail else error.message)
    )
