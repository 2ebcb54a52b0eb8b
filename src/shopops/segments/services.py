"""Writes of tags and segments: metrics and RFM in bulk SQL, tag rules, segment refresh with history.

Every refresh is set-based: one INSERT … SELECT for the metrics of all customers, and for a rule the
matching ids are staged once in a temporary table, then joined to add and remove members (and write who
entered and left). Nothing loops over customers in Python, so a million customers take seconds.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, connection, transaction
from django.db.models import QuerySet
from django.utils import timezone

from shopops.core import audit
from shopops.core.errors import Conflict, InvalidInput, required_text
from shopops.customers.models import Customer
from shopops.orders.models import Order
from shopops.segments import queries
from shopops.segments.models import (
    CustomerMetrics,
    CustomerTag,
    MembershipChange,
    RfmChange,
    RfmClass,
    Segment,
    SegmentEvent,
    SegmentMember,
    Tag,
    TagSource,
)

STAGE_METRICS = "segments_stage_metrics"
STAGE_IDS = "segments_stage_ids"
# R, F, M are 高 when their score is at least this (of 1–5)
HIGH_SCORE = 3
CLASS_BY_HIGH = {
    (True, True, True): RfmClass.IMPORTANT_VALUE,
    (False, True, True): RfmClass.IMPORTANT_KEEP,
    (True, False, True): RfmClass.IMPORTANT_DEVELOP,
    (False, False, True): RfmClass.IMPORTANT_RETAIN,
    (True, True, False): RfmClass.GENERAL_VALUE,
    (False, True, False): RfmClass.GENERAL_KEEP,
    (True, False, False): RfmClass.GENERAL_DEVELOP,
    (False, False, False): RfmClass.GENERAL_RETAIN,
}


class TagIsAutomatic(Conflict):
    code = "tag_is_automatic"


class NameTaken(Conflict):
    code = "name_taken"


@dataclass(frozen=True)
class RefreshResult:
    members: int
    entered: int
    left: int


def _q(name: str) -> str:
    return connection.ops.quote_name(name)


def _at(moment: dt.datetime) -> Any:
    return connection.ops.adapt_datetimefield_value(moment)


def _score(column: str) -> str:
    """Quintile score 1–5 by rank among customers with a paid order: ties share the lowest rank (RANK),
    score = (rank − 1) × 5 ÷ n + 1 with integer division — pandas `rank(method="min")` then the same."""
    window = f"OVER (PARTITION BY has_paid ORDER BY {column})"
    return f"CASE WHEN has_paid = 1 THEN (RANK() {window} - 1) * 5 / COUNT(*) OVER (PARTITION BY has_paid) + 1 END"


def _class_case() -> str:
    whens = " ".join(
        f"WHEN r_score {'>=' if r else '<'} {HIGH_SCORE} AND f_score {'>=' if f else '<'} {HIGH_SCORE} "
        f"AND m_score {'>=' if m else '<'} {HIGH_SCORE} THEN '{value.value}'"
        for (r, f, m), value in CLASS_BY_HIGH.items()
    )
    return f"CASE WHEN has_paid = 0 THEN '{RfmClass.NO_ORDER.value}' {whens} END"


def _metrics_sql() -> str:
    orders, customers = _q(Order._meta.db_table), _q(Customer._meta.db_table)
    merged = "WHERE c.merged_into_id IS NULL" if hasattr(Customer, "merged_into") else ""
    paid = "o.paid_at IS NOT NULL"
    return f"""
    -- 客单价 = paid total ÷ paid orders in whole cents, rounded half up by integer arithmetic (no float)
    WITH agg AS (
        SELECT o.customer_id AS customer_id,
               COUNT(*) AS order_count,
               SUM(CASE WHEN {paid} THEN 1 ELSE 0 END) AS paid_order_count,
               SUM(CASE WHEN {paid} AND o.refunded_amount > 0 THEN 1 ELSE 0 END) AS refund_order_count,
               SUM(CASE WHEN {paid} THEN o.paid_amount ELSE 0 END) AS paid_total,
               SUM(CASE WHEN {paid} THEN o.refunded_amount ELSE 0 END) AS refunded_total,
               MIN(o.paid_at) AS first_paid_at,
               MAX(o.paid_at) AS last_paid_at
        FROM {orders} o
        WHERE o.customer_id IS NOT NULL AND o.is_test = %s
        GROUP BY o.customer_id
    ),
    base AS (
        SELECT c.id AS customer_id,
               COALESCE(a.order_count, 0) AS order_count,
               COALESCE(a.paid_order_count, 0) AS paid_order_count,
               COALESCE(a.refund_order_count, 0) AS refund_order_count,
               ROUND(COALESCE(a.paid_total, 0), 2) AS paid_total,
               ROUND(COALESCE(a.refunded_total, 0), 2) AS refunded_total,
               ROUND(COALESCE(a.paid_total, 0) - COALESCE(a.refunded_total, 0), 2) AS net_spend,
               CASE WHEN COALESCE(a.paid_order_count, 0) > 0
                    THEN ((CAST(ROUND(a.paid_total * 100) AS BIGINT) * 2 + a.paid_order_count)
                          / (2 * a.paid_order_count)) / 100.0
                    ELSE 0 END AS average_order_value,
               CASE WHEN COALESCE(a.paid_order_count, 0) > 0 THEN a.first_paid_at END AS first_paid_at,
               CASE WHEN COALESCE(a.paid_order_count, 0) > 0 THEN a.last_paid_at END AS last_paid_at,
               CASE WHEN COALESCE(a.paid_order_count, 0) > 0 THEN 1 ELSE 0 END AS has_paid
        FROM {customers} c LEFT JOIN agg a ON a.customer_id = c.id
        {merged}
    ),
    scored AS (
        SELECT base.*,
               {_score("last_paid_at")} AS r_score,
               {_score("paid_order_count")} AS f_score,
               {_score("net_spend")} AS m_score
        FROM base
    )
    SELECT customer_id, order_count, paid_order_count, refund_order_count, paid_total, refunded_total,
           net_spend, average_order_value, first_paid_at, last_paid_at, r_score, f_score, m_score,
           CASE WHEN has_paid = 1
                THEN 'R' || CAST(r_score AS VARCHAR(1)) || 'F' || CAST(f_score AS VARCHAR(1))
                     || 'M' || CAST(m_score AS VARCHAR(1))
                ELSE '' END AS rfm_code,
           {_class_case()} AS rfm_class
    FROM scored
    """


METRIC_COLUMNS = [
    "customer_id",
    "order_count",
    "paid_order_count",
    "refund_order_count",
    "paid_total",
    "refunded_total",
    "net_spend",
    "average_order_value",
    "first_paid_at",
    "last_paid_at",
    "r_score",
    "f_score",
    "m_score",
    "rfm_code",
    "rfm_class",
]


def _drop(cursor: Any, table: str) -> None:
    cursor.execute(f"DROP TABLE IF EXISTS {_q(table)}")


def refresh_metrics(*, actor: Any, now: dt.datetime | None = None) -> int:
    """Recompute every customer's metrics and RFM in one statement; record RFM changes; the number of rows."""
    now = now or timezone.now()
    metrics, changes = _q(CustomerMetrics._meta.db_table), _q(RfmChange._meta.db_table)
    stage = _q(STAGE_METRICS)
    columns = ", ".join(METRIC_COLUMNS)
    with transaction.atomic(), connection.cursor() as cursor:
        _drop(cursor, STAGE_METRICS)
        cursor.execute(f"CREATE TEMPORARY TABLE {stage} AS {_metrics_sql()}", [False])
        cursor.execute(
            f"""INSERT INTO {changes} (customer_id, from_code, to_code, from_class, to_class, changed_at)
            SELECT s.customer_id, COALESCE(m.rfm_code, ''), s.rfm_code, COALESCE(m.rfm_class, ''), s.rfm_class, %s
            FROM {stage} s JOIN {metrics} m ON m.customer_id = s.customer_id
            WHERE m.rfm_code <> s.rfm_code OR m.rfm_class <> s.rfm_class""",
            [_at(now)],
        )
        changed = cursor.rowcount
        cursor.execute(f"DELETE FROM {metrics}")
        cursor.execute(
            f"INSERT INTO {metrics} ({columns}, computed_at) SELECT {columns}, %s FROM {stage}", [_at(now)]
        )
        count = cursor.rowcount
        _drop(cursor, STAGE_METRICS)
        audit.record(
            actor=actor,
            action="segments.metrics_refreshed",
            changes={"customers": count, "rfm_changed": changed},
            object_repr="客户指标",
        )
    return count


