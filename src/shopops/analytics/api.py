"""Analytics API (/api/v1/analytics/…): reports, the metric catalog, imports of platform traffic and ad
spend, collection sites and report subscriptions."""

import datetime as dt
import functools
from collections.abc import Callable
from typing import Annotated, Any, Literal

from django.db import transaction
from django.db.models import QuerySet
from django.http import HttpRequest
from ninja import Field, File, Form, Query, Router, Schema, Status
from ninja.files import UploadedFile
from ninja.pagination import paginate
from pydantic import AfterValidator

from shopops.analytics.models import CollectSite, IPMode, ReportKind, ReportSubscription
from shopops.analytics.reports import datacenter, params
from shopops.analytics.reports import services as report_services
from shopops.analytics.reports import tasks as report_tasks
from shopops.channels import queries as channel_queries
from shopops.channels.models import Platform
from shopops.core import jobs as core_jobs
from shopops.core.api import (
    ERROR_RESPONSES,
    DateTimeOut,
    ObjectId,
    Pagination,
    PlainText,
    acting_user,
    requires,
)
from shopops.core.api_imports import ImportJobOut, check_upload, import_job_out, own_import_job
from shopops.core.permissions import check_permission
from shopops.core.scope import get_in_scope

router = Router(tags=["analytics"])

VIEW = "analytics.view_datacenter"
ImportMode = Literal["all_or_nothing", "skip_bad_rows"]
Grain = Literal["day", "week", "month"]


# Reports.


def _report_day(value: dt.date) -> dt.date:
    if not params.EARLIEST_DAY <= value <= params.LATEST_DAY:
        raise ValueError(f"日期须在 {params.EARLIEST_DAY} 与 {params.LATEST_DAY} 之间")
    return value


# Reports accept every day the data can hold (imports take orders of any year, e.g. 1997), not only the
# 2000–2100 window of `DateIn`.
ReportDay = Annotated[dt.date, AfterValidator(_report_day)]


class ReportQuery(Schema):
    start: ReportDay | None = Field(None, description="First day (Asia/Shanghai), default: 7 days ago")
    end: ReportDay | None = Field(
        None, description="Last day, inclusive; default: yesterday. At most 3 years"
    )
    shop: PlainText | None = Field(
        None, max_length=40, description="Shop id or code (default: every shop in scope)"
    )
    channel: list[Platform] | None = Field(None, description="Channels (platforms); repeat for several")


class TrendQuery(ReportQuery):
    grain: Grain = "day"


class ComparisonOut(Schema):
    code: str
    label: str
    unit: str
    value: str | int | None = Field(description="Money and ratios as decimal strings; counts as integers")
    previous: str | int | None = Field(description="The period of the same length just before")
    previous_change: str | None = Field(description='Relative change vs previous, e.g. "0.1250" = +12.5%')
    last_week: str | int | None = Field(description="The same days one week earlier")
    last_week_change: str | None
    last_year: str | int | None = Field(description="The same days one year earlier")
    last_year_change: str | None


class ContributionOut(Schema):
    factor: str
    label: str
    amount: str = Field(description="Part of the GMV change this factor explains (they add up to it)")


class ExplanationOut(Schema):
    change: str | None
    summary: str = Field(description="One line in Chinese")
    contributions: list[ContributionOut]


class PeriodOut(Schema):
    start: dt.date
    end: dt.date


class TrafficShopOut(Schema):
    shop: str = Field(description="Shop code")
    name: str
    source: Literal["events", "platform_reports"] = Field(
        description="events: collected events or access logs; platform_reports: imported 生意参谋-style reports"
    )
    source_label: str


class OverviewOut(Schema):
    period: PeriodOut
    kpis: list[ComparisonOut]
    explanation: ExplanationOut | None
    traffic_shops: list[TrafficShopOut] = Field(
        description="The shops with traffic data in the range: visitors, conversion and UV价值 cover these "
        "shops only (their buyers ÷ their visitors)"
    )
    warnings: list[str] = Field(
        description="What the figures leave out, in Chinese: e.g. orders in a currency with no exchange rate "
        "for their day (their amounts are not added)"
    )


