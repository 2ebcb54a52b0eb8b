"""Imports into analytics: platform traffic reports, ad spend, and web server access logs.

Platform traffic reports are the daily exports of 生意参谋 (Taobao/Tmall), 京东商智 and the 拼多多 merchant
backend, per shop or per product; ad spend comes from 直通车 / 万相台 / 京东快车 / 多多搜索 / 巨量千川
campaign reports. Both are upserts on their natural key — (shop, day, product) for traffic, (shop, day,
ad channel, campaign) for spend — so importing the same file again changes nothing (every row is
"unchanged"), and a corrected export overwrites the figures it carries. A column the file leaves out
keeps the stored value; an empty cell clears an optional figure (加购人数, 跳失率 …) and counts as 0 for
the figures every report has (访客数, 浏览量, 支付买家数, 支付金额).

Built on `core.tabular` (CSV in UTF-8 or GB18030, XLSX, header aliases, per-row errors, the two modes,
dry run). Audit: one `analytics.traffic_imported` / `analytics.ad_spend_imported` entry per file, plus
one `trafficreport.updated` / `adspend.updated` entry per record the file changed.
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import IO, Any

from django.contrib.contenttypes.models import ContentType
from django.db import models
from django.utils import timezone

from shopops.analytics.models import AdSpend, CollectSite, TrafficReport
from shopops.channels.models import Shop
from shopops.channels.queries import shop_by_code_or_id
from shopops.core import audit, tabular
from shopops.core.errors import InvalidInput, NotFound
from shopops.core.models import AuditEntry
from shopops.core.permissions import check_permission
from shopops.core.tabular import Column, ImportRefused, ImportResult, TableRow

BATCH_SIZE = 500
TRAFFIC_PERMISSIONS = ("analytics.add_trafficreport", "analytics.change_trafficreport")
AD_SPEND_PERMISSIONS = ("analytics.add_adspend", "analytics.change_adspend")
DATE_PATTERNS = (
    re.compile(r"^(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})(?:[ T].*)?$"),
    re.compile(r"^(\d{4})年(\d{1,2})月(\d{1,2})日?$"),
    re.compile(r"^(\d{4})(\d{2})(\d{2})$"),
)
EXCEL_SERIAL = re.compile(r"^[2-7]\d{4}(\.0+)?$")  # 1954-10-03 … 2173-10-14
EXCEL_EPOCH = dt.date(1899, 12, 30)
DURATION_PATTERN = re.compile(r"^(?:(\d+):)?(\d{1,2}):(\d{1,2}(?:\.\d+)?)$")
RATE_LIMIT = Decimal(1)


# Cells.


def parse_day(text: str) -> dt.date:
    """2026-11-23, 2026/11/23, 2026.11.23, 2026年11月23日, 20261123 (a time after the date is ignored),
    or an Excel date serial (a date cell that lost its date format)."""
    if EXCEL_SERIAL.match(text.strip()):
        return EXCEL_EPOCH + dt.timedelta(days=int(float(text)))
    for pattern in DATE_PATTERNS:
        match = pattern.match(text.strip())
        if match:
            year, month, day = (int(part) for part in match.groups())
            try:
                return dt.date(year, month, day)
            except ValueError:
                break
    raise ValueError(f"“{text}”不是有效日期，应为 2026-11-23 这样的日期")


def parse_count(text: str) -> int:
    number = tabular.parse_int(text)
    if number < 0:
        raise ValueError("不能为负数")
    if number >= 2**31:
        raise ValueError("数值过大")
    return number


def parse_big_count(text: str) -> int:
    number = tabular.parse_int(text)
    if number < 0:
        raise ValueError("不能为负数")
    if number >= 2**63:
        raise ValueError("数值过大")
    return number


def parse_rate(text: str) -> Decimal:
    """A share as a fraction with 4 decimals: `45.2%` and `0.452` → 0.4520; `45.2` (no %) → 0.4520."""
    compact = text.strip()
    is_percent = compact.endswith(("%", "％"))
    number = tabular.parse_decimal(compact.rstrip("%％"))
    if is_percent or number > RATE_LIMIT:
        number = number / 100
    if not 0 <= number <= RATE_LIMIT:
        raise ValueError(f"“{text}”不是 0–100% 之间的比例")
    return number.quantize(Decimal("0.0001"))


def parse_seconds(text: str) -> Decimal:
    """Seconds: `35.5`, `35.5秒`, `00:01:23` or `1:23` (minutes:seconds)."""
    compact = text.strip().removesuffix("秒").removesuffix("s").strip()
    match = DURATION_PATTERN.match(compact)
    if match:
        hours, minutes, seconds = match.groups()
        value = int(hours or 0) * 3600 + int(minutes) * 60 + Decimal(seconds)
    else:
        value = tabular.parse_decimal(compact)
    if value < 0:
        raise ValueError("不能为负数")
    return Decimal(value).quantize(Decimal("0.01"))


def ignored(text: str) -> None:
    """A column platforms export that is derived from others (转化率, 点击率, ROI): recognised, not stored."""
    return


# Columns. Aliases: 生意参谋 (Taobao/Tmall), 京东商智, 拼多多 merchant backend, English exports.

DAY = Column("day", "日期", ("统计日期", "日期时间", "时间", "数据日期", "date", "day"), True, parse_day)
TRAFFIC_COLUMNS: tuple[Column, ...] = (
    DAY,
    Column(
        "product_code",
        "商品编码",
        (
            "商品ID",
            "商品id",
            "宝贝ID",
            "商品编号",
            "SKU编号",
            "商品货号",
            "商家编码",
            "goods_id",
            "product id",
        ),
        parser=tabular.identifier_parser(64),
    ),
    Column(
        "product_name",
        "商品名称",
        ("商品标题", "宝贝标题", "商品名", "product name", "title"),
        parser=tabular.text_parser(200),
    ),
    Column(
        "visitors",
        "访客数",
        ("商品访客数", "店铺访客数", "UV", "访客人数", "visitors"),
        required=True,
        parser=parse_count,
    ),
    Column(
        "page_views",
        "浏览量",
        ("商品浏览量", "店铺浏览量", "PV", "页面浏览量", "page views"),
        parser=parse_count,
    ),
    Column(
        "paying_buyers",
        "支付买家数",
        ("成交人数", "成交客户数", "成交买家数", "支付人数", "成交用户数", "paying buyers", "buyers"),
        parser=parse_count,
    ),
    Column(
        "paid_amount",
        "支付金额",
        ("成交金额", "成交金额(元)", "支付金额(元)", "销售额", "paid amount", "sales"),
        parser=tabular.parse_money,
    ),
    Column("conversion", "支付转化率", ("成交转化率", "转化率", "conversion rate"), parser=ignored),
    Column(
        "add_to_cart_buyers",
        "加购人数",
        ("加购买家数", "商品加购人数", "加购客户数", "加购用户数", "add to cart"),
        parser=parse_count,
    ),
    Column(
        "paid_units",
        "支付件数",
        ("成交商品件数", "成交件数", "支付商品件数", "成交商品数", "units"),
        parser=parse_count,
    ),
    Column(
        "paid_orders",
        "支付订单数",
        ("支付子订单数", "成交单量", "成交订单数", "成交笔数", "orders"),
        parser=parse_count,
    ),
    Column("bounce_rate", "跳失率", ("跳出率", "bounce rate"), parser=parse_rate),
    Column(
        "avg_stay_seconds",
        "平均停留时长",
        ("平均停留时长(秒)", "人均停留时长", "人均停留时长(秒)", "平均访问时长", "avg time on page"),
        parser=parse_seconds,
    ),
    Column("unit_price", "客单价", ("成交客单价", "支付客单价"), parser=ignored),
    Column("uv_value", "UV价值", ("访客价值",), parser=ignored),
)
AD_SPEND_COLUMNS: tuple[Column, ...] = (
    DAY,
    Column(
        "ad_channel",
        "推广渠道",
        ("推广工具", "推广产品", "投放渠道", "渠道", "推广类型", "ad channel", "channel"),
        parser=tabular.text_parser(40),
    ),
    Column(
        "campaign",
        "推广计划",
        ("计划名称", "计划", "推广计划名称", "计划名", "campaign"),
        parser=tabular.text_parser(120),
    ),
    Column(
        "spend",
        "花费",
        ("消耗", "花费(元)", "消耗(元)", "总花费", "推广花费", "cost", "spend"),
        required=True,
        parser=tabular.parse_money,
    ),
    Column("impressions", "展现量", ("曝光量", "展示量", "展现数", "impressions"), parser=parse_big_count),
    Column("clicks", "点击量", ("点击数", "点击次数", "clicks"), parser=parse_count),
    Column(
        "attributed_orders",
        "成交订单数",
        ("总成交笔数", "成交笔数", "总订单行", "订单数", "成交订单量", "orders"),
        parser=parse_count,
    ),
    Column(
        "attributed_revenue",
        "成交金额",
        ("总成交金额", "成交金额(元)", "交易额", "成交额", "GMV", "revenue"),
        parser=tabular.parse_money,
    ),
    Column("click_rate", "点击率", ("CTR",), parser=ignored),
    Column("cost_per_click", "平均点击花费", ("PPC", "CPC", "点击单价"), parser=ignored),
    Column("roi", "投入产出比", ("ROI", "投产比"), parser=ignored),
)


@dataclass(frozen=True)
class Target:
    """What one kind of file writes: the model, its natural key and its figures.

    `defaults` are the values of non-null figures a new record gets when the file leaves them out."""

    model: type[models.Model]
    key_fields: tuple[str, ...]
    fields: tuple[str, ...]
    defaults: dict[str, Any]
    audit_action: str
    key_label: Callable[[tuple[Any, ...]], str]


TRAFFIC = Target(
    model=TrafficReport,
    key_fields=("day", "product_code"),
    fields=(
        "product_name",
        "visitors",
        "page_views",
        "paying_buyers",
        "paid_amount",
        "add_to_cart_buyers",
        "paid_units",
        "paid_orders",
        "bounce_rate",
        "avg_stay_seconds",
    ),
    defaults={
        "product_name": "",
        "visitors": 0,
        "page_views": 0,
        "paying_buyers": 0,
        "paid_amount": Decimal(0),
    },
    audit_action="analytics.traffic_imported",
    key_label=lambda key: f"{key[0]} {key[1] or '全店'}",
)
AD_SPEND = Target(
    model=AdSpend,
    key_fields=("day", "ad_channel", "campaign"),
    fields=("spend", "impressions", "clicks", "attributed_orders", "attributed_revenue"),
    defaults={"spend": Decimal(0)},
    audit_action="analytics.ad_spend_imported",
    key_label=lambda key: " ".join(str(part) for part in key if part),
)


class UpsertImporter(tabular.RowImporter):
    """Rows → records of one shop matched on the target's natural key: create, update or leave alone."""

    def __init__(
        self,
        *,
        target: Target,
        columns: Sequence[Column],
        shop: Shop,
        actor: Any,
        filename: str,
        fixed: dict[str, Any] | None = None,
        import_job_id: int | None = None,
    ) -> None:
        self.target = target
        self.columns = columns
        self.shop = shop
        self.actor = actor
        self.filename = filename
        self.fixed = fixed or {}
        self.import_job_id = import_job_id
        self.seen: dict[tuple[Any, ...], int] = {}
        self.content_type = ContentType.objects.get_for_model(target.model)
        self.action = f"{target.model._meta.model_name}.updated"

    def key_of(self, row: TableRow) -> tuple[Any, ...] | None:
        values = []
        for name in self.target.key_fields:
            value = row.get(name)
            if value is None:
                value = self.fixed.get(name, "")
            if name == "day" and value == "":
                row.add_error("day", "日期不能为空")
                return None
            if name == "ad_channel" and not value:
                row.add_error("ad_channel", "推广渠道不能为空（文件中加“推广渠道”列，或导入时指定）")
                return None
            values.append(value)
        return tuple(values)

    def figures(self, row: TableRow) -> dict[str, Any]:
        """The figures the file gives (a column it leaves out is not among them)."""
        given: dict[str, Any] = {}
        for name in self.target.fields:
            if not row.has(name):
                continue
            value = row.get(name)
            if value is None and name in self.target.defaults:
                value = self.target.defaults[name]
            given[name] = value
        return given

    def process(self, rows: list[TableRow]) -> None:
        keyed: list[tuple[TableRow, tuple[Any, ...]]] = []
        for row in rows:
            if not row.is_valid:
                continue
            key = self.key_of(row)
            if key is None:
                continue
            first = self.seen.setdefault(key, row.number)
            if first != row.number:
                row.add_error(self.target.key_fields[-1], f"与第 {first} 行重复（同一{self._key_words()}）")
                continue
            keyed.append((row, key))
        existing = self._existing([key for _row, key in keyed])
        self._write(keyed, existing)

    def _key_words(self) -> str:
        return "日期和商品" if self.target is TRAFFIC else "日期、渠道和计划"

    def _existing(self, keys: list[tuple[Any, ...]]) -> dict[tuple[Any, ...], models.Model]:
        if not keys:
            return {}
        days = {key[0] for key in keys}
        records = self.target.model._default_manager.filter(shop=self.shop, day__in=days)
        wanted = set(keys)
        found: dict[tuple[Any, ...], models.Model] = {}
        for record in records:
            key = tuple(getattr(record, name) for name in self.target.key_fields)
            if key in wanted:
                found[key] = record
        return found

    def _write(
        self, keyed: list[tuple[TableRow, tuple[Any, ...]]], existing: dict[tuple[Any, ...], models.Model]
    ) -> None:
        now = timezone.now()
        created: list[models.Model] = []
        updated: list[tuple[models.Model, dict[str, list[Any]]]] = []
        for row, key in keyed:
            row.key = self.target.key_label(key)
            values = self.figures(row)
            record = existing.get(key)
            if record is None:
                fields = {**self.target.defaults, **values}
                record = self.target.model(
                    shop=self.shop,
                    import_job_id=self.import_job_id,
                    **dict(zip(self.target.key_fields, key, strict=True)),
                    **fields,
                )
                created.append(record)
                row.action = tabular.Action.CREATED
                continue
            before = audit.snapshot(record)
            for name, value in values.items():
                setattr(record, name, value)
            changes = {
                name: change
                for name, change in audit.diff(before, audit.snapshot(record)).items()
                if name in self.target.fields
            }
            row.changes = changes
            if not changes:
                row.action = tabular.Action.UNCHANGED
                continue
            row.action = tabular.Action.UPDATED
            record.updated_at = now  # type: ignore[attr-defined]
            record.import_job_id = self.import_job_id  # type: ignore[attr-defined]
            updated.append((record, changes))
        manager = self.target.model._default_manager
        manager.bulk_create(created, batch_size=BATCH_SIZE)
        if updated:
            manager.bulk_update(
                [record for record, _changes in updated],
                [*self.target.fields, "updated_at", "import_job"],
                batch_size=BATCH_SIZE,
            )
            AuditEntry.objects.bulk_create(
                (
                    audit.entry(
                        actor=self.actor,
                        action=self.action,
                        instance=record,
                        changes=changes,
                        reason=f"导入 {self.filename}",
                        content_type=self.content_type,
                    )
                    for record, changes in updated
                ),
                batch_size=BATCH_SIZE,
            )

    def finish(self, result: ImportResult) -> None:
        audit.record(
            actor=self.actor,
            action=self.target.audit_action,
            changes={
                **result.counts(),
                "shop": self.shop.pk,
                "filename": result.filename,
                "sha256": result.sha256,
                "mode": result.mode,
            },
            object_repr=result.filename,
            reason="导入",
        )