def _stage_ids(cursor: Any, customers: QuerySet[Customer]) -> int:
    """Stage the ids of `customers` in a temporary table (indexed); how many."""
    sql, params = customers.order_by().values("id").query.sql_with_params()
    _drop(cursor, STAGE_IDS)
    cursor.execute(f"CREATE TEMPORARY TABLE {_q(STAGE_IDS)} AS SELECT r.id AS id FROM ({sql}) r", params)
    cursor.execute(f"CREATE INDEX {_q(STAGE_IDS + '_id')} ON {_q(STAGE_IDS)} (id)")
    cursor.execute(f"SELECT COUNT(*) FROM {_q(STAGE_IDS)}")
    return int(cursor.fetchone()[0])


def _sync_segment(cursor: Any, segment: Segment, rule: dict[str, Any], now: dt.datetime) -> RefreshResult:
    members, events, stage = _q(SegmentMember._meta.db_table), _q(SegmentEvent._meta.db_table), _q(STAGE_IDS)
    count = _stage_ids(cursor, queries.matching_customers(rule))
    at = _at(now)
    gone = f"NOT EXISTS (SELECT 1 FROM {stage} s WHERE s.id = m.customer_id)"
    cursor.execute(
        f"""INSERT INTO {events} (segment_id, customer_id, kind, at)
        SELECT m.segment_id, m.customer_id, %s, %s FROM {members} m WHERE m.segment_id = %s AND {gone}""",
        [MembershipChange.LEFT.value, at, segment.pk],
    )
    left = cursor.rowcount
    cursor.execute(
        f"""DELETE FROM {members} WHERE segment_id = %s
        AND NOT EXISTS (SELECT 1 FROM {stage} s WHERE s.id = {members}.customer_id)""",
        [segment.pk],
    )
    cursor.execute(
        f"""INSERT INTO {members} (segment_id, customer_id, entered_at)
        SELECT %s, s.id, %s FROM {stage} s
        WHERE NOT EXISTS (SELECT 1 FROM {members} m WHERE m.segment_id = %s AND m.customer_id = s.id)""",
        [segment.pk, at, segment.pk],
    )
    entered = cursor.rowcount
    cursor.execute(
        f"""INSERT INTO {events} (segment_id, customer_id, kind, at)
        SELECT segment_id, customer_id, %s, entered_at FROM {members} WHERE segment_id = %s AND entered_at = %s""",
        [MembershipChange.ENTERED.value, segment.pk, at],
    )
    _drop(cursor, STAGE_IDS)
    return RefreshResult(members=count, entered=entered, left=left)


