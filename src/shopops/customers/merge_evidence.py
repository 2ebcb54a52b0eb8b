"""Customers' own evidence for merge suggestions: profiles with the same phone hash, the same e-mail
address, or the same phone/e-mail buyer id on two platforms (a JD 下单帐号 that is a mobile number and a
PDD id of the same number are both stored as `phone-<keyed hash>`)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator

from django.db.models import Count

from shopops.customers.models import Customer, CustomerAccount

# a key shared by more profiles than this is not one person (a shop's own number, a test e-mail)
MAX_GROUP = 10


def _pairs_of(groups: Iterable[list[int]], kind: str, label: str) -> Iterator[tuple[int, int, str, str]]:
    for members in groups:
        ids = sorted(set(members))
        if len(ids) < 2 or len(ids) > MAX_GROUP:
            continue
        for index, first in enumerate(ids):
            for second in ids[index + 1 :]:
                yield first, second, kind, label


def _grouped(rows: Iterable[tuple[str, int]]) -> list[list[int]]:
    groups: dict[str, list[int]] = defaultdict(list)
    for key, customer_id in rows:
        if key:
            groups[key].append(customer_id)
    return list(groups.values())


def pairs() -> Iterator[tuple[int, int, str, str]]:
    live = Customer.objects.filter(merged_into__isnull=True)
    shared_hashes = (
        live.exclude(phone_hash="")
        .values("phone_hash")
        .annotate(n=Count("pk"))
        .filter(n__gt=1)
        .values("phone_hash")
    )
    yield from _pairs_of(
        _grouped(live.filter(phone_hash__in=shared_hashes).values_list("phone_hash", "pk")),
        "same_phone",
        "手机号摘要相同",
    )
    # the e-mail is encrypted at rest: profiles are grouped by its keyed hash (of the lower-cased address)
    emails = live.exclude(email_hash="")
    shared_emails = emails.values("email_hash").annotate(n=Count("pk")).filter(n__gt=1).values("email_hash")
    yield from _pairs_of(
        _grouped(emails.filter(email_hash__in=shared_emails).values_list("email_hash", "pk")),
        "same_email",
        "邮箱相同",
    )
    for prefix, kind, label in (
        ("phone-", "same_phone", "手机号摘要相同"),
        ("email-", "same_email", "邮箱相同"),
    ):
        accounts = CustomerAccount.objects.filter(
            buyer_id__startswith=prefix, customer__merged_into__isnull=True
        )
        shared = accounts.values("buyer_id").annotate(n=Count("customer", distinct=True)).filter(n__gt=1)
        yield from _pairs_of(
            _grouped(
                accounts.filter(buyer_id__in=shared.values("buyer_id")).values_list("buyer_id", "customer_id")
            ),
            kind,
            label,
        )
