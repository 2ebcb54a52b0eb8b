"""Admin for loyalty: levels and the points rule (settings forms), member accounts with their ledger page
(adjust points, review level), and the read-only ledger and level history; every write calls a service."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from unfold.contrib.filters.admin import ChoicesDropdownFilter, RelatedDropdownFilter
from unfold.widgets import UnfoldAdminIntegerFieldWidget, UnfoldAdminTextInputWidget

from shopops.core.admin_tools import ShopOpsModelAdmin, money
from shopops.core.errors import DomainError
from shopops.core.pii import shown
from shopops.loyalty import queries, services
from shopops.loyalty.models import LevelChange, MemberAccount, MemberLevel, PointsEntry, PointsProgram

ADJUST_PERMISSION = "loyalty.adjust_points"
CHANGE_PERMISSION = "loyalty.change_memberaccount"
LEDGER_ROWS = 100


def points_text(points: int) -> str:
    """A balance in words: a negative one is a points debt (积分欠款)."""
    if points < 0:
        return str(_("积分欠款 %(points)s") % {"points": -points})
    return str(points)


def customer_label(user: Any, account: MemberAccount) -> str:
    name = shown(user, account.customer, "name")
    return f"{name} (#{account.customer_id})" if name else f"#{account.customer_id}"


@admin.register(MemberLevel)
class MemberLevelAdmin(ShopOpsModelAdmin):
    list_display = (
        "rank",
        "name",
        "spend_rule",
        "orders_rule",
        "window_days",
        "discount_shown",
        "free_shipping",
        "members",
    )
    list_display_links = ("name",)
    ordering = ("rank",)
    fields = ("name", "rank", "min_spend", "min_orders", "window_days", "discount_permille", "free_shipping")

    def get_queryset(self, request: HttpRequest) -> QuerySet[MemberLevel]:
        self._counts = queries.level_member_counts()
        return super().get_queryset(request)

    @admin.display(description=_("升级消费额"))
    def spend_rule(self, obj: MemberLevel) -> str:
        return money(obj.min_spend) if obj.min_spend is not None else "—"

    @admin.display(description=_("升级订单数"))
    def orders_rule(self, obj: MemberLevel) -> str:
        return str(obj.min_orders) if obj.min_orders else "—"

    @admin.display(description=_("会员折扣"))
    def discount_shown(self, obj: MemberLevel) -> str:
        if not obj.discount_permille:
            return "—"
        return str(_("减 %(percent)s%%") % {"percent": f"{obj.discount_permille / 10:g}"})

    @admin.display(description=_("会员数"))
    def members(self, obj: MemberLevel) -> int:
        return getattr(self, "_counts", {}).get(obj.pk, 0)


@admin.register(PointsProgram)
class PointsProgramAdmin(ShopOpsModelAdmin):
    list_display = ("__str__", "points_per_yuan", "earn_on", "expiry_days")
    fields = ("points_per_yuan", "earn_on", "expiry_days")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return super().has_add_permission(request) and not PointsProgram.objects.exists()

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class AdjustForm(forms.Form):
    points = forms.IntegerField(
        label=_("调整积分"),
        min_value=-services.MAX_ADJUST,
        max_value=services.MAX_ADJUST,
        help_text=_("正数为增加，负数为扣减"),
        widget=UnfoldAdminIntegerFieldWidget(),
    )
    reason = forms.CharField(label=_("调整原因"), max_length=300, widget=UnfoldAdminTextInputWidget())


@admin.register(MemberAccount)
class MemberAccountAdmin(ShopOpsModelAdmin):
    list_display = ("customer_shown", "level", "balance_shown", "expiring_shown", "level_since", "updated_at")
    list_filter = (("level", RelatedDropdownFilter),)
    list_select_related = ("level", "customer")
    ordering = ("-balance", "-id")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description=_("客户"))
    def customer_shown(self, obj: MemberAccount) -> str:
        return customer_label(getattr(self, "_user", None), obj)

    @admin.display(description=_("积分余额"), ordering="balance")
    def balance_shown(self, obj: MemberAccount) -> str:
        return points_text(obj.balance)

    @admin.display(description=_("30 天内到期"))
    def expiring_shown(self, obj: MemberAccount) -> str:
        summary = queries.member_summary(obj.customer_id)
        return str(summary.expiring) if summary and summary.expiring else "—"

    def changelist_view(self, request: HttpRequest, extra_context: Any = None) -> HttpResponse:
        self._user = request.user
        return super().changelist_view(request, extra_context)

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: Any = None
    ) -> HttpResponse:
        """The member page: level, balance, expiring points, the ledger; adjust and review by POST."""
        if not self.has_view_or_change_permission(request):
            raise PermissionDenied
        account = (
            MemberAccount.objects.select_related("level", "customer").filter(pk=unquote(object_id)).first()
        )
        if account is None:
            raise Http404
        can_adjust = request.user.has_perm(ADJUST_PERMISSION)
        can_review = request.user.has_perm(CHANGE_PERMISSION)
        form = AdjustForm(request.POST if request.method == "POST" and "adjust" in request.POST else None)
        if request.method == "POST":
            done = self._post(request, account, form, can_adjust=can_adjust, can_review=can_review)
            if done:
                return HttpResponseRedirect(request.path)
        summary = queries.member_summary(account.customer_id)
        assert summary is not None
        entries = list(
            PointsEntry.objects.filter(account=account)
            .select_related("order", "actor")
            .order_by("-id")[:LEDGER_ROWS]
        )
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": _("会员积分：%(customer)s") % {"customer": customer_label(request.user, account)},
            "account": account,
            "summary": summary,
            "balance": points_text(account.balance),
            "is_in_debt": account.balance < 0,
            "benefit_discount": f"{account.level.discount_permille / 10:g}"
            if account.level.discount_permille
            else "",
            "entries": entries,
            "history": [
                (change, services.LEVEL_CHANGE_REASONS.get(change.reason, change.reason))
                for change in LevelChange.objects.filter(account=account).select_related(
                    "from_level", "to_level"
                )[:20]
            ],
            "customer": customer_label(request.user, account),
            "form": form if can_adjust else None,
            "can_review": can_review,
            "changelist_url": reverse("admin:loyalty_memberaccount_changelist"),
        }
        return TemplateResponse(request, "admin/loyalty/memberaccount/member.html", context)

    def _post(
        self,
        request: HttpRequest,
        account: MemberAccount,
        form: AdjustForm,
        *,
        can_adjust: bool,
        can_review: bool,
    ) -> bool:
        if "adjust" in request.POST:
            if not can_adjust:
                raise PermissionDenied
            if not form.is_valid():
                return False
            try:
                entry = services.adjust_points(
                    customer_id=account.customer_id,
                    points=form.cleaned_data["points"],
                    reason=form.cleaned_data["reason"],
                    actor=request.user,
                )
            except DomainError as error:
                form.add_error(None, error.message)
                return False
            messages.success(
                request,
                _("已调整 %(points)s 积分，余额 %(balance)s")
                % {"points": f"{entry.points:+d}", "balance": points_text(entry.balance_after)},
            )
            return True
        if "review" in request.POST:
            if not can_review:
                raise PermissionDenied
            before = account.level.name
            reviewed = self.call_service(
                request, services.review_level, account_id=account.pk, actor=request.user
            )
            if reviewed is not None:
                if reviewed.level.name == before:
                    messages.info(request, _("等级复核完成：仍为%(level)s") % {"level": before})
                else:
                    messages.success(
                        request,
                        _("等级复核完成：%(old)s → %(new)s") % {"old": before, "new": reviewed.level.name},
                    )
            return True
        return False


@admin.register(PointsEntry)
class PointsEntryAdmin(ShopOpsModelAdmin):
    list_display = (
        "created_at",
        "member_link",
        "kind",
        "points_shown",
        "balance_shown",
        "order_shown",
        "reason",
    )
    list_filter = (("kind", ChoicesDropdownFilter),)
    list_select_related = ("account", "order")
    linked_lookups = ("account__id__exact",)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description=_("会员"))
    def member_link(self, obj: PointsEntry) -> str:
        url = reverse("admin:loyalty_memberaccount_change", args=[obj.account_id])
        return format_html('<a class="text-primary-600" href="{}">#{}</a>', url, obj.account.customer_id)

    @admin.display(description=_("积分变动"))
    def points_shown(self, obj: PointsEntry) -> str:
        return f"{obj.points:+d}"

    @admin.display(description=_("变动后余额"))
    def balance_shown(self, obj: PointsEntry) -> str:
        return points_text(obj.balance_after)

    @admin.display(description=_("订单"))
    def order_shown(self, obj: PointsEntry) -> str:
        return obj.order.external_id if obj.order is not None else "—"


@admin.register(LevelChange)
class LevelChangeAdmin(ShopOpsModelAdmin):
    list_display = ("changed_at", "account", "from_level", "to_level", "reason")
    list_select_related = ("account", "from_level", "to_level")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