class AdSpendImporter(UpsertImporter):
    def check_header(self, present: set[str]) -> None:
        if "ad_channel" not in present and not self.fixed.get("ad_channel"):
            raise ImportRefused(
                "缺少“推广渠道”列：请在文件中加上，或导入时指定推广渠道",
                fields={"ad_channel": "缺少推广渠道"},
            )


def resolve_shop(shop: Shop | int | str | None, actor: Any) -> Shop:
    """The shop by instance, code or id, within the actor's scope (a CLI actor sees every shop)."""
    if isinstance(shop, Shop):
        return shop
    if shop is None or str(shop).strip() == "":
        raise NotFound("请指定店铺（--shop 店铺编码）", fields={"shop": "必填"})
    return shop_by_code_or_id(actor, shop)


def _check_permissions(actor: Any, permissions: Sequence[str]) -> None:
    if getattr(actor, "is_authenticated", False):
        for permission in permissions:
            check_permission(actor, permission)


def _filename(source: Any, filename: str | None) -> str:
    if filename:
        return filename
    return Path(os.fspath(source)).name if isinstance(source, str | os.PathLike) else "upload"


def import_traffic_report(
    *,
    source: str | os.PathLike[str] | IO[bytes],
    shop: Shop | int | str | None,
    actor: Any,
    filename: str | None = None,
    mode: str = tabular.Mode.ALL_OR_NOTHING,
    dry_run: bool = False,
    file_format: str | None = None,
    sheet: str | None = None,
    progress: tabular.Progress | None = None,
    import_job_id: int | None = None,
) -> ImportResult:
    """Import a platform traffic report (生意参谋 / 京东商智 / 拼多多, per shop or per product, CSV or
    XLSX) into `shop` (instance, code or id). Needs analytics.add_trafficreport and change_trafficreport
    (or a CLI actor such as "cli:root"). Refuses the whole file with `tabular.ImportRefused`."""
    _check_permissions(actor, TRAFFIC_PERMISSIONS)
    target_shop = resolve_shop(shop, actor)
    name = _filename(source, filename)
    importer = UpsertImporter(
        target=TRAFFIC,
        columns=TRAFFIC_COLUMNS,
        shop=target_shop,
        actor=actor,
        filename=name,
        import_job_id=import_job_id,
    )
    return tabular.run_import(
        source=source,
        filename=name,
        importer=importer,
        mode=mode,
        dry_run=dry_run,
        file_format=file_format,
        sheet=sheet,
        progress=progress,
    )


