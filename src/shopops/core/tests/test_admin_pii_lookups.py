from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.contrib import admin
from django.contrib.admin import ModelAdmin, RelatedFieldListFilter
from django.contrib.admin.utils import get_fields_from_path
from django.contrib.messages.storage.cookie import CookieStorage
from django.core.exceptions import SuspiciousOperation
from django.db import models
from django.http import HttpRequest, HttpResponse
from django.test import Client, RequestFactory
from django.urls import resolve, reverse

from shopops.accounts.roles import ROLES, permissions_for
from shopops.analytics.models import ReportKind, ReportSubscription
from shopops.catalog.tests.factories import create_sku
from shopops.channels.models import Shop
from shopops.core import audit
from shopops.core import services as core_services
from shopops.core.admin_lookups import reaches_personal_data
from shopops.core.errors import InvalidInput
from shopops.core.models import AuditEntry
from shopops.core.pii import VIEW_PII_PERMISSION, pii_fields
from shopops.inventory.admin import ledger_url
from shopops.inventory.tests.factories import create_warehouse
from shopops.orders.admin.orders import OrderAdmin
from shopops.orders.models import Order
from shopops.orders.tests.factories import create_order, create_shop

User = Any

NON_PII_ROLES = tuple(sorted(role for role in ROLES if VIEW_PII_PERMISSION not in permissions_for(role)))
# lookup → a value a prober would send (a phone-number prefix, mostly)
LOOKUP_VALUES = {
    "exact": "13800001234",
    "iexact": "13800001234",
    "startswith": "138",
    "istartswith": "138",
    "contains": "0000",
    "icontains": "0000",
    "endswith": "1234",
    "regex": "^138",
    "gt": "1",
    "lt": "9",
    "in": "13800001234,13900001234",
    "isnull": "false",
}


def personal_paths(model: type[models.Model]) -> list[str]:
    """The model's own personal-data fields and those one relation away (forward or reverse)."""
    paths = list(pii_fields(model))
    for field in model._meta.get_fields():
        if field.is_relation and field.related_model is not None and field.related_model is not model:
            paths += [f"{field.name}__{name}" for name in pii_fields(field.related_model)]
    return paths


def viewing_roles(model: type[models.Model]) -> list[str]:
    app_label, model_name = model._meta.app_label, model._meta.model_name
    return [
        role
        for role in NON_PII_ROLES
        if {f"{app_label}.view_{model_name}", f"{app_label}.change_{model_name}"} & permissions_for(role)
    ]


def changelist_url(model: type[models.Model]) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")


def is_model_list(model: type[models.Model]) -> bool:
    # 数据中心's "list" is a report page whose form ignores unknown parameters; every other one is Django's
    return resolve(changelist_url(model)).func.__name__ == "changelist_view"


# every model list (数据中心's is a report page whose form ignores unknown parameters)
LISTED = [model for model in admin.site._registry if is_model_list(model)]


def lists_for(role: str) -> list[type[models.Model]]:
    return [model for model in LISTED if role in viewing_roles(model)]


def open_list(user: User, url: str, query: dict[str, str]) -> HttpResponse | str:
    """The admin list as the URLconf serves it (permission wrapper included), without the client's
    middleware round trip, so thousands of probes stay cheap; a refusal raised as an exception is named."""
    request = RequestFactory().get(url, query)
    request.user = user
    request._messages = CookieStorage(request)  # type: ignore[attr-defined]
    match = resolve(url)
    try:
        return match.func(request, *match.args, **match.kwargs)
    except SuspiciousOperation as refusal:
        return f"400 {type(refusal).__name__}"


def refused(response: HttpResponse | str) -> bool:
    return (
        isinstance(response, HttpResponse)
        and response.status_code == 302
        and response["Location"].endswith("?e=1")
    )


def described(response: HttpResponse | str) -> str:
    return response if isinstance(response, str) else str(response.status_code)


