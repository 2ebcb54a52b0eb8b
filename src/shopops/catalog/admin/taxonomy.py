"""Admin for the category tree, brands and merchant-code rules."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.http import HttpRequest
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from shopops.catalog import services as catalog_services
from shopops.catalog.models import Category, CodingRule
from shopops.core.admin_tools import ShopOpsModelAdmin, adopt_saved
from shopops.core.errors import DomainError


class CategoryAdmin(ShopOpsModelAdmin):
    list_display = ("indented_name", "code", "path", "sort_order")
    list_display_links = ("indented_name",)
    search_fields = ("name", "code", "path")
    ordering = ("path",)
    fields = ("parent", "name", "code", "sort_order", "path", "depth")
    readonly_fields = ("path", "depth")

    @admin.display(description=_("类目名称"), ordering="path")
    def indented_name(self, category: Category) -> Any:
        return format_html(
            '<span style="padding-left:{}rem">{}{}</span>',
            category.depth * 1.5,
            "└ " if category.depth else "",
            category.name,
        )

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        data = form.cleaned_data
        parent = data.get("parent")
        if change:
            saved = catalog_services.update_category(
                category_id=obj.pk,
                actor=request.user,
                name=data["name"],
                code=data["code"],
                sort_order=data["sort_order"],
                parent_id=parent.pk if parent else None,
                move_to_root=parent is None,
            )
        else:
            saved = catalog_services.create_category(
                name=data["name"],
                code=data["code"],
                actor=request.user,
                parent_id=parent.pk if parent else None,
                sort_order=data["sort_order"],
            )
        adopt_saved(obj, saved)


class BrandAdmin(ShopOpsModelAdmin):
    list_display = ("name", "code", "is_active")
    list_filter = ("is_active",)
    search_fields = ("name", "code")

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        if change:  # renaming a brand has no business rule beyond uniqueness: the audited generic save
            super().save_model(request, obj, form, change)
            return
        saved = catalog_services.create_brand(
            name=form.cleaned_data["name"], code=form.cleaned_data["code"], actor=request.user
        )
        if not form.cleaned_data.get("is_active", True):
            saved.is_active = False
            super().save_model(request, saved, form, True)
        adopt_saved(obj, saved)


class CodingRuleForm(forms.ModelForm):
    class Meta:
        model = CodingRule
        fields = ("name", "pattern", "is_active")

    def clean_pattern(self) -> str:
        pattern = self.cleaned_data["pattern"]
        try:
            catalog_services.validate_coding_pattern(pattern)
        except DomainError as error:
            raise forms.ValidationError(error.message) from None
        return pattern


class CodingRuleAdmin(ShopOpsModelAdmin):
    form = CodingRuleForm
    list_display = ("name", "pattern", "is_active")