def import_ad_spend(
    *,
    source: str | os.PathLike[str] | IO[bytes],
    shop: Shop | int | str | None,
    actor: Any,
    filename: str | None = None,
    ad_channel: str | None = None,
    mode: str = tabular.Mode.ALL_OR_NOTHING,
    dry_run: bool = False,
    file_format: str | None = None,
    sheet: str | None = None,
    progress: tabular.Progress | None = None,
    import_job_id: int | None = None,
) -> ImportResult:
    """Import an ad spend report (per day × channel × campaign) into `shop`. `ad_channel` names the
    channel (直通车, 京东快车 …) when the file has no 推广渠道 column. Needs analytics.add_adspend and
    change_adspend (or a CLI actor)."""
    _check_permissions(actor, AD_SPEND_PERMISSIONS)
    target_shop = resolve_shop(shop, actor)
    name = _filename(source, filename)
    channel = (ad_channel or "").strip()[:40]
    importer = AdSpendImporter(
        target=AD_SPEND,
        columns=AD_SPEND_COLUMNS,
        shop=target_shop,
        actor=actor,
        filename=name,
        fixed={"ad_channel": channel, "campaign": ""},
        import_job_id=import_job_id,
    )
    return tabular.run_import(
        source=source,
        filename=name,
        importer=importer,
        mode=mode,
        dry_run=dry_run,
        file_format=file_format,
        sheet=sheet,
        progress=progress,
    )


