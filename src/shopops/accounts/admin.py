"""Admin for users (roles are groups, shop scope, masked personal data), roles and API tokens."""

from __future__ import annotations

from typing import Any

from axes import admin as axes_admin
from axes.models import AccessAttempt, AccessFailureLog, AccessLog
from django import forms
from django.contrib import admin, messages
from django.contrib.auth.admin import GroupAdmin as BaseGroupAdmin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.contrib.auth.models import Group
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _
from unfold.forms import AdminPasswordChangeForm, UserChangeForm, UserCreationForm
from unfold.widgets import UnfoldAdminIntegerFieldWidget

from shopops.accounts import services as account_services
from shopops.accounts.models import ApiToken, User
from shopops.core import audit
from shopops.core.admin_tools import RevealPersonalDataMixin, ShopOpsModelAdmin, adopt_saved
from shopops.core.pii import can_view_pii


def _membership(user: User) -> dict[str, list[int]]:
    return {
        "groups": sorted(user.groups.values_list("pk", flat=True)),
        "shop_scope": sorted(user.shop_scope.values_list("pk", flat=True)),
    }


class UserAdmin(RevealPersonalDataMixin, BaseUserAdmin):
    form = UserChangeForm
    add_form = UserCreationForm
    change_password_form = AdminPasswordChangeForm
    list_display = (
        "username",
        "real_name",
        "email",
        "phone",
        "role_names",
        "has_all_shops",
        "is_active",
        "last_login",
    )
    list_filter = ("is_active", "is_staff", "groups", "has_all_shops")
    filter_horizontal = ("groups", "shop_scope")
    ordering = ("username",)
    readonly_fields = ("last_login", "date_joined")
    fieldsets = (
        (None, {"fields": ("username", "password")}),
        (_("个人信息"), {"fields": ("real_name", "email", "phone")}),
        (
            _("角色与店铺范围"),
            {"fields": ("is_active", "is_staff", "is_superuser", "groups", "has_all_shops", "shop_scope")},
        ),
        (_("时间"), {"fields": ("last_login", "date_joined")}),
    )
    add_fieldsets = (
        (None, {"fields": ("username", "usable_password", "password1", "password2")}),
        (_("角色与店铺范围"), {"fields": ("is_staff", "groups", "has_all_shops", "shop_scope")}),
    )

    def get_search_fields(self, request: HttpRequest) -> Any:
        return ("username", "real_name", "email", "phone") if can_view_pii(request.user) else ("username",)

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        return super().get_queryset(request).prefetch_related("groups")

    @admin.display(description=_("角色"))
    def role_names(self, user: User) -> str:
        return "、".join(group.name for group in user.groups.all()) or "-"

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        before = _membership(form.instance) if change else {"groups": [], "shop_scope": []}
        super().save_related(request, form, formsets, change)
        after = _membership(form.instance)
        if after != before:
            audit.record(
                actor=request.user,
                action="user.roles_changed",
                instance=form.instance,
                changes={key: [before[key], after[key]] for key in after if before[key] != after[key]},
            )


# Django's group admin first (its form and filters), ours second; at run time our list rules still apply
# (BaseGroupAdmin defines neither method), but mypy compares the two bases' signatures as written.
class GroupAdmin(BaseGroupAdmin, ShopOpsModelAdmin):  # type: ignore[misc]
    pass


class ApiTokenAddForm(forms.ModelForm):
    expires_in_days = forms.IntegerField(
        label=_("有效期（天）"),
        min_value=1,
        max_value=3650,
        initial=90,
        required=False,
        widget=UnfoldAdminIntegerFieldWidget(),
        help_text=_("留空表示永不过期"),
    )

    class Meta:
        model = ApiToken
        fields = ("user", "name")


class ApiTokenAdmin(ShopOpsModelAdmin):
    list_display = (
        "name",
        "user",
        "prefix",
        "created_at",
        "expires_at",
        "last_used_at",
        "revoked_at",
        "usable",
    )
    list_filter = ("revoked_at",)
    search_fields = ("name", "prefix", "user__username")
    list_select_related = ("user",)
    actions = ["revoke_selected"]
    readonly_fields = ("user", "name", "prefix", "created_at", "expires_at", "last_used_at", "revoked_at")

    def get_form(self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any) -> Any:
        if obj is None:
            kwargs["form"] = ApiTokenAddForm
        return super().get_form(request, obj, change=change, **kwargs)

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return super().get_readonly_fields(request, obj) if obj is not None else ()

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return ("user", "name", "expires_in_days") if obj is None else self.readonly_fields

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description=_("可用"), boolean=True)
    def usable(self, token: ApiToken) -> bool:
        return token.is_usable

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        issued = account_services.create_token(
            user=form.cleaned_data["user"],
            name=form.cleaned_data["name"],
            expires_in_days=form.cleaned_data.get("expires_in_days"),
            actor=request.user,
        )
        adopt_saved(obj, issued.token)
        messages.warning(
            request,
            _("令牌密钥只显示这一次，请立即复制保存：%(secret)s") % {"secret": issued.secret},
        )

    @admin.action(description=_("吊销所选令牌"), permissions=["delete"])
    def revoke_selected(self, request: HttpRequest, queryset: QuerySet[ApiToken]) -> None:
        revoked = 0
        for token in queryset.select_related("user"):
            if self.call_service(
                request, account_services.revoke_token, token_id=token.pk, user=token.user, actor=request.user
            ):
                revoked += 1
        messages.success(request, _("已吊销 %(count)d 个令牌") % {"count": revoked})


class AccessAttemptAdmin(axes_admin.AccessAttemptAdmin, ShopOpsModelAdmin):
    """Failed logins (django-axes); deleting an attempt unlocks the account."""


class AccessLogAdmin(axes_admin.AccessLogAdmin, ShopOpsModelAdmin):
    pass


class AccessFailureLogAdmin(axes_admin.AccessFailureLogAdmin, ShopOpsModelAdmin):
    pass


for login_model, login_admin in (
    (AccessAttempt, AccessAttemptAdmin),
    (AccessLog, AccessLogAdmin),
    (AccessFailureLog, AccessFailureLogAdmin),
):
    if admin.site.is_registered(login_model):
        admin.site.unregister(login_model)
        admin.site.register(login_model, login_admin)

admin.site.register(User, UserAdmin)
admin.site.unregister(Group)
admin.site.register(Group, GroupAdmin)
admin.site.register(ApiToken, ApiTokenAdmin)
