"""Customer actions: phone hashing, matching buyers to customers (one or a chunk at a time), blacklisting.

A phone hash is HMAC-SHA256 (keyed with settings.PHONE_HASH_KEY, else SECRET_KEY) of the normalized
digits: a plain SHA-256 of an 11-digit mobile number is reversed by trying all 10^10 numbers, a keyed
hash is not. Two kinds of number give no hash at all, because they do not identify a person:
privacy numbers (隐私号 `17012345678-1234`: a virtual number plus an extension, assigned per order and
recycled) and masked numbers (`138****1234`: thousands of people share the visible digits). Hashing
them would merge unrelated buyers into one customer.

Matching: by platform buyer id first (CustomerAccount), else by phone hash; when neither matches and
there is something to key on (a buyer id or a phone hash) a customer is created. A buyer id seen for
the first time with a known phone hash becomes a new account of that customer.

Buyer ids are classified by content, not by column name: an id that is an e-mail address (Shopify
keys buyers by e-mail), a phone number (a JD 下单帐号 is often the buyer's mobile) or an ID card number
is personal data, so `platform_buyer_id` stores a keyed hash of it instead (stable: the same buyer
maps to the same account on every import). Other ids (Taobao 会员名, nicknames) are kept as written
and are masked like names (`PII_FIELDS`), since they still point at a person.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import hmac
import re
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from django.conf import settings
from django.db import connection, transaction

from shopops.core import audit
from shopops.core.errors import NotFound, required_text
from shopops.customers.models import Customer, CustomerAccount, identity_kind

_PRIVACY_NUMBER = re.compile(r"^\+?\d{11}[-_转#]\d{1,6}$")
_NON_DIGITS = re.compile(r"\D")
_MASK_CHARACTERS = ("*", "x", "X", "×")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+$")
# how a phone number is written around its digits: spaces, brackets, + and the ' of a spreadsheet cell
_PHONE_DECORATION = re.compile(r"[\s()（）'+]")
_MOBILE = re.compile(r"^(?:0086|86)?(1[3-9]\d{9})$")
_LANDLINE = re.compile(r"^0[1-9]\d{8,10}$")
_PRIVACY_ID = re.compile(r"^(?:0086|86)?(1\d{10})[-_转#](\d{1,6})$")
_ID_NUMBER = re.compile(r"^\d{17}[\dXx]$")
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"
BUYER_ID_MAX_LENGTH = 100


def normalize_phone(phone: str | None) -> str:
    """Digits of a usable phone number ('' for privacy and masked numbers); +86/0086 prefix dropped."""
    text = (phone or "").strip().lstrip("'").replace(" ", "")
    if not text or any(mark in text for mark in _MASK_CHARACTERS):
        return ""
    if _PRIVACY_NUMBER.match(text):
        return ""
    digits = _NON_DIGITS.sub("", text)
    for prefix in ("0086", "86"):
        if digits.startswith(prefix) and len(digits) == len(prefix) + 11 and digits[len(prefix)] == "1":
            digits = digits[len(prefix) :]
    return digits if len(digits) >= 7 else ""


def _hash_key() -> bytes:
    return str(getattr(settings, "PHONE_HASH_KEY", "") or settings.SECRET_KEY).encode()


@functools.lru_cache(maxsize=4)
def _keyed(key: bytes) -> Any:
    """The HMAC state after the key (computed once per key; each hash continues from a copy of it)."""
    return hmac.new(key, digestmod=hashlib.sha256)


def keyed_hash(text: str) -> str:
    """HMAC-SHA256 hex of `text` with the phone hash key (also used for receiver fingerprints)."""
    state = _keyed(_hash_key()).copy()
    state.update(text.encode())
    return str(state.hexdigest())


def phone_hash(phone: str | None) -> str:
    """The keyed hash of a phone number, '' when it cannot identify a person (privacy, masked, empty)."""
    digits = normalize_phone(phone)
    return keyed_hash(f"phone:{digits}") if digits else ""


def email_hash(email: str | None) -> str:
    """The keyed hash of an e-mail address (case-insensitive; the address itself is encrypted at rest), ''
    when empty: customers are matched and searched by it."""
    text = (email or "").strip().lower()
    return keyed_hash(f"email:{text}") if text else ""


def nick_hash(nick: str | None) -> str:
    """The keyed hash of a buyer nick (exact search: the nick itself is encrypted at rest), '' when empty."""
    text = (nick or "").strip()
    return keyed_hash(f"nick:{text}") if text else ""


def phone_last4(phone: str | None) -> str:
    """The last four digits people search by: of the number, or the extension of a privacy number."""
    text = (phone or "").strip()
    if _PRIVACY_NUMBER.match(text.lstrip("'").replace(" ", "")):
        tail = _NON_DIGITS.sub("", re.split(r"[-_转#]", text)[-1])
        return tail[-4:]
    digits = _NON_DIGITS.sub("", text)
    return digits[-4:] if len(digits) >= 4 else ""


def _is_id_number(text: str) -> bool:
    """An 18-digit resident ID number with a valid check digit (GB 11643): a numeric platform id of
    that length is not taken for one unless its last digit checks."""
    if not _ID_NUMBER.match(text):
        return False
    total = sum(int(digit) * weight for digit, weight in zip(text[:17], _ID_WEIGHTS, strict=True))
    return _ID_CHECK[total % 11] == text[17].upper()


def _personal_identifier(text: str) -> tuple[str, str] | None:
    """(kind, normalised form) when a buyer id is an e-mail address, a phone number (mobile with or
    without +86, landline, privacy number) or an ID card number; None for any other id."""
    if "@" in text:
        return ("email", text.lower()) if _EMAIL.match(text) else None
    if not any(character.isdigit() for character in text):
        return None
    written = _PHONE_DECORATION.sub("", text)
    privacy = _PRIVACY_ID.match(written)  # before dashes go: the dash parts a privacy number's extension
    if privacy:
        return "phone", f"{privacy.group(1)}-{privacy.group(2)}"
    compact = written.replace("-", "")
    if _is_id_number(compact):
        return "idno", compact.upper()
    mobile = _MOBILE.match(compact)
    if mobile:
        return "phone", mobile.group(1)
    if _LANDLINE.match(compact):
        return "phone", compact
    return None


def platform_buyer_id(buyer_id: str) -> str:
    """The buyer id to store for `buyer_id` as a platform reports it: the id itself, unless it is
    personal data by content (an e-mail address, a phone number, an ID card number), then
    `<kind>-<keyed hash of its normalised form>`. Idempotent (a hashed id comes back as it is), so
    every writer may apply it."""
    return _platform_buyer_id(_hash_key(), buyer_id)


@functools.lru_cache(maxsize=65536)
def _platform_buyer_id(key: bytes, buyer_id: str) -> str:
    """Cached per hash key (a file repeats its buyers; tests may change the key)."""
    text = buyer_id.strip()
    found = _personal_identifier(text)
    if found is None:
        return text[:BUYER_ID_MAX_LENGTH]
    kind, normalised = found
    state = _keyed(key).copy()
    state.update(f"buyer:{kind}:{normalised}".encode())
    return f"{kind}-{state.hexdigest()[:32]}"


@dataclass(frozen=True)
class BuyerKey:
    """What an order says about its buyer, for `match_customers`."""

    platform: str
    buyer_id: str = ""
    phone: str = ""
    name: str = ""
    email: str = ""
    ordered_at: dt.datetime | None = None
    # `phone_hash(phone)` when the caller has it already (an import computed it for the order row)
    phone_hash: str | None = None


def _new_customer(key: BuyerKey, hashed: str) -> Customer:
    return Customer(
        name=key.name[:100],
        phone=(key.phone or "")[:30] if hashed else "",
        phone_hash=hashed,
        email=key.email[:200],
        first_order_at=key.ordered_at,
        last_order_at=key.ordered_at,
    )


def match_customer(
    *,
    platform: str,
    buyer_id: str = "",
    phone: str = "",
    name: str = "",
    email: str = "",
    ordered_at: dt.datetime | None = None,
) -> Customer | None:
    """The customer behind a buyer: by platform buyer id, else by phone hash, else a new one (None
    when there is nothing to key on). Records the order time as first/last order."""
    return match_customers(
        [
            BuyerKey(
                platform=platform,
                buyer_id=buyer_id,
                phone=phone,
                name=name,
                email=email,
                ordered_at=ordered_at,
            )
        ]
    )[0]


def _stored_buyer_id(key: BuyerKey) -> BuyerKey:
    """The key with the buyer id an account stores (`platform_buyer_id`): callers may pass it raw."""
    stored = platform_buyer_id(key.buyer_id) if key.buyer_id else ""
    return key if stored == key.buyer_id else replace(key, buyer_id=stored)


def _known(
    keys: Sequence[BuyerKey], hashes: list[str]
) -> tuple[dict[tuple[str, str], Customer], dict[str, Customer]]:
    by_account: dict[tuple[str, str], Customer] = {}
    buyer_ids = {key.buyer_id for key in keys if key.buyer_id}
    if buyer_ids:
        platforms = {key.platform for key in keys}
        for account in CustomerAccount.objects.filter(
            platform__in=platforms, buyer_id__in=buyer_ids
        ).select_related("customer"):
            by_account[(account.platform, account.buyer_id)] = account.customer
    by_hash: dict[str, Customer] = {}
    wanted = {hashed for hashed in hashes if hashed}
    if wanted:
        for customer in Customer.objects.filter(phone_hash__in=wanted, merged_into__isnull=True).order_by(
            "-pk"
        ):
            by_hash[customer.phone_hash] = customer  # the oldest customer with the hash wins
    return by_account, by_hash


def match_customers(keys: Sequence[BuyerKey]) -> list[Customer | None]:
    """`match_customer` for a chunk of buyers (an import chunk) in a handful of queries, same order as
    `keys`. Buyers of the chunk sharing a buyer id or a phone hash get the same customer."""
    keys = [_stored_buyer_id(key) for key in keys]
    hashes = [phone_hash(key.phone) if key.phone_hash is None else key.phone_hash for key in keys]
    if not any(hashes) and not any(key.buyer_id for key in keys):
        nobody: list[Customer | None] = [None] * len(keys)
        return nobody  # nothing to key on (an item report has no buyer columns): no queries
    with transaction.atomic():
        by_account, by_hash = _known(keys, hashes)
        results: list[Customer | None] = []
        new_customers: list[Customer] = []
        new_accounts: dict[tuple[str, str], Customer] = {}
        for key, hashed in zip(keys, hashes, strict=True):
            account_key = (key.platform, key.buyer_id)
            customer = by_account.get(account_key) if key.buyer_id else None
            if customer is None and hashed:
                customer = by_hash.get(hashed)
            if customer is None and (key.buyer_id or hashed):
                customer = _new_customer(key, hashed)
                new_customers.append(customer)
                if hashed:
                    by_hash[hashed] = customer
            if customer is not None and key.buyer_id and account_key not in by_account:
                new_accounts[account_key] = customer
                by_account[account_key] = customer
            results.append(customer)
        _insert_customers(new_customers)
        results = _link_accounts(new_accounts, new_customers, results)
        _touch_order_times(keys, results)
    return results


def _parameter_limit() -> int:
    """How many parameters one statement may carry on this connection (SQLite's compile-time limit is
    32766 since 3.32; Django assumes 999)."""
    if connection.vendor == "postgresql":
        return 65535
    raw = connection.connection
    getlimit = getattr(raw, "getlimit", None)
    if connection.vendor == "sqlite" and getlimit is not None:
        return int(getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER))
    return int(connection.features.max_query_params or 999)


def _insert_customers(customers: list[Customer]) -> None:
    """INSERT a chunk's new customers and set their ids: one `INSERT … RETURNING id` per chunk where the
    database has RETURNING (`bulk_create` on SQLite sends ~90 rows a statement, Django assuming 999
    parameters). Values are prepared by the fields as `bulk_create` does (`pre_save`, then
    `get_db_prep_save`: the insert time, datetimes as the backend stores them)."""
    if not customers:
        return
    if not connection.features.can_return_rows_from_bulk_insert:
        Customer.objects.bulk_create(customers)
        return
    fields = [field for field in Customer._meta.concrete_fields if not field.primary_key]
    quote = connection.ops.quote_name
    columns = ", ".join(quote(field.column) for field in fields)
    row = "(" + ", ".join(["%s"] * len(fields)) + ")"
    table = quote(Customer._meta.db_table)
    size = max(1, _parameter_limit() // len(fields))
    with connection.cursor() as cursor:
        for start in range(0, len(customers), size):
            part = customers[start : start + size]
            params = [
                field.get_db_prep_save(field.pre_save(customer, add=True), connection)
                for customer in part
                for field in fields
            ]
            values = ", ".join([row] * len(part))
            cursor.execute(
                f"INSERT INTO {table} ({columns}) VALUES {values} RETURNING {quote('id')}",
                params,
            )
            # rows come back in VALUES order (what bulk_create relies on, on both databases)
            for customer, (pk,) in zip(part, cursor.fetchall(), strict=True):
                customer.pk = pk
                customer._state.adding = False
                customer._state.db = connection.alias


def _link_accounts(
    new_accounts: dict[tuple[str, str], Customer],
    new_customers: list[Customer],
    results: list[Customer | None],
) -> list[Customer | None]:
    """Insert the new accounts; where a concurrent import attached a buyer id first, its customer wins."""
    if not new_accounts:
        return results
    CustomerAccount.objects.bulk_create(
        [
            CustomerAccount(
                customer=customer, platform=platform, kind=identity_kind(platform), buyer_id=buyer_id[:100]
            )
            for (platform, buyer_id), customer in new_accounts.items()
        ],
        ignore_conflicts=True,
    )
    # Owner ids only: loading every owner as a Customer cost more than the insert; the few
    # accounts a concurrent import won are loaded below.
    owners = {
        (platform, buyer_id): customer_id
        for platform, buyer_id, customer_id in CustomerAccount.objects.filter(
            platform__in={platform for platform, _buyer in new_accounts},
            buyer_id__in={buyer_id[:100] for _platform, buyer_id in new_accounts},
        ).values_list("platform", "buyer_id", "customer_id")
    }
    lost_to: dict[int, int] = {}
    for (platform, buyer_id), customer in new_accounts.items():
        owner = owners.get((platform, buyer_id[:100]))
        if owner is not None and owner != customer.pk:
            lost_to[customer.pk] = owner
    if not lost_to:
        return results
    winners = Customer.objects.in_bulk(set(lost_to.values()))
    replaced = {pk: winners[owner] for pk, owner in lost_to.items()}
    lost = [customer.pk for customer in new_customers if customer.pk in replaced]
    Customer.objects.filter(pk__in=lost, accounts__isnull=True).delete()
    return [replaced.get(found.pk, found) if found is not None else None for found in results]


def _touch_order_times(keys: Sequence[BuyerKey], customers: list[Customer | None]) -> None:
    """Widen first/last order times of the matched customers (one bulk UPDATE for those that changed)."""
    span: dict[int, tuple[dt.datetime, dt.datetime]] = {}
    by_pk: dict[int, Customer] = {}
    for key, customer in zip(keys, customers, strict=True):
        if customer is None or key.ordered_at is None:
            continue
        by_pk[customer.pk] = customer
        low, high = span.get(customer.pk, (key.ordered_at, key.ordered_at))
        span[customer.pk] = (min(low, key.ordered_at), max(high, key.ordered_at))
    changed = []
    for pk, (low, high) in span.items():
        customer = by_pk[pk]
        first = low if customer.first_order_at is None else min(customer.first_order_at, low)
        last = high if customer.last_order_at is None else max(customer.last_order_at, high)
        if (first, last) != (customer.first_order_at, customer.last_order_at):
            customer.first_order_at, customer.last_order_at = first, last
            changed.append(customer)
    if not changed:
        return
    # One prepared UPDATE run for all rows (executemany): `bulk_update` builds a CASE over every pk,
    # which cost an import of returning buyers a quarter of its time. Like bulk_update it leaves
    # updated_at alone. Datetimes as the backend stores them (the ORM's own conversion).
    adapt = connection.ops.adapt_datetimefield_value
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        cursor.executemany(
            f"UPDATE {quote(Customer._meta.db_table)} SET {quote('first_order_at')} = %s, "
            f"{quote('last_order_at')} = %s WHERE {quote('id')} = %s",
            [
                (adapt(customer.first_order_at), adapt(customer.last_order_at), customer.pk)
                for customer in changed
            ],
        )


def _locked(customer_id: int) -> Customer:
    customer = Customer.objects.select_for_update().filter(pk=customer_id).first()
    if customer is None:
        raise NotFound("客户不存在", fields={"customer_id": "不存在"})
    return customer


def blacklist_customer(*, actor: Any, customer_id: int, reason: str) -> Customer:
    """Put a customer on the blacklist (their new orders get a `blacklisted_buyer` review issue)."""
    reason = required_text(reason, field="reason", label="拉黑原因", max_length=200)
    with transaction.atomic():
        customer = _locked(customer_id)
        if customer.is_blacklisted and customer.blacklist_reason == reason:
            return customer
        before = audit.snapshot(customer)
        customer.is_blacklisted = True
        customer.blacklist_reason = reason
        customer.save(update_fields=["is_blacklisted", "blacklist_reason", "updated_at"])
        audit.record(
            actor=actor,
            action="customer.blacklisted",
            instance=customer,
            changes=_changes(before, customer),
            reason=reason,
        )
    return customer


def unblacklist_customer(*, actor: Any, customer_id: int, reason: str = "") -> Customer:
    """Take a customer off the blacklist (audited; existing review issues stay as operators left them)."""
    with transaction.atomic():
        customer = _locked(customer_id)
        if not customer.is_blacklisted:
            return customer
        before = audit.snapshot(customer)
        customer.is_blacklisted = False
        customer.blacklist_reason = ""
        customer.save(update_fields=["is_blacklisted", "blacklist_reason", "updated_at"])
        audit.record(
            actor=actor,
            action="customer.unblacklisted",
            instance=customer,
            changes=_changes(before, customer),
            reason=reason,
        )
    return customer


def _changes(before: audit.Snapshot, customer: Customer) -> dict[str, Any]:
    changes = audit.diff(before, audit.snapshot(customer))
    changes.pop("updated_at", None)
    return changes
