"""Personal-data requests (PIPL art. 44–47) and retention: every write of privacy, audited.

A request moves 已受理 → 核验身份 → 处理中 → 已完成, or to 已拒绝 (with a reason) from any open step
(REQUEST_TRANSITIONS). Completing it does what was asked: a copy of the person's data gathered from every
app's `personal_data.export` into a private zip (JSON + XLSX), a correction through the customers'
writer, or a deletion that anonymises the person through every app's `personal_data.anonymise` while
the transaction records and every metric stay. The retention rule anonymises customers whose last
order is older than the configured period, the same way.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.files.base import ContentFile
from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone, translation

from shopops.aftersales.models import OPEN_CASE_STATUSES, AfterSaleCase
from shopops.core import audit
from shopops.core.errors import Conflict, InvalidInput, NotFound, required_text
from shopops.core.extensions import call_all
from shopops.core.pii import PIIKind, mask
from shopops.customers import personal_data as customer_data
from shopops.customers.models import Customer, CustomerAccount
from shopops.customers.services import phone_hash, platform_buyer_id
from shopops.orders.models import OPEN_STATUSES, Order
from shopops.privacy.models import (
    CORRECTABLE_FIELDS,
    REQUEST_TRANSITIONS,
    Erasure,
    ErasureReason,
    PersonalDataRequest,
    RequestChannel,
    RequestKind,
    RequestStatus,
)

DEFAULT_DUE_DAYS = 15
DEFAULT_RETENTION_DAYS = 3 * 365
EXPORT_BASENAME = "personal-data"


def due_days() -> int:
    """Days a request may take (PIPL asks for a timely answer; 15 days is the common commitment)."""
    return int(getattr(settings, "PRIVACY_REQUEST_DUE_DAYS", DEFAULT_DUE_DAYS))


def retention_days() -> int:
    """Days after a customer's last order (or creation, without orders) before their data is anonymised."""
    return int(getattr(settings, "PRIVACY_RETENTION_DAYS", DEFAULT_RETENTION_DAYS))


def find_customer(*, customer_id: int | None = None, phone: str = "", buyer_id: str = "") -> Customer:
    """The customer a request is about: by profile id, by phone (through its keyed hash) or by platform
    buyer id; NotFound otherwise."""
    customer: Customer | None = None
    if customer_id:
        customer = Customer.objects.filter(pk=customer_id).first()
    elif phone.strip():
        hashed = phone_hash(phone)
        if not hashed:
            raise InvalidInput(
                "手机号无法识别（虚拟号或打码号不能用来查找客户）", fields={"phone": "请填写完整手机号"}
            )
        customer = Customer.objects.filter(phone_hash=hashed).order_by("pk").first()
    elif buyer_id.strip():
        wanted = {buyer_id.strip(), platform_buyer_id(buyer_id)}
        account = CustomerAccount.objects.filter(buyer_id__in=wanted).order_by("pk").first()
        customer = account.customer if account else None
    else:
        raise InvalidInput("请填写客户的手机号、平台买家ID或客户编号", fields={"customer": "必填其一"})
    if customer is None:
        raise NotFound("没有找到这位客户", fields={"customer": "不存在"})
    return customer


def _clean_corrections(kind: str, corrections: dict[str, Any] | None) -> dict[str, Any]:
    values = {key: value for key, value in (corrections or {}).items() if value not in (None, "")}
    if kind != RequestKind.CORRECT:
        return {}
    unknown = sorted(set(values) - set(CORRECTABLE_FIELDS))
    if unknown:
        raise InvalidInput("只能更正姓名、手机号、邮箱和生日", fields=dict.fromkeys(unknown, "不可更正"))
    if not values:
        raise InvalidInput("更正请求须填写要更正的内容", fields={"corrections": "至少填写一项"})
    if "birthday" in values:
        try:
            values["birthday"] = dt.date.fromisoformat(str(values["birthday"])).isoformat()
        except ValueError as error:
            raise InvalidInput(
                "生日格式应为 YYYY-MM-DD", fields={"birthday": "格式应为 YYYY-MM-DD"}
            ) from error
    return {key: str(value).strip() for key, value in values.items()}


