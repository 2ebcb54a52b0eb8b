"""数据中心 pages in the admin: 概览, 趋势, 流量来源, 商品, 客户, 推广, each with filters and an XLSX export.

Every number comes from `metrics.compute` through `reports.datacenter`; this module only reads the
filters, applies the user's shop scope (`reports.params`) and renders."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

from django import forms
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.translation import gettext_lazy as _
from unfold.widgets import UnfoldAdminDateWidget, UnfoldAdminSelectWidget

from shopops.analytics.models import DataCenter
from shopops.analytics.reports import datacenter, exports, params
from shopops.channels.models import Platform, Shop
from shopops.core import audit
from shopops.core.admin_tools import ShopOpsModelAdmin
from shopops.core.errors import DomainError

VIEW_PERMISSION = "analytics.view_datacenter"
EXPORT_PERMISSION = "analytics.export_datacenter"
XLSX_CONTENT_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
PAGE_TEMPLATE = "admin/analytics/datacenter/page.html"


class FilterForm(forms.Form):
    """The filters of every page (GET): a preset or a custom range, a shop, a channel, a grain."""

    preset = forms.ChoiceField(
        label=_("日期"),
        choices=list(params.PRESETS.items()),
        required=False,
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
        return [overview, export, *pages]

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
            "title": _("数据中心 · %(page)s") % {"page": datacenter.PAGES[page]},
            "page": page,
            "tabs": [(key, label, self._page_url(key, query)) for key, label in datacenter.PAGES.items()],
            "form": form,
            "can_export": request.user.has_perm(EXPORT_PERMISSION),
            "export_url": self._export_url(page, query),
        }
        if form.is_bound and not form.is_valid():
            problems = "；".join(
                f"{form.fields[name].label}：{' '.join(str(error) for error in errors)}"
                for name, errors in form.errors.items()
            )
            context["refusal"] = _("筛选条件无效：%(problems)s") % {"problems": problems}
            return TemplateResponse(request, PAGE_TEMPLATE, context)
        try:
            report = form.resolve(request.user)
            context.update(self._page_context(page, report))
        except DomainError as error:
            context["refusal"] = error.message
        return TemplateResponse(request, PAGE_TEMPLATE, context)

    def _page_context(self, page: str, report: params.ReportParams) -> dict[str, Any]:
        context: dict[str, Any] = {"period": report, "shown": datacenter.page_view_data(page, report)}
        charts = context["shown"].get("charts", [])
        context["charts"] = [
            {"title": chart["title"], "data": json.dumps(chart["data"], ensure_ascii=False)}
            for chart in charts
        ]
        return context

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
        content = exports.export_page(page, report)
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