def place_order(**fields: Any) -> Order:
    return create_order(shop=create_shop(), lines=[("GOODS-1", 1, "10.00")], **fields)


def client_for(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def list_request(user: User, model: type[models.Model], query: dict[str, str] | None = None) -> HttpRequest:
    request = RequestFactory().get(changelist_url(model), query or {})
    request.user = user
    request._messages = CookieStorage(request)  # type: ignore[attr-defined]
    return request


@pytest.mark.parametrize("role", NON_PII_ROLES)
def test_list_url_refuses_every_lookup_on_personal_data_for_every_role_without_view_pii(
    make_user: Callable[..., User], role: str
) -> None:
    # given a user of a role that may open lists but not see personal data
    user = make_user(role)
    probed = [model for model in lists_for(role) if personal_paths(model)]

    # when every list it may open is probed on every personal field it reaches, with every lookup
    accepted = []
    for model in probed:
        assert admin.site._registry[model].has_view_or_change_permission(list_request(user, model))
        for path in personal_paths(model):
            for lookup, value in LOOKUP_VALUES.items():
                response = open_list(user, changelist_url(model), {f"{path}__{lookup}": value})
                if not refused(response):
                    accepted.append(f"{model._meta.label} {path}__{lookup} → {described(response)}")

    # then each list redirects to ?e=1 (no row filtered by the hidden value) every time
    assert probed
    assert accepted == []


def test_phone_prefix_probe_on_the_order_list_is_redirected_with_an_error(
    make_user: Callable[..., User],
) -> None:
    # given the probe: one order pinned by id, its masked phone guessed digit by digit
    order = place_order(receiver_phone="13812345678")
    client = client_for(make_user("promotion"))
    url = reverse("admin:orders_order_changelist")

    # when
    probe = client.get(url, {"id__exact": order.pk, "receiver_phone__startswith": "1381"})
    landing = client.get(probe["Location"])

    # then
    assert probe.status_code == 302
    assert probe["Location"] == f"{url}?e=1"
    assert "筛选条件无效" in landing.content.decode()


def test_undeclared_lookup_on_a_visible_field_is_refused_too(make_user: Callable[..., User]) -> None:
    # given SKUs on both sides of a cost price the list has no filter for
    create_sku(merchant_code="CHEAP", cost_price="5.00")
    create_sku(merchant_code="DEAR", cost_price="50.00")
    client = client_for(make_user("operations"))
    url = reverse("admin:catalog_sku_changelist")

    # when
    response = client.get(url, {"cost_price__gt": "10"})

    # then
    assert response.status_code == 302
    assert response["Location"] == f"{url}?e=1"


class PersonalFilterOrderAdmin(OrderAdmin):
    list_filter = ("buyer_id", *OrderAdmin.list_filter)  # personal, and not encrypted (a value filter works)
    list_display = (*OrderAdmin.list_display, "phone_digits")

    @admin.display(description="电话", ordering="receiver_phone")
    def phone_digits(self, order: Order) -> str:
        return order.receiver_phone[-4:]


def test_declared_filter_on_personal_data_works_only_for_users_with_view_pii(
    make_user: Callable[..., User],
) -> None:
    # given an order list that declares a filter on the buyer's platform account
    place_order(buyer_id="zhangsan_tb")
    place_order(buyer_id="lisi_tb")
    model_admin = PersonalFilterOrderAdmin(Order, admin.site)
    query = {"buyer_id": "zhangsan_tb"}

    # when
    as_service = model_admin.changelist_view(list_request(make_user("customer_service"), Order, query))
    as_admin = model_admin.changelist_view(list_request(make_user("admin"), Order, query))
    service_filters = model_admin.get_list_filter(list_request(make_user("customer_service"), Order))

    # then
    assert refused(as_service)
    assert "buyer_id" not in service_filters  # no dropdown listing the accounts either
    assert as_admin.status_code == 200
    assert [order.buyer_id for order in as_admin.context_data["cl"].queryset] == ["zhangsan_tb"]


def test_sorting_by_a_personal_data_column_is_ignored_without_view_pii(
    make_user: Callable[..., User],
) -> None:
    # given a list column that sorts by the receiver's phone number
    place_order(receiver_phone="13900000001")
    place_order(receiver_phone="13700000002")
    model_admin = PersonalFilterOrderAdmin(Order, admin.site)
    service, boss = make_user("customer_service"), make_user("admin")
    columns = model_admin.get_changelist_instance(list_request(service, Order)).list_display
    query = {"o": str(columns.index("phone_digits"))}

    # when
    as_service = model_admin.changelist_view(list_request(service, Order, query))
    as_admin = model_admin.changelist_view(list_request(boss, Order, query))

    # then
    service_ordering = as_service.context_data["cl"].queryset.query.order_by
    admin_ordering = as_admin.context_data["cl"].queryset.query.order_by
    assert not any("receiver_phone" in str(term) for term in service_ordering)
    assert admin_ordering[0] == "receiver_phone"


@pytest.mark.parametrize("role", NON_PII_ROLES)
def test_no_list_column_sorts_by_personal_data_for_users_without_view_pii(
    make_user: Callable[..., User], role: str
) -> None:
    # given
    user = make_user(role)

    # when
    sorted_by = {
        (model._meta.label, path)
        for model in lists_for(role)
        for changelist in [admin.site._registry[model].get_changelist_instance(list_request(user, model))]
        for path in map(changelist.get_ordering_field, changelist.list_display)
        if isinstance(path, str) and reaches_personal_data(model, path)
    }

    # then
    assert sorted_by == set()


def searches_itself(model: type[models.Model]) -> bool:
    # the order and customer lists run a search of their own that matches whole values only, never a fragment
    return type(admin.site._registry[model]).get_search_results is not ModelAdmin.get_search_results


@pytest.mark.parametrize("role", NON_PII_ROLES)
def test_no_search_field_reads_personal_data_for_users_without_view_pii(
    make_user: Callable[..., User], role: str
) -> None:
    # given
    user = make_user(role)

    # when
    searched = {
        (model._meta.label, name)
        for model in lists_for(role)
        if not searches_itself(model)
        for name in admin.site._registry[model].get_search_fields(list_request(user, model))
        if reaches_personal_data(model, name.lstrip("^=@"))
    }

    # then
    assert searched == set()


def test_report_subscription_search_does_not_match_email_fragments_without_view_pii(
    make_user: Callable[..., User],
) -> None:
    # given a subscriber whose e-mail is masked in the back office
    subscriber = make_user("finance", email="zhang.wei@example.com")
    ReportSubscription.objects.create(user=subscriber, kind=ReportKind.DAILY)
    url = reverse("admin:analytics_reportsubscription_changelist")

    # when
    as_operations = client_for(make_user("operations")).get(url, {"q": "zhang.w"})
    as_admin = client_for(make_user("admin")).get(url, {"q": "zhang.w"})

    # then
    assert list(as_operations.context["cl"].result_list) == []
    assert [row.user for row in as_admin.context["cl"].result_list] == [subscriber]


def shop_filters(model: type[models.Model]) -> list[str]:
    return [
        item[0] if isinstance(item, list | tuple) else item
        for item in admin.site._registry[model].list_filter
        if isinstance(item[0] if isinstance(item, list | tuple) else item, str)
        and get_fields_from_path(model, item[0] if isinstance(item, list | tuple) else item)[-1].related_model
        is Shop
    ]


SHOP_FILTERED = [
    pytest.param(model, id=model._meta.label)
    for model in admin.site._registry
    if shop_filters(model) and viewing_roles(model)
]


@pytest.mark.parametrize("model", SHOP_FILTERED)
def test_shop_dropdowns_list_only_the_shops_in_the_users_scope(
    make_user: Callable[..., User], model: type[models.Model]
) -> None:
    # given a user limited to two of three shops
    first, second, outside = create_shop(name="甲店"), create_shop(name="乙店"), create_shop(name="外店")
    user = make_user(viewing_roles(model)[0], shops=[first, second])

    # when
    response = client_for(user).get(changelist_url(model))

    # then
    listed = [
        {value for value, _label in spec.lookup_choices}
        for spec in response.context["cl"].filter_specs
        if isinstance(spec, RelatedFieldListFilter) and spec.field.related_model is Shop
    ]
    assert listed == [{first.pk, second.pk}] * len(shop_filters(model))
    assert outside.name not in response.content.decode()


def test_shop_autocomplete_lists_only_the_shops_in_the_users_scope(make_user: Callable[..., User]) -> None:
    # given
    inside, outside = create_shop(name="范围内店铺"), create_shop(name="范围外店铺")
    client = client_for(make_user("promotion", shops=[inside]))
    query = {"app_label": "catalog", "model_name": "promoprice", "field_name": "shop", "term": "店铺"}

    # when
    response = client.get(reverse("admin:autocomplete"), query)

    # then
    assert response.status_code == 200
    assert [row["id"] for row in response.json()["results"]] == [str(inside.pk)]
    assert outside.name not in response.content.decode()


@pytest.mark.parametrize("reason", ["", "   "])
def test_admin_reveal_without_a_reason_is_refused_and_not_audited(
    make_user: Callable[..., User], reason: str
) -> None:
    # given customer service (may reveal one record at a time)
    order = place_order(receiver_phone="13812345678")
    client = client_for(make_user("customer_service"))
    url = reverse("admin:orders_order_reveal_personal_data", args=[order.pk])

    # when
    response = client.post(url, {"reason": reason})

    # then
    content = response.content.decode()
    assert response.status_code == 200
    assert "请填写查看原因" in content
    assert "13812345678" not in content
    assert not AuditEntry.objects.filter(action="pii.revealed").exists()


def test_reveal_service_refuses_an_empty_reason(make_user: Callable[..., User]) -> None:
    # given
    shop = create_shop(contact_phone="13812345678")

    # when
    with pytest.raises(InvalidInput) as refusal:
        core_services.reveal_personal_data(actor=make_user("admin"), instance=shop, reason=" ")

    # then
    assert refusal.value.fields == {"reason": "必填"}
    assert not AuditEntry.objects.filter(action="pii.revealed").exists()


def test_every_workbench_link_opens_its_list(make_user: Callable[..., User]) -> None:
    # given
    client = client_for(make_user("admin"))
    home = client.get(reverse("admin:index")).context
    links = [item.link for item in [*home["kpis"], *home["panels"]] if "?" in item.link]

    # when
    responses = {link: client.get(link) for link in links}

    # then
    assert len(links) >= 5
    assert {link: response.status_code for link, response in responses.items()} == dict.fromkeys(links, 200)


def test_links_to_filtered_lists_from_history_and_stock_pages_open(make_user: Callable[..., User]) -> None:
    # given an audited shop and a SKU's stock ledger
    boss = make_user("admin")
    shop = create_shop()
    audit.record(actor=boss, action="shop.updated", instance=shop, changes={"name": ["旧", "新"]})
    sku = create_sku(merchant_code="LEDGER-1")
    client = client_for(boss)
    history = client.get(reverse("admin:channels_shop_history", args=[shop.pk])).context

    # when
    audit_list = client.get(
        reverse("admin:core_auditentry_changelist"),
        {"content_type__id__exact": history["content_type_id"], "object_id": shop.pk},
    )
    ledger = client.get(ledger_url(merchant_code=sku.merchant_code, warehouse_id=create_warehouse().pk))

    # then
    assert audit_list.status_code == 200
    assert [entry.action for entry in audit_list.context["cl"].result_list] == ["shop.updated"]
    assert ledger.status_code == 200
