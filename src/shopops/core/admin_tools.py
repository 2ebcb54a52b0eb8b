"""Admin building blocks: service-backed saves, personal-data masking, shop scope, audit history, money."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from decimal import Decimal
from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.admin.utils import unquote
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import PermissionDenied
from django.db import models, transaction
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext as _gettext
from django.utils.translation import gettext_lazy as _
from unfold.decorators import action
from unfold.widgets import UnfoldAdminTextInputWidget, UnfoldBooleanSwitchWidget

from shopops.core import audit
from shopops.core import services as core_services
from shopops.core.admin_lookups import DeclaredLookupsAdmin
from shopops.core.crypto import EncryptedCharField
from shopops.core.errors import DomainError
from shopops.core.money import format_cny
from shopops.core.pii import (
    REVEAL_PII_PERMISSION,
    VIEW_PII_PERMISSION,
    PIIKind,
    can_view_pii,
    mask,
    pii_fields,
)
from shopops.core.scope import label_of, out_of_scope

REFUSAL_ATTRIBUTE = "_shopops_refusal"
MASKED_PREFIX = "masked_"
HISTORY_LIMIT = 200
HISTORY_TEMPLATE = "admin/shopops/audit_history.html"


def money(amount: Decimal | None) -> str:
    """¥1,234.00 (or "-")."""
    return format_cny(amount)


def refusal_text(error: DomainError) -> str:
    details = "；".join(f"{name}: {text}" for name, text in error.fields.items())
    return f"{error.message}（{details}）" if details and details not in error.message else error.message


def report_refusal(request: HttpRequest, error: DomainError) -> None:
    messages.error(request, refusal_text(error))


def masked_changes(user: Any, model: type[models.Model] | None, changes: Any) -> Any:
    """An audit entry's `changes` as this user may see them: values of PII fields masked."""
    if model is None or not isinstance(changes, dict) or can_view_pii(user):
        return changes
    kinds = pii_fields(model)
    if not kinds:
        return changes
    shown: dict[str, Any] = {}
    for name, value in changes.items():
        kind = kinds.get(name)
        if kind is None:
            shown[name] = value
        elif isinstance(value, list):
            shown[name] = [mask(kind, item) for item in value]
        else:
            shown[name] = mask(kind, value)
    return shown


def _text(value: Any, field: Any = None) -> str:
    """A stored audit value as a person reads it: labels for choices, 是/否, nested values spelled out."""
    if value is None or value == "":
        return "∅"
    if isinstance(value, bool):
        return _gettext("是") if value else _gettext("否")
    choices = dict(getattr(field, "flatchoices", None) or ())
    if choices and not isinstance(value, (dict, list)):
        return str(choices.get(value, value))
    if isinstance(value, dict):
        return "；".join(f"{_label(None, str(key))}：{_text(item)}" for key, item in value.items())
    if isinstance(value, (list, tuple)):
        return "、".join(_text(item, field) for item in value) or "∅"
    return str(value)


def _label(model: type[models.Model] | None, name: str) -> str:
    """A field's verbose name when the model has the field, else the name as stored."""
    if model is not None:
        try:
            return str(getattr(model._meta.get_field(name), "verbose_name", name))
        except Exception:  # noqa: BLE001 - audit entries outlive renamed fields
            pass
    return name


def _field(model: type[models.Model] | None, name: str) -> Any:
    if model is None:
        return None
    try:
        return model._meta.get_field(name)
    except Exception:  # noqa: BLE001
        return None


def change_lines(changes: Any, model: type[models.Model] | None = None) -> list[tuple[str, str]]:
    """`{"sale_price": ["10.00", "12.00"]}` → [("售价", "10.00 → 12.00")], for history pages and the audit list:
    field names as the model labels them, choice codes as their labels, nested values spelled out."""
    if not isinstance(changes, dict):
        return [("", _text(changes))]
    lines: list[tuple[str, str]] = []
    for name, value in changes.items():
        field = _field(model, str(name))
        label = _label(model, str(name))
        if isinstance(value, list) and len(value) == 2:
            lines.append((label, f"{_text(value[0], field)} → {_text(value[1], field)}"))
        else:
            lines.append((label, _text(value, field)))
    return lines


