"""Customers' part of personal-data requests: export, correction and anonymisation of a customer's own
profile and platform accounts (the `personal_data` extension, called by privacy)."""

from __future__ import annotations

import datetime as dt
import secrets
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.formats import date_format

from shopops.core import audit
from shopops.core.errors import InvalidInput
from shopops.customers.models import Customer, CustomerAccount
from shopops.customers.services import phone_hash

ANONYMOUS_TOKEN_PREFIX = "anon-"
CORRECTABLE = ("name", "phone", "email", "birthday")


def label(model: type[Any], name: str) -> str:
    return str(model._meta.get_field(name).verbose_name)


def readable(value: Any) -> str:
    """A value as a person reads it: local times, yes/no, '' for nothing."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, dt.datetime):
        return date_format(timezone.localtime(value), "Y-m-d H:i")
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


def export(customer: Customer) -> dict[str, list[dict[str, str]]]:
    fields = (
        "name",
        "phone",
        "email",
        "birthday",
        "is_blacklisted",
        "first_order_at",
        "last_order_at",
        "created_at",
    )
    profile = {label(Customer, name): readable(getattr(customer, name)) for name in fields}
    accounts = [
        {
            label(CustomerAccount, "platform"): account.platform,
            label(CustomerAccount, "buyer_id"): account.buyer_id,
            label(CustomerAccount, "created_at"): readable(account.created_at),
        }
        for account in customer.accounts.order_by("platform", "pk")
    ]
    return {
        str(Customer._meta.verbose_name): [profile],
        str(CustomerAccount._meta.verbose_name_plural): accounts,
    }


def anonymous_token() -> str:
    """An irreversible stand-in for a buyer id: random, so nothing leads back to the id it replaces."""
    return f"{ANONYMOUS_TOKEN_PREFIX}{secrets.token_hex(12)}"


def anonymise(customer: Customer) -> int:
    """Blank the profile's personal fields and replace the platform buyer ids; rows changed (0 when
    already anonymous). The customer row stays: orders, metrics and ledgers keep pointing at it."""
    changed = 0
    with transaction.atomic():
        locked = Customer.objects.select_for_update().get(pk=customer.pk)
        if locked.name or locked.phone or locked.phone_hash or locked.email or locked.birthday:
            locked.name = ""
            locked.phone = ""
            locked.phone_hash = ""
            locked.email = ""
            locked.birthday = None
            # phone_last4 and email_hash are derived by the encrypted fields on save (blank for blank values)
            locked.save(
                update_fields=[
                    "name",
                    "phone",
                    "phone_hash",
                    "phone_last4",
                    "email",
                    "email_hash",
                    "birthday",
                    "updated_at",
                ]
            )
            changed += 1
        for account in CustomerAccount.objects.filter(customer=locked).exclude(
            buyer_id__startswith=ANONYMOUS_TOKEN_PREFIX
        ):
            account.buyer_id = anonymous_token()
            account.save(update_fields=["buyer_id"])
            changed += 1
    customer.refresh_from_db()
    return changed


DERIVED = {"phone": ("phone_hash", "phone_last4"), "email": ("email_hash",)}


def correct(*, actor: Any, customer: Customer, changes: dict[str, Any], reason: str = "") -> list[str]:
    """Apply a correction of the person's own fields (name, phone, email, birthday); the fields changed.
    The phone hash follows the phone. The audit names the fields, never the values."""
    unknown = sorted(set(changes) - set(CORRECTABLE))
    if unknown:
        raise InvalidInput("只能更正姓名、手机号、邮箱和生日", fields=dict.fromkeys(unknown, "不可更正"))
    values = dict(changes)
    if "birthday" in values and isinstance(values["birthday"], str):
        text = values["birthday"].strip()
        try:
            values["birthday"] = dt.date.fromisoformat(text) if text else None
        except ValueError as error:
            raise InvalidInput(
                "生日格式应为 YYYY-MM-DD", fields={"birthday": "格式应为 YYYY-MM-DD"}
            ) from error
    for name, limit in (("name", 100), ("phone", 30), ("email", 200)):
        if name in values:
            values[name] = str(values[name] or "").strip()
            if len(values[name]) > limit:
                raise InvalidInput(f"{label(Customer, name)}过长", fields={name: f"最多 {limit} 个字符"})
    with transaction.atomic():
        locked = Customer.objects.select_for_update().get(pk=customer.pk)
        changed = [name for name, value in values.items() if getattr(locked, name) != value]
        if not changed:
            return []
        for name in changed:
            setattr(locked, name, values[name])
        if "phone" in changed:
            locked.phone_hash = phone_hash(locked.phone)
        # the searchable companions follow their field (phone_last4 and email_hash derived on save)
        update = [*changed, *(extra for name in changed for extra in DERIVED.get(name, ())), "updated_at"]
        locked.save(update_fields=update)
        audit.record(
            actor=actor,
            action="customer.corrected",
            instance=locked,
            changes={name: ["***", "***"] for name in changed},
            reason=reason,
        )
    customer.refresh_from_db()
    return changed