def refresh_segment(*, segment_id: int, actor: Any, now: dt.datetime | None = None) -> RefreshResult:
    """Bring a segment's members up to date with its rule, writing who entered and who left."""
    now = now or timezone.now()
    with transaction.atomic():
        segment = Segment.objects.select_for_update().get(pk=segment_id)
        rule = queries.clean_rule(segment.rule)
        with connection.cursor() as cursor:
            result = _sync_segment(cursor, segment, rule, now)
        Segment.objects.filter(pk=segment.pk).update(member_count=result.members, refreshed_at=now)
        audit.record(
            actor=actor,
            action="segment.refreshed",
            instance=segment,
            changes={"members": result.members, "entered": result.entered, "left": result.left},
        )
    return result


def _sync_tag(cursor: Any, tag: Tag, rule: dict[str, Any], now: dt.datetime) -> RefreshResult:
    tagged, stage = _q(CustomerTag._meta.db_table), _q(STAGE_IDS)
    count = _stage_ids(cursor, queries.matching_customers(rule))
    cursor.execute(
        f"""DELETE FROM {tagged} WHERE tag_id = %s AND source = %s
        AND NOT EXISTS (SELECT 1 FROM {stage} s WHERE s.id = {tagged}.customer_id)""",
        [tag.pk, TagSource.RULE.value],
    )
    left = cursor.rowcount
    cursor.execute(
        f"""INSERT INTO {tagged} (tag_id, customer_id, source, added_at)
        SELECT %s, s.id, %s, %s FROM {stage} s
        WHERE NOT EXISTS (SELECT 1 FROM {tagged} t WHERE t.tag_id = %s AND t.customer_id = s.id)""",
        [tag.pk, TagSource.RULE.value, _at(now), tag.pk],
    )
    entered = cursor.rowcount
    _drop(cursor, STAGE_IDS)
    return RefreshResult(members=count, entered=entered, left=left)