def create_request(
    *,
    actor: Any,
    kind: str,
    channel: str,
    requester: str,
    customer: Customer,
    requester_contact: str = "",
    received_at: dt.datetime | None = None,
    corrections: dict[str, Any] | None = None,
    note: str = "",
) -> PersonalDataRequest:
    """Register a request (已受理) with its due date; audited."""
    if kind not in RequestKind.values:
        raise InvalidInput("请求类型无效", fields={"kind": "须为 查阅复制、更正 或 删除"})
    if channel not in RequestChannel.values:
        raise InvalidInput("受理渠道无效", fields={"channel": "请选择受理渠道"})
    requester = required_text(requester, field="requester", label="请求人", max_length=100)
    received = received_at or timezone.now()
    if received > timezone.now() + dt.timedelta(minutes=5):
        raise InvalidInput("受理时间不能晚于现在", fields={"received_at": "不能是将来的时间"})
    with transaction.atomic():
        request = PersonalDataRequest.objects.create(
            kind=kind,
            channel=channel,
            requester=requester,
            requester_contact=(requester_contact or "").strip()[:100],
            customer=customer,
            received_at=received,
            due_at=received + dt.timedelta(days=due_days()),
            corrections=_clean_corrections(kind, corrections),
            note=(note or "").strip()[:500],
            created_by=audit.user_or_none(actor),
        )
        audit.record(actor=actor, action="personal_data_request.received", instance=request, before={})
    return request


def _locked(request_id: int) -> PersonalDataRequest:
    request = PersonalDataRequest.objects.select_for_update().filter(pk=request_id).first()
    if request is None:
        raise NotFound("个人信息请求不存在", fields={"request_id": "不存在"})
    return request


def _move(request: PersonalDataRequest, status: str) -> None:
    if status not in REQUEST_TRANSITIONS[request.status]:
        current = RequestStatus(request.status).label
        raise Conflict(
            f"请求当前为“{current}”，不能改为“{RequestStatus(status).label}”",
            fields={"status": str(current)},
            code="request_wrong_status",
        )
    request.status = status


def _step(
    *, actor: Any, request_id: int, status: str, action: str, reason: str = "", apply: Any = None
) -> PersonalDataRequest:
    with transaction.atomic():
        request = _locked(request_id)
        before = audit.snapshot(request)
        _move(request, status)
        if apply is not None:
            apply(request)
        request.save()
        changes = audit.diff(before, audit.snapshot(request))
        changes.pop("updated_at", None)
        audit.record(actor=actor, action=action, instance=request, changes=changes, reason=reason)
    return request


def start_verification(*, actor: Any, request_id: int) -> PersonalDataRequest:
    """已受理 → 核验身份: someone is checking that the requester is the person."""
    return _step(
        actor=actor,
        request_id=request_id,
        status=RequestStatus.VERIFYING,
        action="personal_data_request.verifying",
    )


def confirm_identity(*, actor: Any, request_id: int, method: str) -> PersonalDataRequest:
    """核验身份 → 处理中, recording how the identity was verified (e.g. 下单手机号短信验证码)."""
    method = required_text(method, field="method", label="身份核验方式", max_length=200)

    def apply(request: PersonalDataRequest) -> None:
        request.identity_method = method
        request.identity_verified_at = timezone.now()
        request.identity_verified_by = audit.user_or_none(actor)

    return _step(
        actor=actor,
        request_id=request_id,
        status=RequestStatus.PROCESSING,
        action="personal_data_request.identity_verified",
        apply=apply,
    )


