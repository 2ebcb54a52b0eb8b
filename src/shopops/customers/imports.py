"""Customers and members (会员) from CSV/XLSX with Chinese headers, built on core's import engine.

Headers: 姓名, 手机号, 邮箱, 平台, 买家账号, 生日, 备注 (aliases accepted). A row needs a 买家账号 (with its
平台) or a usable 手机号. Matching, so that importing the same file twice changes nothing: by platform +
buyer id (stored as `services.platform_buyer_id`: an e-mail or phone buyer id is kept as its keyed
hash), else by phone hash among live profiles, else a new profile. A filled cell sets the field when it
differs; an empty cell leaves it alone. 备注 adds a note unless the profile has that note already. A buyer
id new to a matched profile becomes one more identity of it; a buyer id that belongs to another profile
than the phone's is a row error (that is a merge for a person to decide, not for an import).

Audit: one `customers.imported` entry per file (counts, file name, SHA-256) and one
`customer.updated` entry per changed profile.
"""

from __future__ import annotations

import datetime as dt
import os
import re
from pathlib import Path
from typing import IO, Any

from django.utils import timezone

from shopops.core import audit, tabular
from shopops.core.permissions import check_permission
from shopops.core.tabular import Action, Column, ImportResult, TableRow
from shopops.customers.models import Customer, CustomerAccount, CustomerNote, identity_kind
from shopops.customers.services import _EMAIL, normalize_phone, phone_hash, platform_buyer_id

IMPORT_REASON = "导入"
PLATFORMS = {
    "淘宝": "taobao",
    "taobao": "taobao",
    "天猫": "tmall",
    "tmall": "tmall",
    "京东": "jd",
    "jd": "jd",
    "拼多多": "pdd",
    "pdd": "pdd",
    "抖音": "douyin",
    "抖店": "douyin",
    "douyin": "douyin",
    "Shopify": "shopify",
    "自营": "own",
    "自营网店": "own",
    "自营商城": "own",
    "own": "own",
}
_DATE = re.compile(r"^(\d{4})[-/.年](\d{1,2})[-/.月](\d{1,2})日?(?:[ T]00:00(?::00)?)?$")


def parse_phone(text: str) -> str:
    if not normalize_phone(text):
        raise ValueError(f"“{text}”不是可用的手机号（隐私号、打码号不能识别客户）")
    return text.strip()[:30]


def parse_email(text: str) -> str:
    if not _EMAIL.match(text) or len(text) > 200:
        raise ValueError(f"“{text}”不是有效的邮箱地址")
    return text


def parse_birthday(text: str) -> dt.date:
    found = _DATE.match(text.strip())
    try:
        if found is None:
            raise ValueError
        day = dt.date(int(found.group(1)), int(found.group(2)), int(found.group(3)))
    except ValueError:
        raise ValueError(f"“{text}”不是有效日期，应写成 1990-05-20") from None
    if day > timezone.localdate() or day.year < 1900:
        raise ValueError(f"“{text}”不是合理的生日")
    return day


COLUMNS: tuple[Column, ...] = (
    Column("name", "姓名", ("昵称", "会员姓名", "客户姓名", "name"), parser=tabular.text_parser(100)),
    Column("phone", "手机号", ("手机", "手机号码", "联系电话", "phone", "mobile"), parser=parse_phone),
    Column("email", "邮箱", ("电子邮箱", "email", "e-mail"), parser=parse_email),
    Column("platform", "平台", ("渠道", "来源平台", "platform"), parser=tabular.choice_parser(PLATFORMS)),
    Column(
        "buyer_id",
        "买家账号",
        ("买家会员名", "会员名", "买家ID", "下单帐号", "下单账号", "buyer id", "buyer_id"),
        parser=tabular.identifier_parser(100),
    ),
    Column("birthday", "生日", ("出生日期", "birthday"), parser=parse_birthday),
    Column("note", "备注", ("客户备注", "note"), parser=tabular.text_parser(1000)),
)
HEADERS = tuple(column.name for column in COLUMNS)
PROFILE_FIELDS = ("name", "phone", "email", "birthday")