def _masked_reader(name: str, kind: PIIKind, label: Any) -> Callable[[models.Model], Any]:
    def reader(obj: models.Model) -> Any:
        return mask(kind, getattr(obj, name)) or "-"

    reader.short_description = label  # type: ignore[attr-defined]
    return reader


def adopt_saved(obj: models.Model, saved: models.Model) -> None:
    """Make the admin's unsaved form instance the record a service created or changed."""
    obj.pk = saved.pk
    obj.refresh_from_db()
    obj._state.adding = False


def changed_values(form: Any, names: Iterable[str]) -> dict[str, Any]:
    """The submitted values of the fields the user changed, limited to `names`."""
    allowed = set(names)
    return {name: form.cleaned_data[name] for name in form.changed_data if name in allowed}


def action_page(
    model_admin: Any,
    request: HttpRequest,
    queryset: models.QuerySet[Any],
    *,
    action_name: str,
    title: Any,
    form: forms.Form,
    next_step: str,
    submit_label: Any,
    description: Any = "",
    preview: dict[str, Any] | None = None,
    hidden_fields: Iterable[str] = (),
) -> TemplateResponse:
    """The intermediate page of a changelist action: a form (and maybe a preview) posting back to it."""
    context = {
        **model_admin.admin_site.each_context(request),
        "title": title,
        "opts": model_admin.opts,
        "form": form,
        "action_name": action_name,
        "selected_ids": [str(pk) for pk in queryset.values_list("pk", flat=True)],
        "objects": list(queryset[:20]) if preview is None else [],
        "object_count": queryset.count(),
        "preview": preview,
        "next_step": next_step,
        "submit_label": submit_label,
        "description": description,
        "hidden_fields": list(hidden_fields),
    }
    return TemplateResponse(request, "admin/shopops/action_form.html", context)


class RefusalFormMixin(forms.BaseForm):
    """Shows the domain error a service raised for this submission as form errors."""

    refusal: DomainError | None = None

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        error = self.refusal
        if error is None:
            return cleaned
        for name, text in error.fields.items():
            field = name if name in self.fields else name.removesuffix("_id")
            if field in self.fields and field not in self.errors:
                self.add_error(field, text)
        self.add_error(None, refusal_text(error))
        return cleaned


class ReasonForm(forms.Form):
    """Asks for the reason an action is taken (it lands in the audit and the history)."""

    reason = forms.CharField(
        label=_("原因"), max_length=300, required=False, widget=UnfoldAdminTextInputWidget()
    )


class RevealForm(forms.Form):
    """Asks why personal data is shown: required, as in the API, since the reason is what the audit is for."""

    reason = forms.CharField(
        label=_("查看原因"),
        max_length=300,
        widget=UnfoldAdminTextInputWidget(),
        error_messages={"required": _("请填写查看原因")},
    )


def reason_field(*, required: bool = False) -> forms.CharField:
    return forms.CharField(
        label=_("调价原因"), max_length=300, required=required, widget=UnfoldAdminTextInputWidget()
    )


def acknowledge_field() -> forms.BooleanField:
    return forms.BooleanField(
        label=_("确认价格保护提醒"),
        required=False,
        widget=UnfoldBooleanSwitchWidget(),
        help_text=_("售价触发价格保护提醒（非阻止）时，勾选后才能保存"),
    )