class ColumnOut(Schema):
    code: str
    label: str
    unit: str = Field(description="count, money, ratio, seconds, per_visitor, per_session or text")


class TableOut(Schema):
    key: str
    title: str
    columns: list[ColumnOut]
    rows: list[dict[str, Any]] = Field(
        description="One object per row keyed by column code; money and ratios as decimal strings"
    )


class PageOut(Schema):
    period: PeriodOut
    tables: list[TableOut]


def _params(request: HttpRequest, query: ReportQuery, grain: str = "day") -> params.ReportParams:
    return params.build_params(
        user=acting_user(request),
        start=query.start,
        end=query.end,
        shop=query.shop,
        channels=[str(channel) for channel in query.channel or ()],
        grain=grain,
    )


@router.get("/analytics/overview", response={200: OverviewOut, **ERROR_RESPONSES})
@requires(VIEW)
def analytics_overview(request: HttpRequest, query: Query[ReportQuery]) -> dict[str, Any]:
    """KPIs of the range with the previous period, the same days last week and last year, and the GMV
    change explained (visitors × conversion × 客单价), and the shops with traffic data (visitors, conversion and
    UV价值 cover those). Errors: invalid_range, range_too_long, unknown_shop."""
    report = _params(request, query)
    data = datacenter.overview_data(report)
    result = datacenter.overview(report)
    return {**data, "traffic_shops": _traffic_shops(result.traffic_shops), "warnings": result.warnings}


def _traffic_shops(found: list[Any]) -> list[dict[str, Any]]:
    """The shops whose traffic the figures cover (metrics.compute.TrafficShop), with codes and names."""
    from shopops.channels.models import Shop

    shops = {
        pk: (code, name)
        for pk, code, name in Shop.objects.filter(pk__in=[item.shop_id for item in found]).values_list(
            "pk", "code", "name"
        )
    }
    return [
        {
            "shop": shops.get(item.shop_id, ("", ""))[0],
            "name": shops.get(item.shop_id, ("", ""))[1],
            "source": item.source,
            "source_label": item.label,
        }
        for item in found
    ]


@router.get("/analytics/trend", response={200: PageOut, **ERROR_RESPONSES})
@requires(VIEW)
def analytics_trend(request: HttpRequest, query: Query[TrendQuery]) -> dict[str, Any]:
    """KPIs per day, week (Monday) or month of the range."""
    return datacenter.page_data("trends", _params(request, query, query.grain))


def _table_endpoint(page: str, summary: str) -> Callable[[HttpRequest, ReportQuery], dict[str, Any]]:
    def handler(request: HttpRequest, query: Query[ReportQuery]) -> dict[str, Any]:
        return datacenter.page_data(page, _params(request, query))

    handler.__name__ = f"analytics_{page}"
    handler.__doc__ = summary
    return handler


for _page, _summary in (
    ("sources", "Traffic sources: visitors, conversion, pages per visit, duration, bounce, paid amount."),
    (
        "products",
        "Products: views, detail-page conversion, add-to-cart rate, units, revenue, margin, returns.",
    ),
    ("customers", "Customers: new/returning buyers, repurchase, RFM segments and the cohort matrix."),
    ("campaigns", "Campaigns: spend, clicks, attributed orders and revenue, CAC and ROI."),
):
    router.get(f"/analytics/{_page}", response={200: PageOut, **ERROR_RESPONSES})(
        requires(VIEW)(_table_endpoint(_page, _summary))
    )


class MetricOut(Schema):
    code: str
    label: str = Field(description="中文名")
    label_en: str
    group: str = Field(description="traffic, orders, customers, marketing, products or platform")
    unit: str
    formula: str
    measures: list[str] = Field(description="Base measures it is computed from")
    counts: str = Field(description="What counts (valid, paid, refunded …)")
    notes: str = Field(description="Conventions where platforms differ")
    higher_is_better: bool


@router.get("/analytics/metrics", response={200: list[MetricOut], **ERROR_RESPONSES})
@requires(VIEW)
def list_analytics_metrics(request: HttpRequest) -> list[dict[str, Any]]:
    """Every metric with its definition (docs/metrics.md is generated from the same catalog)."""
    return datacenter.metric_catalog()


