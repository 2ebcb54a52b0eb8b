"""A read-only relation on an admin page links to the related record only for a person who may open it."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from shopops.inventory.tests.factories import create_sku, create_warehouse
from shopops.purchasing.tests.factories import create_purchase_order, create_supplier

pytestmark = pytest.mark.django_db


def links_to_users(user: Any, url: str) -> list[str]:
    client = Client()
    client.force_login(user)
    response = client.get(url)
    assert response.status_code == 200
    return re.findall(r'href="(/admin/accounts/user/\d+/change/)"', response.content.decode())


def test_relation_link_only_for_who_may_open_it(make_user: Any) -> None:
    # given a purchase order created by an administrator (its 创建人 is a read-only relation to a user)
    boss = make_user("admin")
    order = create_purchase_order(
        supplier=create_supplier(),
        warehouse=create_warehouse(),
        lines=[(create_sku(), 3, "5.00")],
        actor=boss,
    )
    url = reverse("admin:purchasing_purchaseorder_change", args=[order.pk])
    target = reverse("admin:accounts_user_change", args=[boss.pk])
    warehouse = make_user("warehouse")
    # when the administrator and a warehouse clerk (who may not open user accounts) open the order
    # then the administrator gets the link, the clerk the name only, and the link would indeed be refused
    assert target in links_to_users(boss, url)
    assert links_to_users(warehouse, url) == []
    clerk = Client()
    clerk.force_login(warehouse)
    assert clerk.get(target).status_code == 403
