"""Demo customer profiles (客户档案): people known on several platforms, so that merge suggestions exist
to review (same phone hash across platforms, same e-mail), one merge already accepted, and notes.

The orders demo (loaded after this one) creates the buyers of its orders itself; these profiles use
numbers of a range it never draws (199…), so they stay apart from its buyers.
"""

from __future__ import annotations

import datetime as dt
from typing import TextIO

from shopops.customers import profiles
from shopops.customers.models import (
    Customer,
    CustomerAccount,
    CustomerMerge,
    CustomerNote,
    MergeSuggestion,
    identity_kind,
)
from shopops.customers.services import phone_hash, platform_buyer_id

DEMO_ACTOR = "demo"  # as catalog.demo_data names it (customers may not import catalog)
DEMO_PHONES = ("19900001001", "19900001002", "19900001003")
# (name, phone, email, platform, buyer id, birthday): two people, each on several platforms
PROFILES = (
    ("王芳", "19900001001", "wangfang@example.com", "tmall", "wangfang_tm", dt.date(1990, 5, 20)),
    ("王芳", "19900001001", "", "jd", "19900001001", None),
    ("芳芳", "", "WANGFANG@example.com", "douyin", "dy_fangfang88", None),
    ("刘洋", "19900001002", "", "pdd", "pdd_liuyang", dt.date(1985, 11, 3)),
    ("刘洋", "19900001002", "liuyang@example.com", "own", "liuyang", None),
    ("陈静", "19900001003", "chenjing@example.com", "shopify", "chenjing@example.com", None),
)
NOTES = (
    (0, "老客户，偏好顺丰，收货时间工作日白天"),
    (3, "曾因尺码问题退货，推荐时附尺码表"),
    (5, "海外店铺客户，只用邮件联系"),
)


def is_empty() -> bool:
    return not Customer.objects.exists()


def _demo_customers() -> list[Customer]:
    hashes = [phone_hash(phone) for phone in DEMO_PHONES]
    ids = set(Customer.objects.filter(phone_hash__in=hashes).values_list("pk", flat=True))
    # the e-mail is encrypted at rest: compared after decryption (a handful of demo profiles)
    ids |= {
        customer.pk
        for customer in Customer.objects.filter(accounts__platform__in=["douyin"]).exclude(email="")
        if customer.email.lower().endswith("@example.com")
    }
    return list(Customer.objects.filter(pk__in=ids))


def load(*, seed: int = 42, days: int = 90, stdout: TextIO | None = None) -> dict[str, int]:
    """Add the demo profiles once (a second run adds nothing)."""
    if CustomerAccount.objects.filter(platform="tmall", buyer_id="wangfang_tm").exists():
        return {}
    customers = []
    for name, phone, email, platform, buyer_id, birthday in PROFILES:
        customer = Customer.objects.create(
            name=name, phone=phone, phone_hash=phone_hash(phone), email=email, birthday=birthday
        )
        CustomerAccount.objects.create(
            customer=customer,
            platform=platform,
            kind=identity_kind(platform),
            buyer_id=platform_buyer_id(buyer_id),
        )
        customers.append(customer)
    for index, text in NOTES:
        CustomerNote.objects.create(customer=customers[index], text=text)
    profiles.generate_suggestions(actor=DEMO_ACTOR)
    liu = MergeSuggestion.objects.get(customer_a=customers[3], customer_b=customers[4])
    profiles.accept_suggestion(actor=DEMO_ACTOR, suggestion_id=liu.pk, keep_id=customers[3].pk)
    return {
        "customer_profiles": len(customers),
        "merge_suggestions": MergeSuggestion.objects.count(),
        "customer_merges": CustomerMerge.objects.count(),
    }


def reset() -> None:
    """Delete what `load` made (their suggestions and merge records go with them)."""
    Customer.objects.filter(pk__in=[customer.pk for customer in _demo_customers()]).delete()