# Imports.


def _import_user(request: HttpRequest, permissions: tuple[str, ...]) -> Any:
    user = acting_user(request)
    for permission in permissions:
        check_permission(user, permission)
    return user


def _queue_import(
    request: HttpRequest,
    *,
    kind: str,
    file: UploadedFile,
    shop: int,
    mode: str,
    dry_run: bool,
    permissions: tuple[str, ...],
    task: Any,
    extra: dict[str, Any] | None = None,
) -> Status:
    user = _import_user(request, permissions)
    target = channel_queries.shop_in_scope(user, shop, field="shop")
    check_upload(file)
    with transaction.atomic():
        job = core_jobs.create_import_job(
            kind=kind,
            upload=file,
            filename=file.name or "upload",
            mode=mode,
            dry_run=dry_run,
            actor=user,
            extra_options={"shop": target.pk, "shop_name": str(target), **(extra or {})},
        )
        transaction.on_commit(functools.partial(task, job.pk))
    return Status(202, import_job_out(job))


def _confirm_import(
    request: HttpRequest, *, kind: str, job_id: int, mode: str | None, permissions: tuple[str, ...], task: Any
) -> Status:
    user = _import_user(request, permissions)
    checked = own_import_job(user=user, kind=kind, job_id=job_id)
    with transaction.atomic():
        job = core_jobs.confirm_import_job(job_id=checked.pk, mode=mode or checked.mode, actor=user)
        transaction.on_commit(functools.partial(task, job.pk))
    return Status(202, import_job_out(job))


TRAFFIC_PERMISSIONS = ("analytics.add_trafficreport", "analytics.change_trafficreport")
AD_SPEND_PERMISSIONS = ("analytics.add_adspend", "analytics.change_adspend")


@router.post("/analytics/traffic-reports/imports", response={202: ImportJobOut, **ERROR_RESPONSES})
@requires("analytics.add_trafficreport")
def import_traffic_reports_file(
    request: HttpRequest,
    file: File[UploadedFile],
    shop: Form[ObjectId],
    mode: Form[ImportMode] = "all_or_nothing",
    dry_run: Form[bool] = False,
) -> Status:
    """Queue an import of a platform traffic report (生意参谋 / 京东商智 / 拼多多, CSV or XLSX) into `shop`;
    poll GET …/imports/{id}. Also needs analytics.change_trafficreport; the shop must be in scope."""
    return _queue_import(
        request,
        kind=report_tasks.TRAFFIC_IMPORT_KIND,
        file=file,
        shop=shop,
        mode=mode,
        dry_run=dry_run,
        permissions=TRAFFIC_PERMISSIONS,
        task=report_tasks.run_traffic_report_import,
    )


@router.get("/analytics/traffic-reports/imports/{job_id}", response={200: ImportJobOut, **ERROR_RESPONSES})
@requires("analytics.add_trafficreport")
def get_traffic_report_import(request: HttpRequest, job_id: ObjectId) -> dict[str, Any]:
    """One of the caller's traffic report import jobs: status, progress, counts, row errors."""
    user = _import_user(request, TRAFFIC_PERMISSIONS)
    return import_job_out(own_import_job(user=user, kind=report_tasks.TRAFFIC_IMPORT_KIND, job_id=job_id))


@router.post(
    "/analytics/traffic-reports/imports/{job_id}/confirm", response={202: ImportJobOut, **ERROR_RESPONSES}
)
@requires("analytics.add_trafficreport")
def confirm_traffic_report_import(
    request: HttpRequest, job_id: ObjectId, mode: Form[ImportMode | None] = None
) -> Status:
    """Import for real the file a finished dry run checked (409 unless it is one)."""
    return _confirm_import(
        request,
        kind=report_tasks.TRAFFIC_IMPORT_KIND,
        job_id=job_id,
        mode=mode,
        permissions=TRAFFIC_PERMISSIONS,
        task=report_tasks.run_traffic_report_import,
    )