def refresh_tag(*, tag_id: int, actor: Any, now: dt.datetime | None = None) -> RefreshResult:
    """Put an automatic tag on the customers its rule matches and take it off the others."""
    now = now or timezone.now()
    with transaction.atomic():
        tag = Tag.objects.select_for_update().get(pk=tag_id)
        if tag.rule is None:
            return RefreshResult(members=tag.customer_tags.count(), entered=0, left=0)
        rule = queries.clean_rule(tag.rule)
        with connection.cursor() as cursor:
            result = _sync_tag(cursor, tag, rule, now)
        audit.record(
            actor=actor,
            action="tag.refreshed",
            instance=tag,
            changes={"customers": result.members, "added": result.entered, "removed": result.left},
        )
    return result


def refresh_all(*, actor: Any) -> dict[str, int]:
    """Metrics and RFM, then the automatic tags, then the segments refreshed on schedule."""
    now = timezone.now()
    customers = refresh_metrics(actor=actor, now=now)
    tags = 0
    for tag_id in Tag.objects.filter(is_active=True, rule__isnull=False).values_list("pk", flat=True):
        refresh_tag(tag_id=tag_id, actor=actor, now=now)
        tags += 1
    segments = 0
    for segment_id in Segment.objects.filter(is_active=True).values_list("pk", flat=True):
        refresh_segment(segment_id=segment_id, actor=actor, now=now)
        segments += 1
    return {"customers": customers, "tags": tags, "segments": segments}


def _name(value: str | None, *, label: str, max_length: int) -> str:
    return required_text(value, field="name", label=label, max_length=max_length)


def _description(value: str | None, max_length: int) -> str:
    text = (value or "").strip()
    if len(text) > max_length:
        raise InvalidInput(
            f"说明不能超过 {max_length} 个字符", fields={"description": f"最多 {max_length} 个字符"}
        )
    return text


def clean_rule_field(rule: Any) -> dict[str, Any]:
    """The cleaned rule; errors name their field under `rule.` (as the API and forms send it)."""
    try:
        return queries.clean_rule(rule)
    except InvalidInput as error:
        error.fields = {f"rule.{key}" if key != "rule" else key: value for key, value in error.fields.items()}
        raise


def create_segment(
    *, name: str, rule: Any, actor: Any, description: str = "", is_active: bool = True
) -> Segment:
    """Save a new segment and fill its members at once."""
    clean_name = _name(name, label="人群名称", max_length=60)
    cleaned = clean_rule_field(rule)
    with transaction.atomic():
        if Segment.objects.filter(name=clean_name).exists():
            raise NameTaken(f"人群“{clean_name}”已存在", fields={"name": "名称已被使用"})
        segment = Segment.objects.create(
            name=clean_name,
            description=_description(description, 300),
            rule=cleaned,
            is_active=is_active,
            created_by=audit.user_or_none(actor),
        )
        audit.record(actor=actor, action="segment.created", instance=segment, before={})
        refresh_segment(segment_id=segment.pk, actor=actor)
    segment.refresh_from_db()
    return segment


def update_segment(
    *,
    segment_id: int,
    actor: Any,
    name: str | None = None,
    rule: Any = None,
    description: str | None = None,
    is_active: bool | None = None,
) -> Segment:
    """Change a segment's name, rule or schedule; a changed rule refreshes its members at once."""
    with transaction.atomic():
        segment = Segment.objects.select_for_update().get(pk=segment_id)
        before = audit.snapshot(segment)
        if name is not None:
            clean_name = _name(name, label="人群名称", max_length=60)
            if Segment.objects.filter(name=clean_name).exclude(pk=segment.pk).exists():
                raise NameTaken(f"人群“{clean_name}”已存在", fields={"name": "名称已被使用"})
            segment.name = clean_name
        if description is not None:
            segment.description = _description(description, 300)
        if is_active is not None:
            segment.is_active = is_active
        rule_changed = False
        if rule is not None:
            cleaned = clean_rule_field(rule)
            rule_changed = cleaned != segment.rule
            segment.rule = cleaned
        segment.save()
        audit.record(actor=actor, action="segment.updated", instance=segment, before=before)
        if rule_changed:
            refresh_segment(segment_id=segment.pk, actor=actor)
    segment.refresh_from_db()
    return segment