class ShopOpsModelAdmin(DeclaredLookupsAdmin):
    """The base of every shopops admin.

    - querysets (and foreign-key choices, and list-filter dropdowns) are limited with `for_user` where the
      model is shop-scoped;
    - personal-data fields (`PII_FIELDS`) are masked in lists and read-only masked on the change form
      unless the user holds `core.view_pii`;
    - list URLs accept only the lookups the admin declares (its list filters, date hierarchy and
      `linked_lookups`); without `core.view_pii` no filter, search or sort reads personal data, here or
      across a relation, since each would reveal a masked value one guess at a time;
    - saves run inside one transaction; a `DomainError` from a service re-renders the form with the
      error instead of a 500, and nothing is written;
    - without a service, saves and deletes are audited here (`<model>.created/updated/deleted`);
    - the object's history page lists its `AuditEntry` rows.
    """

    list_per_page = 50
    compressed_fields = True
    warn_unsaved_form = True

    def __init__(self, model: type[models.Model], admin_site: Any) -> None:
        super().__init__(model, admin_site)
        self.pii_kinds = pii_fields(model)
        for name, kind in self.pii_kinds.items():
            label = getattr(model._meta.get_field(name), "verbose_name", name)
            setattr(self, MASKED_PREFIX + name, _masked_reader(name, kind, label))

    # Scope.

    def get_object_or_404(self, request: HttpRequest, object_id: str) -> Any:
        """The row behind an admin URL within the user's scope, else the one out-of-scope 404 (core.scope)."""
        obj = self.get_object(request, unquote(object_id))
        if obj is None:
            raise out_of_scope(label_of(self.model))
        return obj

    def get_queryset(self, request: HttpRequest) -> models.QuerySet[Any]:
        queryset = super().get_queryset(request)
        if hasattr(queryset, "for_user"):
            queryset = queryset.for_user(request.user)
        return queryset

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        related = db_field.related_model._default_manager.all()
        if "queryset" not in kwargs and hasattr(related, "for_user"):
            kwargs["queryset"] = related.for_user(request.user)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def formfield_for_manytomany(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        related = db_field.related_model._default_manager.all()
        if "queryset" not in kwargs and hasattr(related, "for_user"):
            kwargs["queryset"] = related.for_user(request.user)
        return super().formfield_for_manytomany(db_field, request, **kwargs)

    # Personal data.

    def hides_pii(self, request: HttpRequest) -> bool:
        return bool(self.pii_kinds) and not can_view_pii(request.user)

    def _swap_pii(self, names: Iterable[Any]) -> list[Any]:
        return [
            MASKED_PREFIX + name if isinstance(name, str) and name in self.pii_kinds else name
            for name in names
        ]

    def get_list_display(self, request: HttpRequest) -> Any:
        names = super().get_list_display(request)
        return self._swap_pii(names) if self.hides_pii(request) else names

    def get_sortable_by(self, request: HttpRequest) -> Any:
        # an encrypted column holds random tokens: sorting by it would order nothing meaningful
        encrypted = {
            field.name for field in self.model._meta.concrete_fields if isinstance(field, EncryptedCharField)
        }
        return [name for name in super().get_sortable_by(request) if name not in encrypted]

    def get_list_display_links(self, request: HttpRequest, list_display: Any) -> Any:
        links = super().get_list_display_links(request, list_display)
        return self._swap_pii(links) if links and self.hides_pii(request) else links

    def get_exclude(self, request: HttpRequest, obj: Any = None) -> Any:
        exclude = list(super().get_exclude(request, obj) or [])
        if obj is not None and self.hides_pii(request):
            exclude += list(self.pii_kinds)
        return exclude

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        readonly = list(super().get_readonly_fields(request, obj))
        if obj is not None and self.hides_pii(request):
            readonly += [MASKED_PREFIX + name for name in self.pii_kinds]
        return readonly

    def get_fieldsets(self, request: HttpRequest, obj: Any = None) -> Any:
        fieldsets = super().get_fieldsets(request, obj)
        if obj is None or not self.hides_pii(request) or not self.fieldsets:
            return fieldsets
        return [
            (title, {**options, "fields": self._swap_pii(options["fields"])}) for title, options in fieldsets
        ]

    # Saving through services.

    def get_form(self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any) -> Any:
        form_class = super().get_form(request, obj, change=change, **kwargs)
        refusal = getattr(request, REFUSAL_ATTRIBUTE, None)
        if refusal is None:
            return form_class
        return type(form_class.__name__, (RefusalFormMixin, form_class), {"refusal": refusal})

    def changeform_view(
        self,
        request: HttpRequest,
        object_id: str | None = None,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> Any:
        if request.method != "POST":
            return super().changeform_view(request, object_id, form_url, extra_context)
        try:
            with transaction.atomic():
                return super().changeform_view(request, object_id, form_url, extra_context)
        except DomainError as error:
            # Everything of the first attempt is rolled back; the second pass shows the refusal on the form.
            setattr(request, REFUSAL_ATTRIBUTE, error)
            return super().changeform_view(request, object_id, form_url, extra_context)

    def audit_name(self) -> str:
        return self.model._meta.model_name or "record"

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        """Generic audited save for models without a service; service-backed admins override this."""
        before = audit.snapshot(type(obj)._default_manager.filter(pk=obj.pk).first()) if change else {}
        super().save_model(request, obj, form, change)
        after = audit.snapshot(obj)
        if not change or audit.diff(before, after):
            action = f"{self.audit_name()}.{'updated' if change else 'created'}"
            audit.record(actor=request.user, action=action, instance=obj, before=before, after=after)

    def delete_model(self, request: HttpRequest, obj: Any) -> None:
        with transaction.atomic():
            audit.record(
                actor=request.user,
                action=f"{self.audit_name()}.deleted",
                instance=obj,
                before=audit.snapshot(obj),
                after={},
            )
            super().delete_model(request, obj)

    def delete_queryset(self, request: HttpRequest, queryset: models.QuerySet[Any]) -> None:
        with transaction.atomic():
            for obj in queryset:
                self.delete_model(request, obj)

    def call_service(self, request: HttpRequest, function: Callable[..., Any], **kwargs: Any) -> Any:
        """Run a service for an action; a refusal becomes an error message and returns None."""
        try:
            return function(**kwargs)
        except DomainError as error:
            report_refusal(request, error)
            return None

    # History.

    def history_view(
        self, request: HttpRequest, object_id: str, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        obj = self.get_object(request, unquote(object_id))
        if obj is None:
            return self._get_obj_does_not_exist_redirect(request, self.opts, object_id)
        if not self.has_view_or_change_permission(request, obj):
            raise PermissionDenied
        entries = list(audit.history(obj, request.user)[:HISTORY_LIMIT])
        for entry in entries:
            shown = masked_changes(request.user, type(obj), entry.changes)
            entry.change_lines = change_lines(shown, type(obj))  # type: ignore[attr-defined]
        context = {
            **self.admin_site.each_context(request),
            "title": _gettext("变更历史：%(object)s") % {"object": obj},
            "subtitle": None,
            "entries": entries,
            "module_name": str(self.opts.verbose_name_plural),
            "object": obj,
            "content_type_id": ContentType.objects.get_for_model(type(obj)).pk,
            "opts": self.opts,
            "app_label": self.opts.app_label,
            "preserved_filters": self.get_preserved_filters(request),
            **(extra_context or {}),
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, HISTORY_TEMPLATE, context)


class RevealPersonalDataMixin(ShopOpsModelAdmin):
    """A "查看个人信息" button on the change form: shows the record's personal data once, audited."""

    actions_detail = ["reveal_personal_data"]

    def has_reveal_permission(self, request: HttpRequest, object_id: Any = None) -> bool:
        user = request.user
        return bool(self.pii_kinds) and (
            user.has_perm(VIEW_PII_PERMISSION) or user.has_perm(REVEAL_PII_PERMISSION)
        )

    @action(description=_("查看个人信息"), url_path="reveal", permissions=["reveal"], icon="visibility")
    def reveal_personal_data(self, request: HttpRequest, object_id: str) -> HttpResponse:
        obj = self.get_object_or_404(request, object_id)
        if not self.has_view_or_change_permission(request, obj):
            raise out_of_scope(label_of(self.model))
        form = RevealForm(request.POST or None)
        values: list[tuple[Any, Any]] = []
        if request.method == "POST" and form.is_valid():
            revealed = self.call_service(
                request,
                core_services.reveal_personal_data,
                actor=request.user,
                instance=obj,
                reason=form.cleaned_data["reason"],
            )
            values = [
                (self.opts.get_field(name).verbose_name, value) for name, value in (revealed or {}).items()
            ]
        context = {
            **self.admin_site.each_context(request),
            "title": _gettext("查看个人信息：%(object)s") % {"object": obj},
            "object": obj,
            "opts": self.opts,
            "form": form,
            "values": values,
        }
        response = TemplateResponse(request, "admin/shopops/reveal.html", context)
        response["Cache-Control"] = "no-store"
        return response


class ReadOnlyAdmin(ShopOpsModelAdmin):
    """History tables: nobody adds, changes or deletes (viewing still needs the view permission)."""

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


def local_time(value: dt.datetime | None, empty: str = "-") -> str:
    """A moment as the reader's local time (the active time zone, Asia/Shanghai by default), to the minute."""
    return date_format(timezone.localtime(value), "Y-m-d H:i") if value else empty
