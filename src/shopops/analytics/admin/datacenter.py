"""数据中心 pages in the admin: 概览, 趋势, 流量来源, 商品, 客户, 推广, each with filters and an XLSX export.

Every number comes from `metrics.compute` through `reports.datacenter`; this module only reads the
filters, applies the user's shop scope (`reports.params`) and renders."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote, urlencode

from django import forms
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, QueryDict
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils import translation
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from unfold.widgets import UnfoldAdminDateWidget, UnfoldAdminSelectWidget

from shopops.analytics.models import DataCenter
from shopops.analytics.reports import buyers, datacenter, exports, params
from shopops.catalog.queries import can_view_cost
from shopops.channels.models import Platform, Shop
from shopops.core import audit, pii
from shopops.core.admin_tools import ShopOpsModelAdmin
from shopops.core.errors import DomainError

VIEW_PERMISSION = "analytics.view_datacenter"
EXPORT_PERMISSION = "analytics.export_datacenter"
XLSX_CONTENT_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
PAGE_TEMPLATE = "admin/analytics/datacenter/page.html"
BUYERS_TEMPLATE = "admin/analytics/datacenter/buyers.html"
# the query parameters that choose a page's numbers (kept when a cell opens its buyer list)
FILTER_KEYS = ("preset", "start", "end", "shop", "channel")


class FilterForm(forms.Form):
    """The filters of every page (GET): a preset or a custom range, a shop, a channel, a grain."""

    preset = forms.ChoiceField(
        label=_("日期"),
        choices=[(key, _(label)) for key, label in params.PRESETS.items()],  # noqa: INT001 - msgids in po
        required=False,
        initial=params.DEFAULT_PRESET,  # the box names the range the page shows
        widget=UnfoldAdminSelectWidget(attrs={"data-testid": "filter-preset"}),
    )
    start = forms.DateField(label=_("开始"), required=False, widget=UnfoldAdminDateWidget())
    end = forms.DateField(label=_("结束"), required=False, widget=UnfoldAdminDateWidget())
    shop = forms.ChoiceField(label=_("店铺"), required=False, widget=UnfoldAdminSelectWidget())
    channel = forms.ChoiceField(label=_("渠道"), required=False, widget=UnfoldAdminSelectWidget())
    grain = forms.ChoiceField(
        label=_("粒度"),
        choices=[("day", _("按天")), ("week", _("按周")), ("month", _("按月"))],
        required=False,
        widget=UnfoldAdminSelectWidget(),
    )

    def __init__(self, *args: Any, user: Any, show_grain: bool, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.is_bound and not self.data.get("preset"):
            # a link that names only a shop or a channel shows the default range: so must the box
            data = QueryDict(mutable=True)
            data.update(self.data)
            data["preset"] = params.DEFAULT_PRESET
            self.data = data
        shop_field = self.fields["shop"]
        assert isinstance(shop_field, forms.ChoiceField)
        shops = Shop.objects.for_user(user).order_by("platform", "code")
        shop_field.choices = [("", _("全部店铺")), *((str(shop.pk), str(shop)) for shop in shops)]
        channel_field = self.fields["channel"]
        assert isinstance(channel_field, forms.ChoiceField)
        channel_field.choices = [("", _("全部渠道")), *Platform.choices]
        if not show_grain:
            del self.fields["grain"]

    def resolve(self, user: Any) -> params.ReportParams:
        """The page's parameters; invalid input falls back to 近7天 with the form's errors shown."""
        data = self.cleaned_data if self.is_valid() else {}
        preset = data.get("preset") or params.DEFAULT_PRESET
        start, end = data.get("start"), data.get("end")
        if preset != "custom" or start is None or end is None:
            start, end = params.preset_range(preset if preset != "custom" else params.DEFAULT_PRESET)
        channel = data.get("channel")
        return params.build_params(
            user=user,
            start=start,
            end=end,
            shop=data.get("shop") or None,
            channels=[channel] if channel else None,
            grain=data.get("grain") or "day",
        )


@admin.register(DataCenter)
class DataCenterAdmin(ShopOpsModelAdmin):
    """No list of its own: the changelist is the 概览 page; the other pages hang below it."""

    def has_module_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(VIEW_PERMISSION)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return request.user.has_perm(VIEW_PERMISSION)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_urls(self) -> list[URLPattern]:
        prefix = f"{self.opts.app_label}_{self.opts.model_name}"
        pages = [
            path(
                f"{page}/",
                self.admin_site.admin_view(self.page_view),
                {"page": page},
                name=f"{prefix}_{page}",
            )
            for page in datacenter.PAGES
            if page != "overview"
        ]
        export = path(
            "export/<slug:page>/",
            self.admin_site.admin_view(self.export_view),
            name=f"{prefix}_export",
        )
        overview = path(
            "", self.admin_site.admin_view(self.page_view), {"page": "overview"}, name=f"{prefix}_changelist"
        )
        buyer_list = path("buyers/", self.admin_site.admin_view(self.buyers_view), name=f"{prefix}_buyers")
        return [overview, export, buyer_list, *pages]

    # Pages.

    def _form(self, request: HttpRequest, page: str) -> FilterForm:
        return FilterForm(request.GET or None, user=request.user, show_grain=page == "trends")

    def _check(self, request: HttpRequest, page: str) -> None:
        if not request.user.has_perm(VIEW_PERMISSION):
            raise PermissionDenied
        if page not in datacenter.PAGES:
            raise PermissionDenied

    def page_view(self, request: HttpRequest, page: str) -> HttpResponse:
        self._check(request, page)
        form = self._form(request, page)
        query = request.GET.urlencode()
        context: dict[str, Any] = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": _("数据中心 · %(page)s") % {"page": gettext(datacenter.PAGES[page])},
            "page": page,
            "tabs": [
                (key, gettext(label), self._page_url(key, query)) for key, label in datacenter.PAGES.items()
            ],
            "form": form,
            "can_export": request.user.has_perm(EXPORT_PERMISSION),
            "export_url": self._export_url(page, query),
            "all_rows": request.GET.get("rows") == "all",
        }
        if form.is_bound and not form.is_valid():
            context["refusal"] = refusal_of(form)
            return TemplateResponse(request, PAGE_TEMPLATE, context)
        try:
            report = form.resolve(request.user)
            context.update(self._page_context(request, page, report))
        except DomainError as error:
            context["refusal"] = error.message
        return TemplateResponse(request, PAGE_TEMPLATE, context)

    def _page_context(self, request: HttpRequest, page: str, report: params.ReportParams) -> dict[str, Any]:
        shown = datacenter.page_view_data(
            page, report, show_cost=can_view_cost(request.user), all_rows=request.GET.get("rows") == "all"
        )
        english = (translation.get_language() or "").startswith("en")
        filters = urlencode([(key, request.GET[key]) for key in FILTER_KEYS if request.GET.get(key)])
        buyers_url = reverse(f"admin:{self.opts.app_label}_{self.opts.model_name}_buyers")
        for table in shown.get("tables", []):
            table["title"] = gettext(table["title"])
            for header in table["headers"]:
                header["text"] = (
                    header["label_en"] if english and header["label_en"] else gettext(header["label"])
                )
            translate_text = table["key"] == "rfm"  # segment names and rules are words, not data
            for row in table["rows"]:
                for cell in row:
                    if translate_text and not cell["numeric"] and cell["text"]:
                        cell["text"] = gettext(cell["text"])
                    drill = cell.pop("drill")
                    if drill:
                        cell["href"] = f"{buyers_url}?{urlencode(drill)}" + (f"&{filters}" if filters else "")
            table["html"] = table_html(table)
            if table["clipped"]:
                table["all_url"] = (
                    self._page_url(page, request.GET.urlencode()) + ("&" if request.GET else "?") + "rows=all"
                )
        context: dict[str, Any] = {
            "period": report,
            "period_zone": period_zone(report),
            "shown": shown,
            "traffic_shops": traffic_shops_text(shown.get("traffic_shops") or []),
        }
        context["charts"] = [
            {
                "title": gettext(chart["title"]),
                "data": json.dumps(localized_chart(chart["data"], english), ensure_ascii=False),
            }
            for chart in shown.get("charts", [])
        ]
        return context

    # The buyers behind a cell (RFM segment, cohort month).

    def buyers_view(self, request: HttpRequest) -> HttpResponse:
        self._check(request, "customers")
        form = FilterForm(request.GET or None, user=request.user, show_grain=False)
        back = self._page_url(
            "customers", urlencode([(key, request.GET[key]) for key in FILTER_KEYS if request.GET.get(key)])
        )
        context: dict[str, Any] = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": _("数据中心 · 买家名单"),
            "back_url": back,
        }
        if form.is_bound and not form.is_valid():
            context["refusal"] = refusal_of(form)
            return TemplateResponse(request, BUYERS_TEMPLATE, context)
        try:
            report = form.resolve(request.user)
            if request.GET.get("segment"):
                found = buyers.segment_buyers(report, request.GET["segment"])
            else:
                offset = request.GET.get("offset", "0")
                found = buyers.cohort_buyers(
                    report, request.GET.get("cohort", ""), int(offset) if offset.isdigit() else -1
                )
        except DomainError as error:
            context["refusal"] = error.message
            return TemplateResponse(request, BUYERS_TEMPLATE, context)
        except buyers.UnknownCell:
            context["refusal"] = _("没有这个分层或同期群")
            return TemplateResponse(request, BUYERS_TEMPLATE, context)
        context.update(
            {
                "period": report,
                "period_zone": period_zone(report),
                "found": found,
                "list_title": gettext(found.title[0]) % found.title[1],
                "rows": self._buyer_rows(request, found),
            }
        )
        return TemplateResponse(request, BUYERS_TEMPLATE, context)

    def _buyer_rows(self, request: HttpRequest, found: buyers.BuyerList) -> list[dict[str, Any]]:
        from shopops.analytics.reports.formatting import format_value
        from shopops.customers.models import Customer

        people = Customer.objects.in_bulk([buyer.customer_id for buyer in found.buyers])
        can_open = request.user.has_perm("customers.view_customer")
        rows = []
        for buyer in found.buyers:
            person = people.get(buyer.customer_id)
            name = pii.shown(request.user, person, "name") if person is not None else ""
            rows.append(
                {
                    "name": name or _("（未留姓名）"),
                    "number": buyer.customer_id,
                    "url": reverse("admin:customers_customer_change", args=[buyer.customer_id])
                    if can_open and person is not None
                    else "",
                    "orders": buyer.orders,
                    "amount": format_value(buyer.amount, "money"),
                    "last_day": buyer.last_day,
                }
            )
        return rows

    def _page_url(self, page: str, query: str) -> str:
        name = "changelist" if page == "overview" else page
        url = reverse(f"admin:{self.opts.app_label}_{self.opts.model_name}_{name}")
        return f"{url}?{query}" if query else url

    def _export_url(self, page: str, query: str) -> str:
        url = reverse(f"admin:{self.opts.app_label}_{self.opts.model_name}_export", args=[page])
        return f"{url}?{query}" if query else url

    # Export.

    def export_view(self, request: HttpRequest, page: str) -> HttpResponse:
        self._check(request, page)
        if not request.user.has_perm(EXPORT_PERMISSION):
            raise PermissionDenied
        form = self._form(request, page)
        try:
            report = form.resolve(request.user)
        except DomainError:
            return HttpResponseRedirect(self._page_url(page, request.GET.urlencode()))
        content = exports.export_page(page, report, show_cost=can_view_cost(request.user))
        audit.record(
            actor=request.user,
            action="datacenter.exported",
            changes={"page": page, **exports.describe(report)},
            object_repr=f"数据中心 {datacenter.PAGES[page]}",
        )
        filename = exports.filename(page, report)
        response = HttpResponse(content, content_type=XLSX_CONTENT_TYPE)
        response["Content-Disposition"] = (
            f"attachment; filename=datacenter-{page}.xlsx; filename*=UTF-8''{quote(filename)}"
        )
        response["Cache-Control"] = "no-store"
        return response


def period_zone(report: params.ReportParams) -> str:
    """The time zone the range's days are in: the shop's when one shop is chosen, else each shop's own."""
    if report.shop_ids is not None and len(report.shop_ids) == 1:
        found = Shop.objects.filter(pk=report.shop_ids[0]).values_list("timezone", flat=True).first()
        if found:
            return str(found)
    zones = (
        set(Shop.objects.filter(pk__in=report.shop_ids or []).values_list("timezone", flat=True))
        if (report.shop_ids is not None)
        else set(Shop.objects.values_list("timezone", flat=True))
    )
    if len(zones) == 1:
        return str(zones.pop())
    return gettext("各店铺当地日期")


