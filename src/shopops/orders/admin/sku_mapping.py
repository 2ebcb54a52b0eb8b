"""商品对应 (SKU mapping) in the back office: the unmatched platform lines of the user's shops, a page to
choose the SKU for one of them (search by code, name or barcode), bulk mapping by 商家编码 with a preview,
and the list of mappings kept. Every write is a POST through `orders.services.map_sku` / `bulk_map`."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.db.models import Q
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.translation import gettext_lazy as _
from unfold.contrib.filters.admin import RelatedDropdownFilter
from unfold.widgets import UnfoldAdminSelectWidget, UnfoldAdminTextInputWidget

from shopops.catalog.models import Sku
from shopops.channels import queries as channel_queries
from shopops.channels.models import Shop
from shopops.core.admin_tools import ShopOpsModelAdmin, refusal_text
from shopops.core.errors import DomainError
from shopops.core.scope import out_of_scope
from shopops.orders import queries, services
from shopops.orders.admin.common import REVIEW_PERMISSION
from shopops.orders.models import SkuMapping
from shopops.orders.services.sku_keys import mapping_key

SEARCH_LIMIT = 30


class BulkForm(forms.Form):
    shop = forms.ModelChoiceField(
        label=_("店铺"), queryset=Shop.objects.none(), widget=UnfoldAdminSelectWidget()
    )
    mode = forms.ChoiceField(
        label=_("对应方式"),
        choices=[
            ("equal", _("商家编码与 SKU 编码相同")),
            ("strip_prefix", _("去掉前缀后与 SKU 编码相同")),
            ("add_prefix", _("加上前缀后与 SKU 编码相同")),
        ],
        widget=UnfoldAdminSelectWidget(),
    )
    code_prefix = forms.CharField(
        label=_("前缀"), max_length=30, required=False, widget=UnfoldAdminTextInputWidget()
    )

    def __init__(self, *args: Any, user: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["shop"].queryset = Shop.objects.for_user(user).order_by("name")  # type: ignore[attr-defined]


def sku_search(term: str) -> list[Sku]:
    """Active SKUs whose code, barcode, product name or code contains `term` (exact code first)."""
    term = term.strip()
    if not term:
        return []
    found = (
        Sku.objects.filter(is_active=True)
        .filter(
            Q(merchant_code__icontains=term)
            | Q(barcode__icontains=term)
            | Q(product__name__icontains=term)
            | Q(product__merchant_code__icontains=term)
        )
        .select_related("product")
        .order_by("merchant_code")[:SEARCH_LIMIT]
    )
    return sorted(
        found, key=lambda sku: (sku.merchant_code != term and sku.barcode != term, sku.merchant_code)
    )


def sku_label(sku: Sku) -> str:
    parts = [sku.merchant_code, sku.product.name, sku.spec]
    return " · ".join(part for part in parts if part)


class SkuMappingAdmin(ShopOpsModelAdmin):
    """The mappings kept per shop; the work happens on the 未匹配商品 page (`unmatched_view`)."""

    list_display = ("shop", "merchant_code", "title", "spec", "sku_shown", "created_by", "created_at")
    list_filter = (("shop", RelatedDropdownFilter),)
    list_filter_submit = True
    search_fields = ("merchant_code", "title", "sku__merchant_code", "sku__product__name")
    list_select_related = ("shop", "sku", "sku__product", "created_by")

    @staticmethod
    def sku_shown(mapping: SkuMapping) -> str:
        return sku_label(mapping.sku)

    sku_shown.short_description = _("对应SKU")  # type: ignore[attr-defined]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # chosen on the unmatched page, where the waiting orders are fixed with it

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # map the key again on the unmatched page instead (it fixes orders and is audited)

    def get_urls(self) -> list[URLPattern]:
        extra = [
            path(
                "unmatched/",
                self.admin_site.admin_view(self.unmatched_view),
                name="orders_skumapping_unmatched",
            ),
            path("map/", self.admin_site.admin_view(self.map_view), name="orders_skumapping_map"),
            path("bulk/", self.admin_site.admin_view(self.bulk_view), name="orders_skumapping_bulk"),
        ]
        return extra + super().get_urls()

    def _context(self, request: HttpRequest, title: Any, **extra: Any) -> dict[str, Any]:
        return {
            **self.admin_site.each_context(request),
            "title": title,
            "opts": self.opts,
            "unmatched_url": reverse("admin:orders_skumapping_unmatched"),
            "mappings_url": reverse("admin:orders_skumapping_changelist"),
            **extra,
        }

    def _require(self, request: HttpRequest, *, write: bool) -> None:
        if not request.user.has_perm("orders.view_skumapping"):
            raise PermissionDenied
        if write and not request.user.has_perm(REVIEW_PERMISSION):
            raise PermissionDenied

    def _shop(self, request: HttpRequest, raw: Any) -> Shop:
        if not str(raw).isdigit():
            raise out_of_scope("店铺")
        return channel_queries.shop_in_scope(request.user, int(raw))

    def unmatched_view(self, request: HttpRequest) -> HttpResponse:
        self._require(request, write=False)
        shops = list(Shop.objects.for_user(request.user).order_by("name"))
        shop_id = request.GET.get("shop", "")
        chosen = next((shop for shop in shops if str(shop.pk) == shop_id), None)
        term = request.GET.get("q", "")[:100]
        entries = queries.unmatched_sku_keys(request.user, shop_id=chosen.pk if chosen else None, search=term)
        rows = []
        for entry in entries:
            params = {"shop": entry.shop_id, "code": entry.merchant_code}
            if not entry.merchant_code:
                params.update({"title": entry.title, "spec": entry.spec})
            rows.append(
                {"entry": entry, "map_url": reverse("admin:orders_skumapping_map") + "?" + urlencode(params)}
            )
        context = self._context(
            request,
            _("未匹配商品"),
            rows=rows,
            shops=shops,
            chosen=chosen,
            term=term,
            can_map=request.user.has_perm(REVIEW_PERMISSION),
            bulk_form=BulkForm(user=request.user, initial={"shop": chosen.pk if chosen else None}),
            bulk_url=reverse("admin:orders_skumapping_bulk"),
            totals={
                "keys": len(entries),
                "orders": sum(entry.orders for entry in entries),
                "units": sum(entry.units for entry in entries),
            },
        )
        return TemplateResponse(request, "admin/orders/skumapping/unmatched.html", context)

    def map_view(self, request: HttpRequest) -> HttpResponse:
        self._require(request, write=True)
        data = request.POST if request.method == "POST" else request.GET
        shop = self._shop(request, data.get("shop"))
        key = mapping_key(data.get("code", ""), data.get("title", ""), data.get("spec", ""))
        if not any(key):
            raise Http404(_("缺少商家编码或商品标题"))
        waiting = [
            entry for entry in queries.unmatched_sku_keys(request.user, shop_id=shop.pk) if entry.key == key
        ]
        error = ""
        if request.method == "POST":
            try:
                result = services.map_sku(
                    actor=request.user,
                    shop_id=shop.pk,
                    merchant_code=key[0],
                    title=key[1],
                    spec=key[2],
                    sku_id=int(chosen) if (chosen := request.POST.get("sku_id", "")).isdigit() else 0,
                )
            except DomainError as refused:
                error = refusal_text(refused)
            else:
                messages.success(
                    request,
                    _("已对应：%(lines)d 行商品、%(orders)d 个订单已重新审单并预占库存")
                    % {"lines": result.lines, "orders": len(result.order_ids)},
                )
                return HttpResponseRedirect(reverse("admin:orders_skumapping_unmatched") + f"?shop={shop.pk}")
        term = data.get("q", "") if request.method == "GET" else request.POST.get("q", "")
        if not term and request.method == "GET":
            term = key[0] or key[1]
        candidates = sku_search(term[:100])
        context = self._context(
            request,
            _("选择对应的SKU"),
            shop=shop,
            key=key,
            entry=waiting[0] if waiting else None,
            term=term,
            candidates=[(sku, sku_label(sku)) for sku in candidates],
            error=error,
            hidden={"shop": shop.pk, "code": key[0], "title": key[1], "spec": key[2]},
        )
        return TemplateResponse(request, "admin/orders/skumapping/map.html", context)

    def bulk_view(self, request: HttpRequest) -> HttpResponse:
        self._require(request, write=True)
        form = BulkForm(request.POST or request.GET or None, user=request.user)
        preview: list[tuple[str, str, int, int]] = []
        error = ""
        if form.is_valid():
            shop = form.cleaned_data["shop"]
            mode = form.cleaned_data["mode"]
            prefix = form.cleaned_data["code_prefix"]
            try:
                if request.method == "POST" and request.POST.get("step") == "apply":
                    result = services.bulk_map(actor=request.user, shop_id=shop.pk, mode=mode, prefix=prefix)
                    messages.success(
                        request,
                        _("批量对应完成：%(keys)d 个商家编码、%(orders)d 个订单已重新审单")
                        % {"keys": len(result.keys), "orders": len(result.order_ids)},
                    )
                    return HttpResponseRedirect(
                        reverse("admin:orders_skumapping_unmatched") + f"?shop={shop.pk}"
                    )
                found = services.bulk_candidates(shop_id=shop.pk, mode=mode, prefix=prefix)
            except DomainError as refused:
                error = refusal_text(refused)
                found = {}
            waiting = {
                entry.key: entry for entry in queries.unmatched_sku_keys(request.user, shop_id=shop.pk)
            }
            for key, sku in found.items():
                entry = waiting.get(key)
                preview.append(
                    (key[0], sku_label(sku), entry.orders if entry else 0, entry.units if entry else 0)
                )
        context = self._context(
            request,
            _("按商家编码批量对应"),
            form=form,
            preview=preview,
            preview_orders=sum(row[2] for row in preview),
            error=error,
        )
        return TemplateResponse(request, "admin/orders/skumapping/bulk.html", context)
