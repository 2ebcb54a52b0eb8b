"""Admin for products' listings (上架/下架) on shops and their events."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext_lazy as _
from unfold.contrib.filters.admin import ChoicesDropdownFilter, RangeDateTimeFilter, RelatedDropdownFilter
from unfold.decorators import action

from shopops.catalog import services as catalog_services
from shopops.catalog.models import ChannelListing, ListingStatus
from shopops.core.admin_tools import ReadOnlyAdmin, ReasonForm, ShopOpsModelAdmin, action_page, adopt_saved


class ListingAddForm(forms.ModelForm):
    class Meta:
        model = ChannelListing
        fields = ("product", "shop", "status", "reason")


class ChannelListingAdmin(ShopOpsModelAdmin):
    # the 工作台's to-do counts link here with these filters (shopops.dashboard)
    linked_lookups = ("status__exact",)
    list_display = ("product", "shop", "status", "external_id", "changed_at", "changed_by", "reason")
    list_filter = (("status", ChoicesDropdownFilter), ("shop", RelatedDropdownFilter))
    search_fields = ("product__name", "product__merchant_code", "external_id")
    list_select_related = ("product", "shop", "changed_by")
    actions = ["list_selected", "delist_selected"]
    actions_detail = ["list_on_shop", "delist_from_shop"]

    def get_form(self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any) -> Any:
        if obj is None:
            kwargs["form"] = ListingAddForm
        return super().get_form(request, obj, change=change, **kwargs)

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        if obj is None:
            return ("product", "shop", "status", "reason")
        return ("product", "shop", "status", "external_id", "changed_at", "changed_by", "reason")

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return () if obj is None else ("product", "shop", "status", "changed_at", "changed_by", "reason")

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        if change:
            super().save_model(request, obj, form, change)
            return
        data = form.cleaned_data
        saved = catalog_services.set_listing_status(
            product_id=data["product"].pk,
            shop_id=data["shop"].pk,
            status=data["status"],
            actor=request.user,
            reason=data.get("reason", ""),
        )
        adopt_saved(obj, saved)

    def _change_status(
        self, request: HttpRequest, queryset: QuerySet[ChannelListing], status: str, *, apply: bool = False
    ) -> HttpResponse | None:
        title = _("上架") if status == ListingStatus.LISTED else _("下架")
        if apply or request.POST.get("step") == "apply":
            form = ReasonForm(request.POST)
            if form.is_valid():
                done = 0
                for listing in queryset:
                    if self.call_service(
                        request,
                        catalog_services.set_listing_status,
                        product_id=listing.product_id,
                        shop_id=listing.shop_id,
                        status=status,
                        actor=request.user,
                        reason=form.cleaned_data["reason"],
                    ):
                        done += 1
                messages.success(
                    request, _("%(action)s完成：%(count)d 条") % {"action": title, "count": done}
                )
                return None
        else:
            form = ReasonForm()
        return action_page(
            self,
            request,
            queryset,
            action_name="list_selected" if status == ListingStatus.LISTED else "delist_selected",
            title=title,
            form=form,
            next_step="apply",
            submit_label=title,
            description=_("下架须填写原因；原因会记入上下架记录和审计记录。"),
        )

    @admin.action(description=_("上架"), permissions=["change"])
    def list_selected(self, request: HttpRequest, queryset: QuerySet[ChannelListing]) -> HttpResponse | None:
        return self._change_status(request, queryset, ListingStatus.LISTED)

    @admin.action(description=_("下架"), permissions=["change"])
    def delist_selected(
        self, request: HttpRequest, queryset: QuerySet[ChannelListing]
    ) -> HttpResponse | None:
        return self._change_status(request, queryset, ListingStatus.DELISTED)

    def _detail_status(self, request: HttpRequest, object_id: str, status: str) -> HttpResponse:
        listing = self.get_object_or_404(request, object_id)
        queryset = self.get_queryset(request).filter(pk=listing.pk)
        if request.method == "POST":
            response = self._change_status(request, queryset, status, apply=True)
            if response is not None:
                return response
            back = request.GET.get("next", "")
            if not url_has_allowed_host_and_scheme(back, allowed_hosts={request.get_host()}):
                back = reverse("admin:catalog_product_change", args=[listing.product_id])
            return HttpResponseRedirect(back)
        return self._change_status(request, queryset, status)  # type: ignore[return-value]

    @action(description=_("上架"), url_path="list-on-shop", permissions=["change"], icon="publish")
    def list_on_shop(self, request: HttpRequest, object_id: str) -> HttpResponse:
        return self._detail_status(request, object_id, ListingStatus.LISTED)

    @action(description=_("下架"), url_path="delist-from-shop", permissions=["change"], icon="unpublished")
    def delist_from_shop(self, request: HttpRequest, object_id: str) -> HttpResponse:
        return self._detail_status(request, object_id, ListingStatus.DELISTED)


class ListingEventAdmin(ReadOnlyAdmin):
    list_display = ("listing", "from_status", "to_status", "reason", "actor", "created_at")
    list_filter = (("to_status", ChoicesDropdownFilter), ("created_at", RangeDateTimeFilter))
    list_select_related = ("listing__product", "listing__shop", "actor")

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        shops = ChannelListing.objects.for_user(request.user).values("pk")
        return super().get_queryset(request).filter(listing__in=shops)