def localized_chart(data: dict[str, Any], english: bool) -> dict[str, Any]:
    """Chart data with the dataset labels and axis titles in the page's language."""
    return {
        **data,
        "datasets": [
            {
                **item,
                "label": item["label_en"] if english and item.get("label_en") else gettext(item["label"]),
            }
            for item in data["datasets"]
        ],
        "axes": [{**axis, "title": gettext(axis["title"]) if axis["title"] else ""} for axis in data["axes"]],
    }


def table_html(table: dict[str, Any]) -> SafeString:
    """A page table as HTML, built here rather than in a template loop (a year of days × 11 columns is
    4,000 cells): the card scrolls sideways, the header sticks, numbers align right (datacenter.css)."""
    parts = ['<div class="datacenter-table-wrap overflow-x-auto" data-testid="table-scroll">']
    parts.append('<table class="datacenter-table"><thead><tr>')
    for header in table["headers"]:
        numeric = ' class="num"' if header["numeric"] else ""
        parts.append(f'<th scope="col"{numeric}>{escape(header.get("text") or header["label"])}</th>')
    parts.append("</tr></thead><tbody>")
    for row in table["rows"]:
        parts.append('<tr class="is-total">' if row and row[0]["total"] else "<tr>")
        for cell in row:
            text = "-" if cell["text"] is None else escape(cell["text"])
            numeric = ' class="num"' if cell["numeric"] else ""
            if cell.get("href"):
                text = f'<a href="{escape(cell["href"])}" data-drill="buyers">{text}</a>'
            parts.append(f"<td{numeric}>{text}</td>")
        parts.append("</tr>")
    parts.append("</tbody></table></div>")
    return mark_safe("".join(parts))  # every value above is escaped


def refusal_of(form: FilterForm) -> str:
    """Why the filters were refused, field by field (labels, not field names)."""
    problems = "；".join(
        f"{form.fields[name].label}：{' '.join(str(error) for error in errors)}"
        for name, errors in form.errors.items()
    )
    return str(_("筛选条件无效：%(problems)s") % {"problems": problems})


def traffic_shops_text(found: list[Any]) -> str:
    """The shops whose visitors the page counts: 官网（自有访问数据…）、天猫店（平台流量报表）."""
    if not found:
        return ""
    shops = Shop.objects.in_bulk([item.shop_id for item in found])
    return "、".join(
        f"{shops[item.shop_id].name}（{gettext(item.label)}）" for item in found if item.shop_id in shops
    )
