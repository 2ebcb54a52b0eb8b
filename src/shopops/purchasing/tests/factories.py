"""Purchasing test factories: suppliers, price agreements, purchase orders, users with permissions."""

from __future__ import annotations

import datetime as dt
import itertools
from decimal import Decimal
from typing import Any

from django.contrib.auth.models import Permission
from django.utils import timezone

from shopops.accounts.models import User
from shopops.catalog.models import Sku
from shopops.inventory.models import Warehouse
from shopops.purchasing import services as purchasing_services
from shopops.purchasing.models import PurchaseOrder, Supplier, SupplierPrice

_numbers = itertools.count(1)


def create_supplier(
    *,
    code: str | None = None,
    name: str | None = None,
    lead_time_days: int = 7,
    minimum_order_amount: Decimal | str = "0.00",
    minimum_order_quantity: int = 0,
    is_active: bool = True,
    contact_name: str = "王小明",
    contact_phone: str = "13812345678",
    contact_email: str = "wang@example.com",
) -> Supplier:
    number = next(_numbers)
    return Supplier.objects.create(
        code=code or f"SUP{number:03d}",
        name=name or f"供应商{number}",
        lead_time_days=lead_time_days,
        minimum_order_amount=Decimal(minimum_order_amount),
        minimum_order_quantity=minimum_order_quantity,
        is_active=is_active,
        contact_name=contact_name,
        contact_phone=contact_phone,
        contact_email=contact_email,
    )


def create_supplier_price(
    *,
    supplier: Supplier,
    sku: Sku,
    price: Decimal | str = "8.00",
    min_quantity: int = 1,
    valid_from: dt.date | None = None,
    valid_to: dt.date | None = None,
    supplier_sku_code: str = "",
) -> SupplierPrice:
    return SupplierPrice.objects.create(
        supplier=supplier,
        sku=sku,
        price=Decimal(price),
        min_quantity=min_quantity,
        valid_from=valid_from or timezone.localdate() - dt.timedelta(days=30),
        valid_to=valid_to,
        supplier_sku_code=supplier_sku_code,
    )


def create_purchase_order(
    *,
    supplier: Supplier,
    warehouse: Warehouse,
    lines: list[tuple[Sku, int, Decimal | str]],
    actor: Any = None,
    approved: bool = False,
) -> PurchaseOrder:
    """A draft (or approved) order through the services: [(sku, quantity, unit price)]."""
    order = purchasing_services.create_purchase_order(
        supplier_id=supplier.pk,
        warehouse_id=warehouse.pk,
        lines=[
            {"sku_id": sku.pk, "quantity": quantity, "unit_price": Decimal(price)}
            for sku, quantity, price in lines
        ],
        actor=actor,
    )
    if approved:
        order = purchasing_services.approve_purchase_order(po_id=order.pk, actor=actor)
    return order


def grant(user: User, *permissions: str) -> User:
    """Give a user single permissions (`app_label.codename`); returns a fresh copy (empty perm cache)."""
    for permission in permissions:
        app_label, codename = permission.split(".")
        user.user_permissions.add(
            Permission.objects.get(content_type__app_label=app_label, codename=codename)
        )
    return User.objects.get(pk=user.pk)