class CustomerImporter(tabular.RowImporter):
    columns = COLUMNS

    def __init__(self, *, actor: Any) -> None:
        self.actor = actor
        self.user = audit.user_or_none(actor)

    def check_header(self, present: set[str]) -> None:
        if "buyer_id" not in present and "phone" not in present:
            raise tabular.ImportRefused(
                "文件须有“买家账号”或“手机号”列，用来识别客户", fields={"file": "缺少买家账号/手机号列"}
            )

    def process(self, rows: list[TableRow]) -> None:
        for row in rows:
            if row.is_valid:
                self._process_row(row)

    def _match(self, row: TableRow) -> tuple[Customer | None, str, str]:
        """The profile for the row (None: a new one), the stored buyer id and the phone hash."""
        platform, raw_id = row.get("platform"), row.get("buyer_id")
        stored = platform_buyer_id(raw_id) if raw_id else ""
        hashed = phone_hash(row.get("phone")) if row.get("phone") else ""
        if raw_id and not platform:
            row.add_error("platform", "填写了买家账号时须填写平台")
        if not stored and not hashed:
            row.add_error("buyer_id", "须有买家账号或手机号，用来识别客户")
        if not row.is_valid:
            return None, stored, hashed
        by_account = None
        if stored:
            account = (
                CustomerAccount.objects.filter(platform=platform, buyer_id=stored)
                .select_related("customer")
                .first()
            )
            by_account = account.customer if account else None
            while by_account is not None and by_account.merged_into_id is not None:
                by_account = by_account.merged_into
        by_phone = None
        if hashed:
            by_phone = (
                Customer.objects.filter(phone_hash=hashed, merged_into__isnull=True).order_by("pk").first()
            )
        if by_account is not None and by_phone is not None and by_account.pk != by_phone.pk:
            row.add_error(
                "buyer_id",
                f"买家账号属于客户 #{by_account.pk}，手机号属于客户 #{by_phone.pk}：是否同一人请在合并建议中处理",
            )
            return None, stored, hashed
        return by_account or by_phone, stored, hashed

    def _process_row(self, row: TableRow) -> None:
        customer, stored, hashed = self._match(row)
        if not row.is_valid:
            return
        values = {name: row.get(name) for name in PROFILE_FIELDS if row.get(name) is not None}
        if hashed:
            values["phone_hash"] = hashed
        created = customer is None
        if customer is None:
            customer = Customer.objects.create(**values)
            row.changes = {
                name: [None, "***" if name in Customer.PII_FIELDS else str(value)]
                for name, value in values.items()
                if name != "phone_hash"
            }
        else:
            before = audit.snapshot(customer)
            changed = [name for name, value in values.items() if getattr(customer, name) != value]
            if changed:
                for name in changed:
                    setattr(customer, name, values[name])
                customer.save(update_fields=[*changed, "updated_at"])
                changes = audit.diff(before, audit.snapshot(customer))
                changes.pop("updated_at", None)
                audit.record(
                    actor=self.actor,
                    action="customer.updated",
                    instance=customer,
                    changes=changes,
                    reason=IMPORT_REASON,
                )
                row.changes = {
                    name: ["***", "***"] if name in Customer.PII_FIELDS else [str(value) for value in pair]
                    for name, pair in changes.items()
                    if name != "phone_hash"
                }
        touched = created or bool(row.changes)
        if (
            stored
            and not CustomerAccount.objects.filter(platform=row.get("platform"), buyer_id=stored).exists()
        ):
            platform = row.get("platform")
            CustomerAccount.objects.create(
                customer=customer, platform=platform, kind=identity_kind(platform), buyer_id=stored
            )
            row.changes["identity"] = [None, platform]
            touched = True
        note = row.get("note")
        if note and not CustomerNote.objects.filter(customer=customer, text=note).exists():
            CustomerNote.objects.create(customer=customer, text=note, author=self.user)
            row.changes["note"] = [None, note]
            touched = True
        row.key = f"#{customer.pk}"
        row.action = Action.CREATED if created else Action.UPDATED if touched else Action.UNCHANGED

    def finish(self, result: ImportResult) -> None:
        audit.record(
            actor=self.actor,
            action="customers.imported",
            changes={
                **result.counts(),
                "filename": result.filename,
                "sha256": result.sha256,
                "mode": result.mode,
            },
            object_repr=result.filename,
            reason=IMPORT_REASON,
        )


def import_customers(
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
    """Import customer profiles; `actor` is a user (who needs add and change customer) or a name such as
    "cli:root". Refuses the whole file with `tabular.ImportRefused`."""
    if getattr(actor, "is_authenticated", False):
        for permission in ("customers.add_customer", "customers.change_customer"):
            check_permission(actor, permission)
    name = filename or (Path(os.fspath(source)).name if isinstance(source, str | os.PathLike) else "upload")
    return tabular.run_import(
        source=source,
        filename=name,
        importer=CustomerImporter(actor=actor),
        mode=mode,
        dry_run=dry_run,
        file_format=file_format,
        sheet=sheet,
        progress=progress,
    )


IMPORT_KINDS = {"customers": import_customers}