def delete_segment(*, segment_id: int, actor: Any) -> None:
    with transaction.atomic():
        segment = Segment.objects.select_for_update().get(pk=segment_id)
        audit.record(
            actor=actor, action="segment.deleted", instance=segment, after={}, before=audit.snapshot(segment)
        )
        segment.delete()


def create_tag(*, name: str, actor: Any, description: str = "", rule: Any = None) -> Tag:
    """A manual tag, or an automatic one when a rule is given (applied at once)."""
    clean_name = _name(name, label="标签名", max_length=40)
    cleaned = clean_rule_field(rule) if rule is not None else None
    with transaction.atomic():
        if Tag.objects.filter(name=clean_name).exists():
            raise NameTaken(f"标签“{clean_name}”已存在", fields={"name": "名称已被使用"})
        tag = Tag.objects.create(name=clean_name, description=_description(description, 200), rule=cleaned)
        audit.record(actor=actor, action="tag.created", instance=tag, before={})
        if cleaned is not None:
            refresh_tag(tag_id=tag.pk, actor=actor)
    return tag


def update_tag(
    *,
    tag_id: int,
    actor: Any,
    name: str | None = None,
    description: str | None = None,
    is_active: bool | None = None,
) -> Tag:
    with transaction.atomic():
        tag = Tag.objects.select_for_update().get(pk=tag_id)
        before = audit.snapshot(tag)
        if name is not None:
            clean_name = _name(name, label="标签名", max_length=40)
            if Tag.objects.filter(name=clean_name).exclude(pk=tag.pk).exists():
                raise NameTaken(f"标签“{clean_name}”已存在", fields={"name": "名称已被使用"})
            tag.name = clean_name
        if description is not None:
            tag.description = _description(description, 200)
        if is_active is not None:
            tag.is_active = is_active
        tag.save()
        audit.record(actor=actor, action="tag.updated", instance=tag, before=before)
    return tag


def delete_tag(*, tag_id: int, actor: Any) -> None:
    with transaction.atomic():
        tag = Tag.objects.select_for_update().get(pk=tag_id)
        audit.record(actor=actor, action="tag.deleted", instance=tag, before=audit.snapshot(tag), after={})
        tag.delete()


def add_customer_tag(*, customer_id: int, tag_id: int, actor: Any) -> CustomerTag:
    """Put a manual tag on a customer (automatic tags are kept by their rule)."""
    with transaction.atomic():
        tag = Tag.objects.select_for_update().get(pk=tag_id)
        if tag.is_automatic:
            raise TagIsAutomatic(
                f"“{tag.name}”是自动标签，由规则维护", fields={"tag_id": "自动标签不能手动添加"}
            )
        existing = CustomerTag.objects.filter(customer_id=customer_id, tag=tag).first()
        if existing is not None:
            return existing
        try:
            with transaction.atomic():
                tagged = CustomerTag.objects.create(
                    customer_id=customer_id,
                    tag=tag,
                    source=TagSource.MANUAL,
                    added_at=timezone.now(),
                    added_by=audit.user_or_none(actor),
                )
        except IntegrityError:
            return CustomerTag.objects.get(customer_id=customer_id, tag=tag)
        audit.record(
            actor=actor,
            action="customer.tagged",
            instance=Customer.objects.get(pk=customer_id),
            changes={"tag": [None, tag.name]},
        )
    return tagged


def remove_customer_tag(*, customer_id: int, tag_id: int, actor: Any) -> bool:
    """Take a manual tag off a customer; False when it was not there."""
    with transaction.atomic():
        tag = Tag.objects.select_for_update().get(pk=tag_id)
        if tag.is_automatic:
            raise TagIsAutomatic(
                f"“{tag.name}”是自动标签，由规则维护", fields={"tag_id": "自动标签不能手动移除"}
            )
        deleted, _rows = CustomerTag.objects.filter(customer_id=customer_id, tag=tag).delete()
        if deleted:
            audit.record(
                actor=actor,
                action="customer.untagged",
                instance=Customer.objects.get(pk=customer_id),
                changes={"tag": [tag.name, None]},
            )
    return bool(deleted)