def reject_request(*, actor: Any, request_id: int, reason: str) -> PersonalDataRequest:
    """Any open step → 已拒绝, with the reason told to the person."""
    reason = required_text(reason, field="reason", label="拒绝原因", max_length=300)

    def apply(request: PersonalDataRequest) -> None:
        request.rejection_reason = reason
        request.completed_at = timezone.now()
        request.handled_by = audit.user_or_none(actor)

    return _step(
        actor=actor,
        request_id=request_id,
        status=RequestStatus.REJECTED,
        action="personal_data_request.rejected",
        reason=reason,
        apply=apply,
    )


def gather(customer: Customer) -> dict[str, list[dict[str, str]]]:
    """Every app's sections about the customer (app order), labels in Chinese."""
    sections: dict[str, list[dict[str, str]]] = {}
    with translation.override("zh-hans"):
        for part in call_all("personal_data", "export", customer):
            sections.update(part)
    return sections


def _sheet_name(title: str, used: set[str]) -> str:
    base = "".join(character for character in title if character not in "[]:*?/\\")[:28] or "Sheet"
    name, number = base, 2
    while name in used:
        name, number = f"{base}{number}", number + 1
    used.add(name)
    return name


def export_archive(sections: dict[str, list[dict[str, str]]]) -> bytes:
    """A zip of the sections as JSON and as an XLSX workbook (one sheet per section)."""
    import xlsxwriter

    workbook_bytes = io.BytesIO()
    workbook = xlsxwriter.Workbook(
        workbook_bytes, {"strings_to_numbers": False, "strings_to_formulas": False}
    )
    bold = workbook.add_format({"bold": True})
    used: set[str] = set()
    for title, rows in sections.items():
        sheet = workbook.add_worksheet(_sheet_name(title, used))
        headers = list(dict.fromkeys(key for row in rows for key in row))
        sheet.write_row(0, 0, headers, bold)
        for number, row in enumerate(rows, start=1):
            for position, header in enumerate(headers):
                sheet.write_string(number, position, str(row.get(header, "")))
    workbook.close()
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as bundle:
        bundle.writestr(f"{EXPORT_BASENAME}.json", json.dumps(sections, ensure_ascii=False, indent=2))
        bundle.writestr(f"{EXPORT_BASENAME}.xlsx", workbook_bytes.getvalue())
    return archive.getvalue()


@dataclass(frozen=True)
class DeletionBlock:
    open_cases: int
    open_orders: int

    @property
    def message(self) -> str:
        parts = []
        if self.open_cases:
            parts.append(f"{self.open_cases} 个售后单尚未处理完")
        if self.open_orders:
            parts.append(f"{self.open_orders} 个订单尚未发货完成")
        return "客户还有" + "、".join(parts) + "，处理完后才能删除个人信息"


def deletion_block(customer: Customer) -> DeletionBlock | None:
    """Why the person's data cannot be anonymised yet (open after-sales cases or unshipped orders still
    need the name, phone and address), or None."""
    cases = AfterSaleCase.objects.filter(order__customer=customer, status__in=OPEN_CASE_STATUSES).count()
    orders = Order.objects.filter(customer=customer, status__in=OPEN_STATUSES).count()
    return DeletionBlock(cases, orders) if cases or orders else None


def anonymise_customer(
    *, actor: Any, customer: Customer, reason: str, request: PersonalDataRequest | None = None
) -> int:
    """Anonymise one customer everywhere (every app's `personal_data.anonymise`), audited and recorded as
    an Erasure; rows changed. Idempotent: a second run changes nothing and returns 0."""
    with transaction.atomic():
        block = deletion_block(customer)
        if block is not None:
            raise Conflict(
                block.message, fields={"customer": block.message}, code="customer_has_open_business"
            )
        changed = sum(int(rows) for rows in call_all("personal_data", "anonymise", customer))
        erasure, created = Erasure.objects.get_or_create(
            customer=customer, defaults={"reason": reason, "request": request, "rows_changed": changed}
        )
        if not created and changed:
            Erasure.objects.filter(pk=erasure.pk).update(rows_changed=erasure.rows_changed + changed)
        if changed or created:
            audit.record(
                actor=actor,
                action="customer.anonymised",
                instance=customer,
                changes={"rows_changed": [0, changed], "reason": ["", reason]},
                reason=str(ErasureReason(reason).label),
            )
    return changed