@router.post("/analytics/ad-spend/imports", response={202: ImportJobOut, **ERROR_RESPONSES})
@requires("analytics.add_adspend")
def import_ad_spend_file(
    request: HttpRequest,
    file: File[UploadedFile],
    shop: Form[ObjectId],
    ad_channel: Form[PlainText] = "",
    mode: Form[ImportMode] = "all_or_nothing",
    dry_run: Form[bool] = False,
) -> Status:
    """Queue an import of an ad spend report (per day × campaign) into `shop`. `ad_channel` (直通车,
    京东快车 …) is required when the file has no 推广渠道 column. Also needs analytics.change_adspend."""
    channel = ad_channel.strip()[:40]
    return _queue_import(
        request,
        kind=report_tasks.AD_SPEND_IMPORT_KIND,
        file=file,
        shop=shop,
        mode=mode,
        dry_run=dry_run,
        permissions=AD_SPEND_PERMISSIONS,
        task=report_tasks.run_ad_spend_import,
        extra={"ad_channel": channel} if channel else None,
    )


@router.get("/analytics/ad-spend/imports/{job_id}", response={200: ImportJobOut, **ERROR_RESPONSES})
@requires("analytics.add_adspend")
def get_ad_spend_import(request: HttpRequest, job_id: ObjectId) -> dict[str, Any]:
    """One of the caller's ad spend import jobs."""
    user = _import_user(request, AD_SPEND_PERMISSIONS)
    return import_job_out(own_import_job(user=user, kind=report_tasks.AD_SPEND_IMPORT_KIND, job_id=job_id))


@router.post("/analytics/ad-spend/imports/{job_id}/confirm", response={202: ImportJobOut, **ERROR_RESPONSES})
@requires("analytics.add_adspend")
def confirm_ad_spend_import(
    request: HttpRequest, job_id: ObjectId, mode: Form[ImportMode | None] = None
) -> Status:
    """Import for real the ad spend file a finished dry run checked."""
    return _confirm_import(
        request,
        kind=report_tasks.AD_SPEND_IMPORT_KIND,
        job_id=job_id,
        mode=mode,
        permissions=AD_SPEND_PERMISSIONS,
        task=report_tasks.run_ad_spend_import,
    )


# Collection sites.


class CollectSiteOut(Schema):
    id: int
    shop_id: int
    name: str
    key: str = Field(description="Public site key the snippet and the batch endpoint send")
    allowed_origins: list[str]
    ip_mode: IPMode
    honour_dnt: bool
    require_consent: bool
    is_active: bool
    created_at: DateTimeOut
    updated_at: DateTimeOut

    @staticmethod
    def resolve_allowed_origins(obj: CollectSite) -> list[str]:
        return [line for line in obj.allowed_origins.splitlines() if line.strip()]


class CollectSiteIn(Schema):
    shop_id: ObjectId
    name: PlainText = Field(..., min_length=1, max_length=100)
    allowed_origins: list[PlainText] = Field(
        default_factory=list, description="e.g. https://shop.example.com"
    )
    ip_mode: IPMode = IPMode.HASH
    honour_dnt: bool = True
    require_consent: bool = False
    is_active: bool = True


class CollectSiteUpdateIn(Schema):
    name: PlainText | None = Field(None, min_length=1, max_length=100)
    allowed_origins: list[PlainText] | None = None
    ip_mode: IPMode | None = None
    honour_dnt: bool | None = None
    require_consent: bool | None = None
    is_active: bool | None = None


def _site_values(payload: dict[str, Any]) -> dict[str, Any]:
    if payload.get("allowed_origins") is not None:
        payload["allowed_origins"] = "\n".join(payload["allowed_origins"])
    return {key: value for key, value in payload.items() if value is not None}


@router.get("/analytics/collect-sites", response={200: list[CollectSiteOut], **ERROR_RESPONSES})
@paginate(Pagination)
@requires("analytics.view_collectsite")
def list_collect_sites(request: HttpRequest) -> QuerySet[CollectSite]:
    """Collection sites of the shops in the caller's scope."""
    return CollectSite.objects.for_user(acting_user(request)).order_by("shop_id", "name", "pk")


@router.get("/analytics/collect-sites/{site_id}", response={200: CollectSiteOut, **ERROR_RESPONSES})
@requires("analytics.view_collectsite")
def get_collect_site(request: HttpRequest, site_id: ObjectId) -> CollectSite:
    """One collection site; outside the caller's scope it answers 404."""
    return get_in_scope(CollectSite, acting_user(request), pk=site_id)