def _access_log_importer() -> Callable[..., ImportResult] | None:
    # the collect helper owns the access-log parser; register it once it exists
    try:
        from shopops.analytics.collect.access_logs import import_access_log
    except ImportError:
        return None
    return import_access_log


def access_log_site(*, site: Any = None, shop: Shop | int | str | None = None, actor: Any = None) -> Any:
    """The collection site an access log belongs to: the one given (instance or key), else the only
    active site of `shop` (`shopops import access-log FILE --shop CODE`)."""
    if site:
        return site
    target = resolve_shop(shop, actor)
    sites = list(CollectSite.objects.filter(shop=target, is_active=True).order_by("pk")[:2])
    if len(sites) != 1:
        raise InvalidInput(
            f"店铺 {target.code} 有 {len(sites) if sites else 0} 个启用的采集站点：请指定站点密钥",
            fields={"site": "须指定站点"},
        )
    return sites[0]


def import_access_log_file(
    *,
    source: str | os.PathLike[str] | IO[bytes],
    actor: Any,
    site: Any = None,
    shop: Shop | int | str | None = None,
    filename: str | None = None,
    mode: str = tabular.Mode.ALL_OR_NOTHING,
    dry_run: bool = False,
    progress: tabular.Progress | None = None,
) -> ImportResult:
    """A web server access log (nginx/Apache combined) as traffic of a collection site (collect's
    importer), the site named or found from the shop. Needs analytics.change_collectsite."""
    importer = _access_log_importer()
    if importer is None:
        raise ImportRefused("访问日志导入暂不可用", fields={"kind": "access-log"})
    _check_permissions(actor, ("analytics.change_collectsite",))
    return importer(
        source,
        site=access_log_site(site=site, shop=shop, actor=actor),
        actor=actor,
        filename=_filename(source, filename),
        mode=mode,
        dry_run=dry_run,
        progress=progress,
    )


IMPORT_KINDS: dict[str, Callable[..., ImportResult]] = {
    "traffic-report": import_traffic_report,
    "ad-spend": import_ad_spend,
}
# registered by name: importing the parser (PyArrow) waits for the first access-log import
if importlib.util.find_spec("shopops.analytics.collect.access_logs") is not None:
    IMPORT_KINDS["access-log"] = import_access_log_file