def _complete(actor: Any, request: PersonalDataRequest) -> None:
    customer = request.customer
    if request.kind == RequestKind.ACCESS:
        content = export_archive(gather(customer))
        request.export_sha256 = hashlib.sha256(content).hexdigest()
        request.export_file.save(f"{EXPORT_BASENAME}.zip", ContentFile(content), save=False)
        request.result = f"已生成个人信息副本（{len(content) // 1024 + 1} KB）"
    elif request.kind == RequestKind.CORRECT:
        changed = customer_data.correct(
            actor=actor,
            customer=customer,
            changes=dict(request.corrections),
            reason=f"个人信息请求 #{request.pk}",
        )
        request.corrections = dict.fromkeys(
            request.corrections, ""
        )  # the new values live in the profile only
        request.result = f"已更正 {len(changed)} 项" if changed else "资料与请求一致，无需更正"
    else:
        rows = anonymise_customer(
            actor=actor, customer=customer, reason=ErasureReason.REQUEST, request=request
        )
        request.result = f"已匿名化 {rows} 条记录，交易记录与统计数据保留"
        # the request itself keeps only what proves it was answered
        request.requester = mask(PIIKind.NAME, request.requester)
        request.requester_contact = ""
    request.completed_at = timezone.now()
    request.handled_by = audit.user_or_none(actor)


def complete_request(*, actor: Any, request_id: int) -> PersonalDataRequest:
    """处理中 → 已完成, doing what the person asked (copy, correction or deletion) in the same transaction."""
    return _step(
        actor=actor,
        request_id=request_id,
        status=RequestStatus.COMPLETED,
        action="personal_data_request.completed",
        apply=lambda request: _complete(actor, request),
    )


def open_export(*, actor: Any, request_id: int) -> tuple[Any, str]:
    """The export file of a completed copy request, opened for download (audited), and its file name."""
    request = PersonalDataRequest.objects.filter(pk=request_id).first()
    if request is None:
        raise NotFound("个人信息请求不存在", fields={"request_id": "不存在"})
    if (
        request.kind != RequestKind.ACCESS
        or request.status != RequestStatus.COMPLETED
        or not request.export_file
    ):
        raise Conflict("这个请求没有可下载的导出文件", code="no_export_file")
    handle = request.export_file.open("rb")
    audit.record(actor=actor, action="personal_data_request.export_downloaded", instance=request, changes={})
    return handle, f"{EXPORT_BASENAME}-{request.pk}.zip"


def retention_candidates(now: dt.datetime | None = None) -> QuerySet[Customer]:
    """Customers past the retention period: last order (or, without orders, creation) before the cutoff,
    not anonymised yet."""
    cutoff = (now or timezone.now()) - dt.timedelta(days=retention_days())
    inactive = Q(last_order_at__lt=cutoff) | Q(last_order_at__isnull=True, created_at__lt=cutoff)
    return Customer.objects.filter(inactive, erasure__isnull=True).order_by("pk")


@dataclass(frozen=True)
class RetentionResult:
    due: int
    anonymised: int
    skipped: int
    rows_changed: int


def apply_retention(*, actor: Any, dry_run: bool = False, now: dt.datetime | None = None) -> RetentionResult:
    """Anonymise every customer past the retention period (one transaction each); with `dry_run` only
    count them. Customers with open business (rare after years) are skipped and counted."""
    candidates: Iterable[Customer] = retention_candidates(now)
    due = anonymised = skipped = rows = 0
    for customer in candidates.iterator() if isinstance(candidates, QuerySet) else candidates:
        due += 1
        if dry_run:
            continue
        if deletion_block(customer) is not None:
            skipped += 1
            continue
        rows += anonymise_customer(actor=actor, customer=customer, reason=ErasureReason.RETENTION)
        anonymised += 1
    return RetentionResult(due=due, anonymised=anonymised, skipped=skipped, rows_changed=rows)