@router.post("/analytics/collect-sites", response={201: CollectSiteOut, **ERROR_RESPONSES})
@requires("analytics.add_collectsite")
def create_collect_site(request: HttpRequest, payload: CollectSiteIn) -> Status:
    """Create a collection site with a generated key (audited as collectsite.created)."""
    values = _site_values(payload.dict())
    site = report_services.create_collect_site(actor=acting_user(request), **values)
    return Status(201, site)


@router.patch("/analytics/collect-sites/{site_id}", response={200: CollectSiteOut, **ERROR_RESPONSES})
@requires("analytics.change_collectsite")
def update_collect_site(request: HttpRequest, site_id: ObjectId, payload: CollectSiteUpdateIn) -> CollectSite:
    """Change the given settings of a site (the key and the shop stay)."""
    changes = _site_values(payload.dict(exclude_unset=True))
    return report_services.update_collect_site(actor=acting_user(request), site_id=site_id, changes=changes)


@router.delete("/analytics/collect-sites/{site_id}", response={204: None, **ERROR_RESPONSES})
@requires("analytics.delete_collectsite")
def delete_collect_site(request: HttpRequest, site_id: ObjectId) -> Status:
    """Delete a site: its key stops being accepted; collected events stay."""
    report_services.delete_collect_site(actor=acting_user(request), site_id=site_id)
    return Status(204, None)


# Report subscriptions.


class SubscriptionOut(Schema):
    id: int
    user_id: int
    kind: ReportKind
    shop_ids: list[int] = Field(description="Empty: every shop the recipient may see")
    is_active: bool
    last_period_sent: dt.date | None = Field(description="Daily: the day last reported; weekly: its Monday")
    created_at: DateTimeOut

    @staticmethod
    def resolve_shop_ids(obj: ReportSubscription) -> list[int]:
        return sorted(shop.pk for shop in obj.shops.all())


class SubscriptionIn(Schema):
    user_id: ObjectId
    kind: ReportKind
    shop_ids: list[ObjectId] = Field(default_factory=list)
    is_active: bool = True


class SubscriptionUpdateIn(Schema):
    shop_ids: list[ObjectId] | None = None
    is_active: bool | None = None


@router.get("/analytics/subscriptions", response={200: list[SubscriptionOut], **ERROR_RESPONSES})
@paginate(Pagination)
@requires("analytics.view_reportsubscription")
def list_report_subscriptions(request: HttpRequest) -> QuerySet[ReportSubscription]:
    """Report subscriptions (daily / weekly email)."""
    return ReportSubscription.objects.prefetch_related("shops").order_by("pk")


@router.post("/analytics/subscriptions", response={201: SubscriptionOut, **ERROR_RESPONSES})
@requires("analytics.add_reportsubscription")
def create_report_subscription(request: HttpRequest, payload: SubscriptionIn) -> Status:
    """Subscribe a user to the daily or weekly report (409 subscription_exists if already)."""
    subscription = report_services.create_subscription(actor=acting_user(request), **payload.dict())
    return Status(201, subscription)


@router.patch(
    "/analytics/subscriptions/{subscription_id}", response={200: SubscriptionOut, **ERROR_RESPONSES}
)
@requires("analytics.change_reportsubscription")
def update_report_subscription(
    request: HttpRequest, subscription_id: ObjectId, payload: SubscriptionUpdateIn
) -> ReportSubscription:
    """Change the shops of a subscription or switch it on or off."""
    return report_services.update_subscription(
        actor=acting_user(request), subscription_id=subscription_id, changes=payload.dict(exclude_unset=True)
    )


@router.delete("/analytics/subscriptions/{subscription_id}", response={204: None, **ERROR_RESPONSES})
@requires("analytics.delete_reportsubscription")
def delete_report_subscription(request: HttpRequest, subscription_id: ObjectId) -> Status:
    """Delete a subscription."""
    report_services.delete_subscription(actor=acting_user(request), subscription_id=subscription_id)
    return Status(204, None)
