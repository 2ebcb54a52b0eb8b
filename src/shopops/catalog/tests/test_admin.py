from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from django.contrib import admin
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from shopops.accounts.models import User
from shopops.catalog import services as catalog_services
from shopops.catalog.models import ChannelListing, CodingRule, ListingEvent, PriceHistory, Product, Sku
from shopops.catalog.tests import factories
from shopops.channels import services as channel_services
from shopops.core.models import AuditEntry

CATALOG_MODELS = sorted(
    model._meta.model_name for model in admin.site._registry if model._meta.app_label == "catalog"
)


@pytest.fixture
def staff(make_user: Callable[..., User]) -> Callable[..., User]:
    def make(role: str, **extra: Any) -> User:
        return make_user(role, is_staff=True, **extra)

    return make


def client_for(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def make_shop(actor: User) -> Any:
    return channel_services.create_shop(
        actor=actor,
        code="tmall-flagship",
        name="天猫旗舰店",
        platform="tmall",
        contact_name="张三丰",
        contact_phone="13812345678",
        return_address="浙江省 杭州市 余杭区 文一西路 969 号",
    )


def sku_form(sku: Sku, **changes: Any) -> dict[str, Any]:
    data = {
        "merchant_code": sku.merchant_code,
        "barcode": sku.barcode or "",
        "spec": sku.spec,
        "attributes": "{}",
        "weight_grams": "",
        "is_active": "on",
        "cost_price": str(sku.cost_price),
        "sale_price": str(sku.sale_price),
        "list_price": "",
        "min_price": "",
        "price_reason": "",
    }
    data.update(changes)
    return data


def test_saving_a_sku_price_in_the_admin_writes_price_history_and_audit(staff: Callable[..., User]) -> None:
    # given
    operator = staff("operations")
    sku = factories.create_sku(sale_price="100.00", cost_price="60.00")

    # when
    response = client_for(operator).post(
        reverse("admin:catalog_sku_change", args=[sku.pk]),
        sku_form(sku, sale_price="120.00", price_reason="618 提价"),
    )

    # then
    assert response.status_code == 302
    sku.refresh_from_db()
    assert sku.sale_price == Decimal("120.00")
    history = PriceHistory.objects.get(sku=sku)
    assert (history.field, history.old_value, history.new_value, history.reason, history.actor) == (
        "sale_price",
        Decimal("100.00"),
        Decimal("120.00"),
        "618 提价",
        operator,
    )
    entry = AuditEntry.objects.get(action="sku.price_changed")
    assert (entry.actor, entry.object_id, entry.source) == (operator, str(sku.pk), "admin")
    assert entry.changes["sale_price"] == ["100.00", "120.00"]


def test_price_guard_warning_keeps_the_price_until_acknowledged(staff: Callable[..., User]) -> None:
    # given
    operator = staff("operations")
    product = factories.create_product()
    factories.create_policy(category=product.category, min_margin_percent="30", mode="warn")
    sku = factories.create_sku(product=product, sale_price="100.00", cost_price="60.00")
    url = reverse("admin:catalog_sku_change", args=[sku.pk])
    client = client_for(operator)

    # when
    warned = client.post(url, sku_form(sku, sale_price="80.00"))
    sku.refresh_from_db()
    price_after_warning = sku.sale_price
    acknowledged = client.post(url, sku_form(sku, sale_price="80.00", acknowledge_warnings="on"))

    # then
    assert warned.status_code == 200
    assert "毛利率 25.00% 低于最低毛利率 30.00%" in warned.content.decode()
    assert price_after_warning == Decimal("100.00")
    assert acknowledged.status_code == 302
    sku.refresh_from_db()
    assert sku.sale_price == Decimal("80.00")
    assert PriceHistory.objects.filter(sku=sku).count() == 1


def test_price_guard_block_refuses_the_change_and_writes_nothing(staff: Callable[..., User]) -> None:
    # given
    sku = factories.create_sku(sale_price="100.00", cost_price="60.00")

    # when
    response = client_for(staff("operations")).post(
        reverse("admin:catalog_sku_change", args=[sku.pk]),
        sku_form(sku, sale_price="50.00", acknowledge_warnings="on"),
    )

    # then
    assert response.status_code == 200
    assert "低于成本价" in response.content.decode()
    sku.refresh_from_db()
    assert sku.sale_price == Decimal("100.00")
    assert not PriceHistory.objects.exists()
    assert not AuditEntry.objects.exists()


def test_designer_sees_prices_read_only_and_cannot_change_them(staff: Callable[..., User]) -> None:
    # given
    designer = staff("designer")
    sku = factories.create_sku(sale_price="100.00", cost_price="60.00")
    url = reverse("admin:catalog_sku_change", args=[sku.pk])
    client = client_for(designer)

    # when
    page = client.get(url).content.decode()
    response = client.post(url, sku_form(sku, sale_price="1.00", cost_price="0.50", spec="颜色:红"))

    # then
    assert 'name="sale_price"' not in page
    assert 'name="spec"' in page
    assert response.status_code == 302
    sku.refresh_from_db()
    assert (sku.sale_price, sku.cost_price, sku.spec) == (Decimal("100.00"), Decimal("60.00"), "颜色:红")
    assert not PriceHistory.objects.exists()
    assert list(AuditEntry.objects.values_list("action", flat=True)) == ["sku.updated"]


def test_designer_cannot_add_skus_or_bulk_adjust(staff: Callable[..., User]) -> None:
    # given
    sku = factories.create_sku()
    client = client_for(staff("designer"))

    # when
    adding = client.get(reverse("admin:catalog_sku_add"))
    bulk = client.post(
        reverse("admin:catalog_sku_changelist"),
        {"action": "bulk_adjust_prices", "_selected_action": [sku.pk]},
    )

    # then
    assert adding.status_code == 403
    assert "批量调价" not in client.get(reverse("admin:catalog_sku_changelist")).content.decode()
    assert bulk.status_code == 302
    sku.refresh_from_db()
    assert sku.sale_price == Decimal("100.00")


def test_bulk_adjustment_previews_then_applies_exactly_the_previewed_skus(staff: Callable[..., User]) -> None:
    # given
    operator = staff("operations")
    first = factories.create_sku(merchant_code="A-01", sale_price="100.00", cost_price="50.00")
    second = factories.create_sku(merchant_code="A-02", sale_price="79.99", cost_price="40.00")
    untouched = factories.create_sku(merchant_code="A-03", sale_price="100.00", cost_price="50.00")
    url = reverse("admin:catalog_sku_changelist")
    client = client_for(operator)
    selection = {"action": "bulk_adjust_prices", "_selected_action": [first.pk, second.pk]}
    parameters = {
        "mode": "percent",
        "value": "-10",
        "field": "sale_price",
        "rounding": "cent",
        "reason": "清仓",
    }

    # when
    form_page = client.post(url, selection)
    preview = client.post(url, {**selection, **parameters, "step": "preview"})
    price_after_preview = Sku.objects.get(pk=first.pk).sale_price
    applied = client.post(url, {**selection, **parameters, "step": "apply"})

    # then
    assert form_page.status_code == 200
    assert preview.status_code == 200
    rows = preview.context["preview"]["rows"]
    assert [(row[0], row[2], row[3]) for row in rows] == [
        ("A-01", "¥100.00", "¥90.00"),
        ("A-02", "¥79.99", "¥71.99"),
    ]
    assert price_after_preview == Decimal("100.00")
    assert applied.status_code == 302
    prices = dict(Sku.objects.values_list("merchant_code", "sale_price"))
    assert prices == {"A-01": Decimal("90.00"), "A-02": Decimal("71.99"), "A-03": Decimal("100.00")}
    assert set(PriceHistory.objects.values_list("sku_id", "source")) == {
        (first.pk, "bulk"),
        (second.pk, "bulk"),
    }
    assert untouched.pk not in set(PriceHistory.objects.values_list("sku_id", flat=True))


def test_bulk_adjustment_blocked_by_the_guard_changes_nothing(staff: Callable[..., User]) -> None:
    # given
    first = factories.create_sku(merchant_code="B-01", sale_price="100.00", cost_price="95.00")
    second = factories.create_sku(merchant_code="B-02", sale_price="100.00", cost_price="50.00")
    selection = {"action": "bulk_adjust_prices", "_selected_action": [first.pk, second.pk]}
    parameters = {
        "mode": "amount",
        "value": "-10",
        "field": "sale_price",
        "rounding": "cent",
        "reason": "活动",
    }

    # when
    response = client_for(staff("operations")).post(
        reverse("admin:catalog_sku_changelist"), {**selection, **parameters, "step": "apply"}
    )

    # then
    assert response.status_code == 200
    assert "价格保护阻止" in response.content.decode()
    assert set(Sku.objects.values_list("sale_price", flat=True)) == {Decimal("100.00")}
    assert not PriceHistory.objects.exists()


def test_sku_list_shows_money_margin_and_below_cost_flag_and_filters(staff: Callable[..., User]) -> None:
    # given
    loss = factories.create_sku(merchant_code="LOSS-01", sale_price="1234.00", cost_price="1300.00")
    factories.create_sku(merchant_code="FINE-01", sale_price="100.00", cost_price="60.00")
    client = client_for(staff("operations"))
    url = reverse("admin:catalog_sku_changelist")

    # when
    page = client.get(url).content.decode()
    below = client.get(url, {"below_cost": "yes"}).context["cl"]
    priced = client.get(url, {"sale_price_from": "50", "sale_price_to": "150"}).context["cl"]
    searched = client.get(url, {"q": "LOSS"}).context["cl"]

    # then
    assert "¥1,234.00" in page
    assert "40.0%" in page
    assert 'data-flag="below"' in page
    assert [sku.merchant_code for sku in below.result_list] == [loss.merchant_code]
    assert [sku.merchant_code for sku in priced.result_list] == ["FINE-01"]
    assert [sku.merchant_code for sku in searched.result_list] == ["LOSS-01"]


def test_product_filter_by_category_includes_sub_categories(staff: Callable[..., User]) -> None:
    # given
    clothes = factories.create_category(name="女装")
    dresses = factories.create_category(name="连衣裙", parent=clothes)
    inside = factories.create_product(name="碎花连衣裙", category=dresses)
    factories.create_product(name="男士衬衫")

    # when
    result = client_for(staff("operations")).get(
        reverse("admin:catalog_product_changelist"), {"category": clothes.pk}
    )

    # then
    assert [product.pk for product in result.context["cl"].result_list] == [inside.pk]


def test_product_added_in_the_admin_gets_a_generated_merchant_code_and_audit(
    staff: Callable[..., User],
) -> None:
    # given
    operator = staff("operations")
    category = factories.create_category(code="NZ")
    data = {
        "name": "真丝衬衫",
        "merchant_code": "",
        "category": category.pk,
        "brand": "",
        "status": "active",
        "description": "",
        "skus-TOTAL_FORMS": "1",
        "skus-INITIAL_FORMS": "0",
        "skus-0-merchant_code": "",
        "skus-0-spec": "颜色:白",
        "skus-0-barcode": "",
        "skus-0-cost_price": "80.00",
        "skus-0-sale_price": "199.00",
        "skus-0-list_price": "",
        "skus-0-min_price": "",
        "skus-0-is_active": "on",
        "images-TOTAL_FORMS": "0",
        "images-INITIAL_FORMS": "0",
        "listings-TOTAL_FORMS": "0",
        "listings-INITIAL_FORMS": "0",
    }

    # when
    response = client_for(operator).post(reverse("admin:catalog_product_add"), data)

    # then
    assert response.status_code == 302
    product = Product.objects.get()
    assert product.merchant_code == "NZ-00001"
    sku = product.skus.get()
    assert (sku.merchant_code, sku.sale_price) == ("NZ-00001-01", Decimal("199.00"))
    assert list(AuditEntry.objects.order_by("pk").values_list("action", flat=True)) == [
        "product.created",
        "sku.created",
    ]
    assert PriceHistory.objects.filter(sku=sku, field="sale_price", new_value=Decimal("199.00")).exists()


def test_delisting_from_the_admin_asks_for_a_reason_and_uses_the_service(staff: Callable[..., User]) -> None:
    # given
    operator = staff("operations")
    shop = factories.create_shop()
    product = factories.create_product()
    listing = catalog_services.set_listing_status(
        product_id=product.pk, shop_id=shop.pk, status="listed", actor=operator
    )
    url = reverse("admin:catalog_channellisting_changelist")
    client = client_for(operator)
    selection = {"action": "delist_selected", "_selected_action": [listing.pk]}

    # when
    asked = client.post(url, selection)
    refused = client.post(url, {**selection, "step": "apply", "reason": ""})
    done = client.post(url, {**selection, "step": "apply", "reason": "断货"})

    # then
    assert asked.status_code == 200
    assert "原因" in asked.content.decode()
    assert refused.status_code == 302
    assert done.status_code == 302
    listing.refresh_from_db()
    assert (listing.status, listing.reason) == ("delisted", "断货")
    assert list(ListingEvent.objects.filter(to_status="delisted").values_list("reason", flat=True)) == [
        "断货"
    ]


def test_listing_button_on_the_product_page_relists(staff: Callable[..., User]) -> None:
    # given
    operator = staff("operations")
    product = factories.create_product()
    listing = catalog_services.set_listing_status(
        product_id=product.pk, shop_id=factories.create_shop().pk, status="draft", actor=operator
    )
    client = client_for(operator)
    page = client.get(reverse("admin:catalog_product_change", args=[product.pk])).content.decode()
    button = reverse("admin:catalog_channellisting_list_on_shop", args=[listing.pk])

    # when
    response = client.post(button, {"reason": "新品上架"})

    # then
    assert button in page
    assert response.status_code == 302
    assert response["Location"] == reverse("admin:catalog_product_change", args=[product.pk])
    assert ChannelListing.objects.get().status == "listed"


def test_scheduled_change_added_in_the_admin_goes_through_the_service(staff: Callable[..., User]) -> None:
    # given
    operator = staff("operations")
    sku = factories.create_sku(sale_price="100.00", cost_price="60.00")
    data = {
        "sku": sku.pk,
        "new_price": "90.00",
        "starts_at_0": "2031-01-01",
        "starts_at_1": "10:00:00",
        "ends_at_0": "",
        "ends_at_1": "",
        "reason": "元旦",
    }

    # when
    response = client_for(operator).post(reverse("admin:catalog_scheduledpricechange_add"), data)

    # then
    assert response.status_code == 302
    schedule = sku.scheduled_prices.get()
    assert (schedule.new_price, schedule.status, schedule.created_by) == (
        Decimal("90.00"),
        "pending",
        operator,
    )
    assert schedule.starts_at.isoformat() == "2031-01-01T02:00:00+00:00"
    assert AuditEntry.objects.filter(action="scheduled_price.created").count() == 1


def test_price_history_is_read_only(staff: Callable[..., User]) -> None:
    # given
    operator = staff("operations")
    sku = factories.create_sku()
    catalog_services.change_price(sku_id=sku.pk, actor=operator, new_value="110", reason="x")
    row = PriceHistory.objects.get()
    client = client_for(staff("admin"))

    # when
    listed = client.get(reverse("admin:catalog_pricehistory_changelist")).content.decode()
    deleting = client.post(reverse("admin:catalog_pricehistory_delete", args=[row.pk]), {"post": "yes"})

    # then
    assert "¥110.00" in listed
    assert deleting.status_code == 403
    assert PriceHistory.objects.count() == 1


@pytest.mark.parametrize("model_name", CATALOG_MODELS)
def test_admin_opens_every_catalog_change_form(staff: Callable[..., User], model_name: str) -> None:
    # given
    admin_user = staff("admin")
    product = factories.create_product(brand=factories.create_brand())
    sku = factories.create_sku(product=product)
    shop = factories.create_shop()
    now = timezone.now()
    catalog_services.set_listing_status(
        product_id=product.pk, shop_id=shop.pk, status="listed", actor=admin_user
    )
    catalog_services.schedule_price_change(
        sku_id=sku.pk, new_price="90", starts_at=now + dt.timedelta(hours=2), actor=admin_user
    )
    catalog_services.create_promo_price(
        sku_id=sku.pk,
        shop_id=shop.pk,
        name="双11",
        price="80",
        starts_at=now,
        ends_at=now + dt.timedelta(days=1),
        actor=admin_user,
    )
    catalog_services.change_price(sku_id=sku.pk, actor=admin_user, new_value="101", reason="test")
    factories.create_policy()
    CodingRule.objects.create(name="默认", pattern="{category}-{seq:05d}", is_active=True)
    model = next(m for m in admin.site._registry if m._meta.model_name == model_name)
    obj = model._default_manager.first()
    client = client_for(admin_user)

    # when
    response = client.get(reverse(f"admin:catalog_{model_name}_change", args=[obj.pk]))
    history = client.get(reverse(f"admin:catalog_{model_name}_history", args=[obj.pk]))

    # then
    assert response.status_code == 200
    assert history.status_code == 200


def test_shop_list_masks_contact_for_customer_service_but_not_admin(staff: Callable[..., User]) -> None:
    # given
    admin_user = staff("admin")
    make_shop(admin_user)
    url = reverse("admin:channels_shop_changelist")

    # when
    as_service = client_for(staff("customer_service")).get(url).content.decode()
    as_admin = client_for(admin_user).get(url).content.decode()

    # then
    assert "138****5678" in as_service
    assert "13812345678" not in as_service
    assert "张**" in as_service
    assert "张三丰" not in as_service
    assert "13812345678" in as_admin
    assert "张三丰" in as_admin


def test_shop_change_form_shows_masked_read_only_contact_to_customer_service(
    staff: Callable[..., User],
) -> None:
    # given
    shop = make_shop(staff("admin"))

    # when
    page = (
        client_for(staff("customer_service"))
        .get(reverse("admin:channels_shop_change", args=[shop.pk]))
        .content.decode()
    )

    # then
    assert "138****5678" in page
    assert "13812345678" not in page
    assert "文一西路" not in page
    assert 'name="contact_phone"' not in page


def test_reveal_shows_personal_data_once_and_is_audited(staff: Callable[..., User]) -> None:
    # given
    shop = make_shop(staff("admin"))
    service_user = staff("customer_service")
    url = reverse("admin:channels_shop_reveal_personal_data", args=[shop.pk])
    client = client_for(service_user)

    # when
    form_page = client.get(url)
    revealed = client.post(url, {"reason": "客户来电核对退货地址"})

    # then
    assert form_page.status_code == 200
    assert "13812345678" not in form_page.content.decode()
    assert revealed.status_code == 200
    assert "13812345678" in revealed.content.decode()
    entry = AuditEntry.objects.get(action="pii.revealed")
    assert (entry.actor, entry.object_id, entry.reason, entry.source) == (
        service_user,
        str(shop.pk),
        "客户来电核对退货地址",
        "admin",
    )
    assert entry.changes == {"fields": ["contact_name", "contact_phone", "return_address"]}


def test_reveal_is_refused_without_reveal_permission(staff: Callable[..., User]) -> None:
    # given
    shop = make_shop(staff("admin"))
    client = client_for(staff("operations"))

    # when
    response = client.post(
        reverse("admin:channels_shop_reveal_personal_data", args=[shop.pk]), {"reason": "x"}
    )

    # then
    assert response.status_code == 403
    assert not AuditEntry.objects.filter(action="pii.revealed").exists()


def test_shop_out_of_scope_is_not_found_in_admin(staff: Callable[..., User]) -> None:
    # given
    admin_user = staff("admin")
    mine = factories.create_shop(code="mine")
    other = make_shop(admin_user)
    client = client_for(staff("customer_service", shops=[mine]))

    # when
    listed = client.get(reverse("admin:channels_shop_changelist")).content.decode()
    opened = client.get(reverse("admin:channels_shop_change", args=[other.pk]))

    # then
    assert "mine" in listed
    assert "tmall-flagship" not in listed
    assert opened.status_code == 302


def test_shop_saved_in_admin_goes_through_the_service_and_is_audited(staff: Callable[..., User]) -> None:
    # given
    admin_user = staff("admin")
    shop = make_shop(admin_user)
    client = client_for(admin_user)
    data = {
        "code": shop.code,
        "name": "天猫旗舰店（新）",
        "platform": "tmall",
        "timezone": "Asia/Shanghai",
        "is_active": "on",
        "contact_name": shop.contact_name,
        "contact_phone": shop.contact_phone,
        "return_address": shop.return_address,
    }

    # when
    response = client.post(reverse("admin:channels_shop_change", args=[shop.pk]), data)

    # then
    assert response.status_code == 302
    entry = AuditEntry.objects.filter(action="shop.updated").get()
    assert entry.changes == {"name": ["天猫旗舰店", "天猫旗舰店（新）"]}


def test_shop_refused_by_service_shows_the_error_and_saves_nothing(staff: Callable[..., User]) -> None:
    # given
    admin_user = staff("admin")
    shop = make_shop(admin_user)
    data = {"code": shop.code, "name": "x", "platform": "tmall", "timezone": "Mars/Base", "is_active": "on"}

    # when
    response = client_for(admin_user).post(reverse("admin:channels_shop_change", args=[shop.pk]), data)

    # then
    assert response.status_code == 200
    assert "不是有效的时区" in response.content.decode()
    shop.refresh_from_db()
    assert shop.name == "天猫旗舰店"


def test_audit_list_masks_personal_data_in_changes_without_view_pii(staff: Callable[..., User]) -> None:
    # given
    make_shop(staff("admin"))
    url = reverse("admin:core_auditentry_changelist")

    # when
    as_operations = client_for(staff("operations")).get(url).content.decode()
    as_admin = client_for(staff("admin")).get(url).content.decode()

    # then
    assert "138****5678" in as_operations
    assert "13812345678" not in as_operations
    assert "13812345678" in as_admin


def test_audit_list_searches_by_object_and_filters_by_action(staff: Callable[..., User]) -> None:
    # given
    admin_user = staff("admin")
    make_shop(admin_user)
    factories.create_shop(code="other")
    client = client_for(admin_user)
    url = reverse("admin:core_auditentry_changelist")

    # when
    found = client.get(url, {"q": "天猫旗舰店"}).context["cl"]
    filtered = client.get(url, {"action": "shop.created"}).context["cl"]
    nothing = client.get(url, {"action": "pii.revealed"}).context["cl"]

    # then
    assert [entry.object_repr for entry in found.result_list] == ["天猫旗舰店（天猫）"]
    assert filtered.result_count == 1
    assert nothing.result_count == 0


def test_object_history_page_lists_audit_entries(staff: Callable[..., User]) -> None:
    # given
    admin_user = staff("admin")
    shop = make_shop(admin_user)
    channel_services.update_shop(actor=admin_user, shop_id=shop.pk, changes={"name": "新名字"})

    # when
    page = client_for(admin_user).get(reverse("admin:channels_shop_history", args=[shop.pk])).content.decode()

    # then
    assert "shop.created" in page
    assert "shop.updated" in page
    assert "天猫旗舰店 → 新名字" in page


def test_dashboard_lists_a_sku_priced_below_cost(staff: Callable[..., User]) -> None:
    # given
    below = factories.create_sku(merchant_code="LOSS-01", sale_price="50.00", cost_price="60.00")
    factories.create_sku(merchant_code="FINE-01", sale_price="100.00", cost_price="60.00")

    # when
    page = client_for(staff("operations")).get(reverse("admin:index")).content.decode()

    # then
    assert 'data-panel="below_cost"' in page
    panel = page[page.index('data-panel="below_cost"') : page.index('data-panel="below_guard"')]
    assert below.merchant_code in panel
    assert "FINE-01" not in panel
    assert "¥50.00" in panel
    assert "¥60.00" in panel
    assert "¥10.00" in panel


def test_dashboard_lists_schedules_starting_within_a_day_and_unlisted_products(
    staff: Callable[..., User],
) -> None:
    # given
    admin_user = staff("admin")
    sku = factories.create_sku(merchant_code="SOON-01", sale_price="100.00", cost_price="60.00")
    later = factories.create_sku(merchant_code="LATER-01", sale_price="100.00", cost_price="60.00")
    catalog_services.schedule_price_change(
        sku_id=sku.pk, new_price="88.00", starts_at=timezone.now() + dt.timedelta(hours=3), actor=admin_user
    )
    catalog_services.schedule_price_change(
        sku_id=later.pk,
        new_price="88.00",
        starts_at=timezone.now() + dt.timedelta(hours=30),
        actor=admin_user,
    )

    # when
    page = client_for(admin_user).get(reverse("admin:index")).content.decode()

    # then
    upcoming = page[
        page.index('data-panel="upcoming_schedules"') : page.index('data-panel="unlisted_products"')
    ]
    assert "SOON-01" in upcoming
    assert "LATER-01" not in upcoming
    assert "¥100.00 → ¥88.00" in upcoming
    assert sku.product.merchant_code in page[page.index('data-panel="unlisted_products"') :]
