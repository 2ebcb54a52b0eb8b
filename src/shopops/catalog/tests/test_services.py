import datetime as dt
import threading
from decimal import Decimal

import pytest
from django.db import connection
from django.utils import timezone

from shopops.catalog import services
from shopops.catalog.models import (
    Category,
    ChannelListing,
    CodeSequence,
    CodingRule,
    ListingEvent,
    PriceHistory,
    Product,
    PromoPrice,
    ScheduledPriceChange,
    Sku,
)
from shopops.catalog.tests import factories
from shopops.core.errors import Conflict, InvalidInput, NotFound
from shopops.core.models import AuditEntry

pytestmark = pytest.mark.django_db

UTC = dt.UTC
T0 = dt.datetime(2026, 6, 1, 2, 0, tzinfo=UTC)


def history_rows(sku: Sku) -> list[tuple]:
    return list(
        PriceHistory.objects.filter(sku=sku)
        .order_by("pk")
        .values_list("field", "old_value", "new_value", "reason", "source", "actor_id")
    )


def sale_price_of(sku: Sku) -> Decimal:
    return Sku.objects.values_list("sale_price", flat=True).get(pk=sku.pk)


# categories and brands


def test_child_category_gets_path_and_depth_from_its_parent(admin_user) -> None:
    # given
    women = services.create_category(name="女装", code="NZ", actor=admin_user)
    # when
    dresses = services.create_category(name="连衣裙", code="LYQ", parent_id=women.pk, actor=admin_user)
    # then
    assert (women.path, women.depth) == ("女装", 0)
    assert (dresses.path, dresses.depth) == ("女装 › 连衣裙", 1)
    assert AuditEntry.objects.filter(action="category.created").count() == 2


def test_renaming_a_category_rewrites_the_paths_below_it(admin_user) -> None:
    # given
    women = services.create_category(name="女装", code="NZ", actor=admin_user)
    dresses = services.create_category(name="连衣裙", code="LYQ", parent_id=women.pk, actor=admin_user)
    long_dresses = services.create_category(name="长裙", code="CQ", parent_id=dresses.pk, actor=admin_user)
    # when
    services.update_category(category_id=women.pk, name="女士服装", actor=admin_user)
    # then
    paths = dict(Category.objects.values_list("code", "path"))
    assert paths == {"NZ": "女士服装", "LYQ": "女士服装 › 连衣裙", "CQ": "女士服装 › 连衣裙 › 长裙"}
    assert Category.objects.get(pk=long_dresses.pk).depth == 2


def test_moving_a_category_under_another_recomputes_path_and_depth_of_its_subtree(admin_user) -> None:
    # given
    women = services.create_category(name="女装", code="NZ", actor=admin_user)
    men = services.create_category(name="男装", code="MZ", actor=admin_user)
    shirts = services.create_category(name="衬衫", code="CS", parent_id=men.pk, actor=admin_user)
    silk = services.create_category(name="真丝衬衫", code="ZS", parent_id=shirts.pk, actor=admin_user)
    # when
    services.update_category(category_id=shirts.pk, parent_id=women.pk, actor=admin_user)
    # then
    silk.refresh_from_db()
    assert (silk.path, silk.depth) == ("女装 › 衬衫 › 真丝衬衫", 2)
    # and back to the top level
    services.update_category(category_id=shirts.pk, move_to_root=True, actor=admin_user)
    silk.refresh_from_db()
    assert (silk.path, silk.depth) == ("衬衫 › 真丝衬衫", 1)


def test_moving_a_category_below_its_own_descendant_is_refused(admin_user) -> None:
    # given
    women = services.create_category(name="女装", code="NZ", actor=admin_user)
    dresses = services.create_category(name="连衣裙", code="LYQ", parent_id=women.pk, actor=admin_user)
    # when
    with pytest.raises(InvalidInput) as refused:
        services.update_category(category_id=women.pk, parent_id=dresses.pk, actor=admin_user)
    # then
    assert refused.value.fields == {"parent_id": "会形成循环"}
    assert Category.objects.get(pk=women.pk).parent_id is None
    with pytest.raises(InvalidInput):
        services.update_category(category_id=women.pk, parent_id=women.pk, actor=admin_user)


def test_duplicate_category_code_and_sibling_name_are_conflicts(admin_user) -> None:
    # given
    services.create_category(name="女装", code="NZ", actor=admin_user)
    # when / then
    with pytest.raises(Conflict) as same_code:
        services.create_category(name="男装", code="NZ", actor=admin_user)
    with pytest.raises(Conflict) as same_name:
        services.create_category(name="女装", code="NZ2", actor=admin_user)
    assert (same_code.value.code, same_name.value.code) == (
        "duplicate_category_code",
        "duplicate_category_name",
    )


def test_duplicate_brand_is_a_conflict(admin_user) -> None:
    # given
    services.create_brand(name="优衣", code="YY", actor=admin_user)
    # when / then
    with pytest.raises(Conflict) as refused:
        services.create_brand(name="优衣", code="YY2", actor=admin_user)
    assert refused.value.fields == {"name": "重复"}


# merchant codes


@pytest.mark.parametrize(
    ("pattern", "field_message"),
    [
        ("", "必填"),
        ("{category}-{serial}", "含未知占位符"),
        ("{category}-{}", "含未知占位符"),
        ("{category}{brand}", "须含一个 {seq}"),
        ("{seq}-{seq}", "须含一个 {seq}"),
        ("{category}-{seq:xyz}", "格式说明无效"),
        ("{category-{seq}", "花括号不匹配"),
        ("{category!r}{seq}", "不支持转换"),
    ],
)
def test_invalid_coding_patterns_are_refused(pattern: str, field_message: str) -> None:
    # when
    with pytest.raises(InvalidInput) as refused:
        services.validate_coding_pattern(pattern)
    # then
    assert refused.value.fields == {"pattern": field_message}


@pytest.mark.parametrize(
    "pattern", ["{category}{brand}-{seq:05d}", "{yyyy}{mm}-{seq:04d}", "SP{seq}", "{seq:03d}{brand}"]
)
def test_valid_coding_patterns_pass(pattern: str) -> None:
    services.validate_coding_pattern(pattern)


def test_default_pattern_counts_per_category_and_brand_prefix() -> None:
    # given
    women = factories.create_category(code="NZ")
    men = factories.create_category(code="MZ")
    brand = factories.create_brand(code="AB")
    # when
    codes = [
        services.generate_merchant_code(category=women, brand=brand),
        services.generate_merchant_code(category=women, brand=brand),
        services.generate_merchant_code(category=men, brand=brand),
        services.generate_merchant_code(category=women, brand=None),
    ]
    # then
    assert codes == ["NZAB-00001", "NZAB-00002", "MZAB-00001", "NZ-00001"]
    assert dict(CodeSequence.objects.values_list("key", "last_value")) == {"NZAB-": 2, "MZAB-": 1, "NZ-": 1}


def test_generation_skips_codes_that_already_exist() -> None:
    # given
    women = factories.create_category(code="NZ")
    factories.create_product(merchant_code="NZ-00001", category=women)
    factories.create_sku(merchant_code="NZ-00002")
    # when
    code = services.generate_merchant_code(category=women, brand=None)
    # then
    assert code == "NZ-00003"


def test_active_coding_rule_renders_year_and_month() -> None:
    # given
    CodingRule.objects.create(name="按月", pattern="{category}{yyyy}{mm}{seq:03d}", is_active=True)
    CodingRule.objects.create(name="旧规则", pattern="OLD{seq}", is_active=False)
    women = factories.create_category(code="NZ")
    today = timezone.localdate()
    # when
    code = services.generate_merchant_code(category=women, brand=None)
    # then
    assert code == f"NZ{today.year}{today.month:02d}001"


def test_product_without_code_gets_one_from_the_rule_and_is_audited(admin_user) -> None:
    # given
    women = factories.create_category(code="NZ")
    brand = factories.create_brand(code="AB")
    # when
    product = services.create_product(
        name="真丝连衣裙", category_id=women.pk, brand_id=brand.pk, actor=admin_user
    )
    # then
    assert product.merchant_code == "NZAB-00001"
    entry = AuditEntry.objects.get(action="product.created")
    assert (entry.object_id, entry.actor_id, entry.changes["merchant_code"]) == (
        str(product.pk),
        admin_user.pk,
        [None, "NZAB-00001"],
    )


def test_product_with_a_taken_code_is_refused(admin_user) -> None:
    # given
    existing = factories.create_product(merchant_code="DRESS-1")
    # when
    with pytest.raises(services.DuplicateMerchantCode) as refused:
        services.create_product(
            name="x", category_id=existing.category_id, merchant_code=" DRESS-1 ", actor=admin_user
        )
    # then
    assert (refused.value.status, refused.value.code, refused.value.fields) == (
        409,
        "duplicate_merchant_code",
        {"merchant_code": "重复"},
    )
    assert Product.objects.count() == 1


def test_product_needs_an_existing_category_and_an_active_brand(admin_user) -> None:
    # given
    category = factories.create_category()
    inactive = factories.create_brand(is_active=False)
    # when / then
    with pytest.raises(InvalidInput) as no_category:
        services.create_product(name="x", category_id=category.pk + 1000, actor=admin_user)
    with pytest.raises(InvalidInput) as inactive_brand:
        services.create_product(name="x", category_id=category.pk, brand_id=inactive.pk, actor=admin_user)
    assert no_category.value.fields == {"category_id": "不存在"}
    assert inactive_brand.value.fields == {"brand_id": "已停用"}


def test_update_product_changes_fields_and_audits_the_difference(admin_user) -> None:
    # given
    product = factories.create_product(name="旧名", merchant_code="OLD-1")
    product_category_id = product.category_id
    other_category = factories.create_category()
    # when
    services.update_product(
        product_id=product.pk, actor=admin_user, name="新名", category_id=other_category.pk, status="archived"
    )
    # then
    product.refresh_from_db()
    assert (product.name, product.category_id, product.status) == ("新名", other_category.pk, "archived")
    entry = AuditEntry.objects.get(action="product.updated")
    assert entry.changes == {
        "name": ["旧名", "新名"],
        "category_id": [product_category_id, other_category.pk],
        "status": ["active", "archived"],
    }


def test_update_product_refuses_unknown_fields_and_taken_codes(admin_user) -> None:
    # given
    product = factories.create_product(merchant_code="A-1")
    factories.create_product(merchant_code="B-1")
    # when / then
    with pytest.raises(InvalidInput) as unknown:
        services.update_product(product_id=product.pk, actor=admin_user, price="1")
    with pytest.raises(services.DuplicateMerchantCode):
        services.update_product(product_id=product.pk, actor=admin_user, merchant_code="B-1")
    assert unknown.value.fields == {"price": "不可修改"}
    assert Product.objects.get(pk=product.pk).merchant_code == "A-1"


# SKUs


def test_sku_code_spec_and_initial_price_history(admin_user) -> None:
    # given
    product = factories.create_product(merchant_code="NZAB-00001")
    # when
    first = services.create_sku(
        product_id=product.pk,
        actor=admin_user,
        sale_price="199.00",
        cost_price="80",
        list_price="299",
        attributes={"颜色": "黑色", "尺码": "M"},
    )
    second = services.create_sku(
        product_id=product.pk, actor=admin_user, sale_price=99, cost_price=50, spec="白色"
    )
    # then
    assert (first.merchant_code, first.spec) == ("NZAB-00001-01", "颜色:黑色;尺码:M")
    assert (second.merchant_code, second.spec) == ("NZAB-00001-02", "白色")
    assert history_rows(first) == [
        ("sale_price", None, Decimal("199.00"), "", "manual", admin_user.pk),
        ("cost_price", None, Decimal("80.00"), "", "manual", admin_user.pk),
        ("list_price", None, Decimal("299.00"), "", "manual", admin_user.pk),
    ]
    assert [row[0] for row in history_rows(second)] == ["sale_price", "cost_price"]


def test_sku_with_a_taken_barcode_or_code_is_refused(admin_user) -> None:
    # given
    existing = factories.create_sku(merchant_code="X-01", barcode="6901234567890")
    # when / then
    with pytest.raises(services.DuplicateBarcode) as barcode:
        services.create_sku(
            product_id=existing.product_id,
            actor=admin_user,
            sale_price=10,
            cost_price=5,
            barcode="6901234567890",
        )
    with pytest.raises(services.DuplicateMerchantCode):
        services.create_sku(
            product_id=existing.product_id,
            actor=admin_user,
            sale_price=10,
            cost_price=5,
            merchant_code="X-01",
        )
    assert (barcode.value.code, barcode.value.fields) == ("duplicate_barcode", {"barcode": "重复"})
    assert Sku.objects.count() == 1


def test_sku_priced_below_cost_is_blocked_by_default(admin_user) -> None:
    # given
    product = factories.create_product()
    # when
    with pytest.raises(services.PriceGuardBlocked) as blocked:
        services.create_sku(product_id=product.pk, actor=admin_user, sale_price="50", cost_price="60")
    # then
    assert blocked.value.status == 422
    assert [issue.code for issue in blocked.value.issues] == ["below_cost"]
    assert Sku.objects.count() == 0
    assert PriceHistory.objects.count() == 0


def test_update_sku_sends_prices_through_the_guard_and_history(admin_user) -> None:
    # given
    sku = factories.create_sku(sale_price="100", cost_price="60")
    # when
    services.update_sku(
        sku_id=sku.pk,
        actor=admin_user,
        reason="换季",
        sale_price="90",
        weight_grams=350,
        attributes={"颜色": "红"},
    )
    # then
    sku.refresh_from_db()
    assert (sku.sale_price, sku.weight_grams, sku.spec) == (Decimal("90.00"), 350, "颜色:红")
    assert history_rows(sku) == [
        ("sale_price", Decimal("100.00"), Decimal("90.00"), "换季", "manual", admin_user.pk)
    ]
    assert list(AuditEntry.objects.order_by("pk").values_list("action", flat=True)) == [
        "sku.updated",
        "sku.price_changed",
    ]


def test_update_sku_below_cost_changes_nothing(admin_user) -> None:
    # given
    sku = factories.create_sku(sale_price="100", cost_price="60")
    # when
    with pytest.raises(services.PriceGuardBlocked):
        services.update_sku(sku_id=sku.pk, actor=admin_user, weight_grams=10, sale_price="59.99")
    # then
    sku.refresh_from_db()
    assert (sku.sale_price, sku.weight_grams) == (Decimal("100.00"), None)
    assert AuditEntry.objects.count() == 0


# price guard


def test_without_policies_only_below_cost_matters() -> None:
    # given
    sku = factories.create_sku()
    # when
    at_cost = services.check_price_guard(sku=sku, sale_price=Decimal("60"), cost_price=Decimal("60"))
    below = services.check_price_guard(sku=sku, sale_price=Decimal("59.99"), cost_price=Decimal("60"))
    # then
    assert at_cost == []
    assert below == [services.GuardIssue("below_cost", "售价 ¥59.99 低于成本价 ¥60.00", True)]


def test_default_policy_warns_below_its_minimum_margin() -> None:
    # given
    factories.create_policy(min_margin_percent="20", mode="warn")
    sku = factories.create_sku()
    # when
    issues = services.check_price_guard(sku=sku, sale_price=Decimal("70"), cost_price=Decimal("60"))
    # then: (70 − 60) / 70 × 100 = 14.2857… %
    assert issues == [services.GuardIssue("below_min_margin", "毛利率 14.29% 低于最低毛利率 20.00%", False)]
    assert services.check_price_guard(sku=sku, sale_price=Decimal("75"), cost_price=Decimal("60")) == []


def test_category_policy_is_inherited_by_subcategories_and_overridden_below() -> None:
    # given
    factories.create_policy(min_margin_percent="5", mode="warn")
    women = factories.create_category(name="女装")
    dresses = factories.create_category(name="连衣裙", parent=women)
    silk = factories.create_category(name="真丝", parent=dresses)
    factories.create_policy(category=women, min_margin_percent="30", mode="block")
    factories.create_policy(category=silk, min_margin_percent="10", mode="warn")
    other = factories.create_category(name="男装")
    dress_sku = factories.create_sku(product=factories.create_product(category=dresses))
    silk_sku = factories.create_sku(product=factories.create_product(category=silk))
    other_sku = factories.create_sku(product=factories.create_product(category=other))
    sale, cost = Decimal("80"), Decimal("60")  # margin 25 %
    # when
    dress_issues = services.check_price_guard(sku=dress_sku, sale_price=sale, cost_price=cost)
    silk_issues = services.check_price_guard(sku=silk_sku, sale_price=sale, cost_price=cost)
    other_issues = services.check_price_guard(sku=other_sku, sale_price=sale, cost_price=cost)
    # then
    assert [(issue.code, issue.blocking) for issue in dress_issues] == [("below_min_margin", True)]
    assert silk_issues == []
    assert other_issues == []


def test_below_cost_only_warns_when_the_policy_allows_it() -> None:
    # given
    factories.create_policy(min_margin_percent="0", mode="warn", block_below_cost=False)
    sku = factories.create_sku()
    # when
    issues = services.check_price_guard(sku=sku, sale_price=Decimal("50"), cost_price=Decimal("60"))
    # then
    assert [(issue.code, issue.blocking) for issue in issues] == [("below_cost", False)]


def test_min_price_of_the_sku_and_a_zero_sale_price() -> None:
    # given
    factories.create_policy(min_margin_percent="10", mode="block")
    sku = factories.create_sku(min_price="80", cost_price="0")
    # when
    below_min = services.check_price_guard(sku=sku, sale_price=Decimal("79"), cost_price=Decimal("0"))
    free = services.check_price_guard(sku=sku, sale_price=Decimal("0"), cost_price=Decimal("0"))
    # then
    assert below_min == [services.GuardIssue("below_min_price", "售价 ¥79.00 低于最低售价 ¥80.00", True)]
    assert [issue.code for issue in free] == ["below_min_margin", "below_min_price"]


# change_price


def test_change_price_writes_history_and_audit(admin_user) -> None:
    # given
    sku = factories.create_sku(sale_price="100", cost_price="60")
    # when
    change = services.change_price(sku_id=sku.pk, actor=admin_user, new_value="88.8", reason="618 活动")
    # then
    assert (change.field, change.old_value, change.new_value, change.warnings) == (
        "sale_price",
        Decimal("100.00"),
        Decimal("88.80"),
        (),
    )
    assert sale_price_of(sku) == Decimal("88.80")
    assert history_rows(sku) == [
        ("sale_price", Decimal("100.00"), Decimal("88.80"), "618 活动", "manual", admin_user.pk)
    ]
    entry = AuditEntry.objects.get(action="sku.price_changed")
    assert (entry.changes, entry.reason, entry.actor_id) == (
        {"sale_price": ["100.00", "88.80"], "source": "manual"},
        "618 活动",
        admin_user.pk,
    )


def test_unchanged_price_writes_nothing(admin_user) -> None:
    # given
    sku = factories.create_sku(sale_price="100")
    # when
    change = services.change_price(sku_id=sku.pk, actor=admin_user, new_value="100.00")
    # then
    assert (change.old_value, change.new_value) == (Decimal("100.00"), Decimal("100.00"))
    assert PriceHistory.objects.count() == 0
    assert AuditEntry.objects.count() == 0


def test_warning_needs_acknowledgement(admin_user) -> None:
    # given
    factories.create_policy(min_margin_percent="20", mode="warn")
    sku = factories.create_sku(sale_price="100", cost_price="60")
    # when
    with pytest.raises(services.PriceGuardWarning) as warned:
        services.change_price(sku_id=sku.pk, actor=admin_user, new_value="70")
    unchanged = sale_price_of(sku)
    change = services.change_price(sku_id=sku.pk, actor=admin_user, new_value="70", acknowledge_warnings=True)
    # then
    assert (warned.value.status, warned.value.code) == (409, "price_guard_warning")
    assert warned.value.fields == {"sale_price": "毛利率 14.29% 低于最低毛利率 20.00%"}
    assert unchanged == Decimal("100.00")
    assert [issue.code for issue in change.warnings] == ["below_min_margin"]
    assert sale_price_of(sku) == Decimal("70.00")


def test_blocked_change_is_refused_even_when_acknowledged(admin_user) -> None:
    # given
    category = factories.create_category()
    factories.create_policy(category=category, min_margin_percent="20", mode="block")
    sku = factories.create_sku(
        product=factories.create_product(category=category), sale_price="100", cost_price="60"
    )
    # when
    with pytest.raises(services.PriceGuardBlocked) as blocked:
        services.change_price(sku_id=sku.pk, actor=admin_user, new_value="70", acknowledge_warnings=True)
    # then
    assert (blocked.value.status, blocked.value.code) == (422, "price_guard_blocked")
    assert sale_price_of(sku) == Decimal("100.00")
    assert PriceHistory.objects.count() == 0


def test_cost_rising_above_the_sale_price_is_recorded_with_information_only(admin_user) -> None:
    # given
    sku = factories.create_sku(sale_price="100", cost_price="60")
    # when
    change = services.change_price(
        sku_id=sku.pk, actor=admin_user, field="cost_price", new_value="120", source="import"
    )
    # then
    assert [(issue.code, issue.blocking) for issue in change.warnings] == [("below_cost", False)]
    assert history_rows(sku) == [
        ("cost_price", Decimal("60.00"), Decimal("120.00"), "", "import", admin_user.pk)
    ]


def test_list_price_can_be_cleared_and_bad_values_are_refused(admin_user) -> None:
    # given
    sku = factories.create_sku(list_price="199")
    # when
    services.change_price(sku_id=sku.pk, actor=admin_user, field="list_price", new_value=None)
    # then
    assert history_rows(sku) == [("list_price", Decimal("199.00"), None, "", "manual", admin_user.pk)]
    with pytest.raises(InvalidInput):
        services.change_price(sku_id=sku.pk, actor=admin_user, new_value="-1")
    with pytest.raises(InvalidInput):
        services.change_price(sku_id=sku.pk, actor=admin_user, new_value="1", field="min_price")
    with pytest.raises(NotFound):
        services.change_price(sku_id=sku.pk + 1000, actor=admin_user, new_value="1")


# scheduled price changes


def test_schedule_needs_aware_times_in_order(admin_user) -> None:
    # given
    sku = factories.create_sku()
    # when / then
    with pytest.raises(InvalidInput) as naive:
        services.schedule_price_change(
            sku_id=sku.pk, new_price="90", starts_at=dt.datetime(2026, 6, 1), actor=admin_user
        )
    with pytest.raises(InvalidInput) as backwards:
        services.schedule_price_change(
            sku_id=sku.pk, new_price="90", starts_at=T0, ends_at=T0, actor=admin_user
        )
    assert naive.value.fields == {"starts_at": "须为带时区的时间"}
    assert backwards.value.fields == {"ends_at": "须晚于开始时间"}


def test_overlapping_schedules_are_refused_adjacent_ones_are_not(admin_user) -> None:
    # given
    sku = factories.create_sku()
    hour = dt.timedelta(hours=1)
    services.schedule_price_change(
        sku_id=sku.pk, new_price="90", starts_at=T0, ends_at=T0 + 2 * hour, actor=admin_user
    )
    cancelled = services.schedule_price_change(
        sku_id=sku.pk, new_price="80", starts_at=T0 + 5 * hour, ends_at=T0 + 6 * hour, actor=admin_user
    )
    services.cancel_scheduled_price_change(schedule_id=cancelled.pk, actor=admin_user)
    # when / then
    with pytest.raises(Conflict) as overlap:
        services.schedule_price_change(sku_id=sku.pk, new_price="85", starts_at=T0 + hour, actor=admin_user)
    with pytest.raises(Conflict):
        services.schedule_price_change(
            sku_id=sku.pk,
            new_price="85",
            starts_at=T0 - hour,
            ends_at=T0 + dt.timedelta(minutes=1),
            actor=admin_user,
        )
    adjacent = services.schedule_price_change(
        sku_id=sku.pk, new_price="85", starts_at=T0 + 2 * hour, ends_at=T0 + 3 * hour, actor=admin_user
    )
    reused = services.schedule_price_change(
        sku_id=sku.pk, new_price="70", starts_at=T0 + 5 * hour, actor=admin_user
    )
    assert overlap.value.code == "schedule_overlap"
    assert (adjacent.status, reused.status) == ("pending", "pending")
    with pytest.raises(Conflict):  # the open-ended one covers everything after it
        services.schedule_price_change(
            sku_id=sku.pk, new_price="60", starts_at=T0 + 50 * hour, actor=admin_user
        )


def test_scheduled_price_starts_and_ends_with_exact_history(admin_user) -> None:
    # given
    sku = factories.create_sku(sale_price="100", cost_price="60")
    schedule = services.schedule_price_change(
        sku_id=sku.pk,
        new_price="79",
        starts_at=T0,
        ends_at=T0 + dt.timedelta(days=1),
        reason="周末特价",
        actor=admin_user,
    )
    # when
    before_start = services.apply_due_price_changes(now=T0 - dt.timedelta(seconds=1))
    at_start = services.apply_due_price_changes(now=T0)
    price_during = sale_price_of(sku)
    at_end = services.apply_due_price_changes(now=T0 + dt.timedelta(days=1))
    # then
    assert before_start == services.AppliedSummary()
    assert at_start == services.AppliedSummary(started=(schedule.pk,))
    assert at_end == services.AppliedSummary(finished=(schedule.pk,))
    assert price_during == Decimal("79.00")
    assert sale_price_of(sku) == Decimal("100.00")
    schedule.refresh_from_db()
    assert (schedule.status, schedule.previous_price) == ("finished", Decimal("100.00"))
    assert history_rows(sku) == [
        ("sale_price", Decimal("100.00"), Decimal("79.00"), "周末特价", "schedule", None),
        ("sale_price", Decimal("79.00"), Decimal("100.00"), "周末特价", "schedule_end", None),
    ]


def test_running_the_job_twice_changes_nothing_more(admin_user) -> None:
    # given
    sku = factories.create_sku(sale_price="100")
    services.schedule_price_change(sku_id=sku.pk, new_price="90", starts_at=T0, actor=admin_user)
    services.apply_due_price_changes(now=T0)
    # when
    again = services.apply_due_price_changes(now=T0 + dt.timedelta(minutes=1))
    # then
    assert again == services.AppliedSummary()
    assert PriceHistory.objects.filter(sku=sku).count() == 1
    assert sale_price_of(sku) == Decimal("90.00")


def test_back_to_back_schedules_hand_over_the_original_price(admin_user) -> None:
    # given
    sku = factories.create_sku(sale_price="100")
    hour = dt.timedelta(hours=1)
    first = services.schedule_price_change(
        sku_id=sku.pk, new_price="90", starts_at=T0, ends_at=T0 + hour, actor=admin_user
    )
    second = services.schedule_price_change(
        sku_id=sku.pk, new_price="80", starts_at=T0 + hour, ends_at=T0 + 2 * hour, actor=admin_user
    )
    services.apply_due_price_changes(now=T0)
    # when
    handover = services.apply_due_price_changes(now=T0 + hour)
    services.apply_due_price_changes(now=T0 + 2 * hour)
    # then
    assert handover == services.AppliedSummary(started=(second.pk,), finished=(first.pk,))
    second.refresh_from_db()
    assert second.previous_price == Decimal("100.00")
    assert sale_price_of(sku) == Decimal("100.00")
    assert [(row[1], row[2]) for row in history_rows(sku)] == [
        (Decimal("100.00"), Decimal("90.00")),
        (Decimal("90.00"), Decimal("100.00")),
        (Decimal("100.00"), Decimal("80.00")),
        (Decimal("80.00"), Decimal("100.00")),
    ]


def test_a_schedule_whose_window_passed_unseen_never_changes_the_price(admin_user) -> None:
    # given
    sku = factories.create_sku(sale_price="100")
    schedule = services.schedule_price_change(
        sku_id=sku.pk, new_price="90", starts_at=T0, ends_at=T0 + dt.timedelta(hours=1), actor=admin_user
    )
    # when
    summary = services.apply_due_price_changes(now=T0 + dt.timedelta(hours=3))
    # then
    assert summary == services.AppliedSummary(skipped=(schedule.pk,))
    assert ScheduledPriceChange.objects.get(pk=schedule.pk).status == "finished"
    assert PriceHistory.objects.count() == 0


def test_a_manual_change_during_the_window_is_kept_at_the_end(admin_user) -> None:
    # given
    sku = factories.create_sku(sale_price="100")
    services.schedule_price_change(
        sku_id=sku.pk, new_price="90", starts_at=T0, ends_at=T0 + dt.timedelta(hours=1), actor=admin_user
    )
    services.apply_due_price_changes(now=T0)
    services.change_price(sku_id=sku.pk, actor=admin_user, new_value="95")
    # when
    services.apply_due_price_changes(now=T0 + dt.timedelta(hours=1))
    # then
    assert sale_price_of(sku) == Decimal("95.00")
    assert PriceHistory.objects.filter(sku=sku).count() == 2


def test_cancelling_an_active_schedule_reverts_the_price(admin_user) -> None:
    # given
    sku = factories.create_sku(sale_price="100")
    schedule = services.schedule_price_change(sku_id=sku.pk, new_price="90", starts_at=T0, actor=admin_user)
    services.apply_due_price_changes(now=T0)
    # when
    cancelled = services.cancel_scheduled_price_change(schedule_id=schedule.pk, actor=admin_user)
    # then
    assert cancelled.status == "cancelled"
    assert sale_price_of(sku) == Decimal("100.00")
    assert history_rows(sku)[-1] == (
        "sale_price",
        Decimal("90.00"),
        Decimal("100.00"),
        "定时调价结束",
        "schedule_cancelled",
        admin_user.pk,
    )
    with pytest.raises(Conflict) as again:
        services.cancel_scheduled_price_change(schedule_id=schedule.pk, actor=admin_user)
    assert again.value.code == "schedule_not_cancellable"


def test_a_schedule_the_guard_blocks_when_due_is_cancelled_not_applied(admin_user) -> None:
    # given
    sku = factories.create_sku(sale_price="100", cost_price="60")
    schedule = services.schedule_price_change(sku_id=sku.pk, new_price="70", starts_at=T0, actor=admin_user)
    services.change_price(sku_id=sku.pk, actor=admin_user, field="cost_price", new_value="75")
    # when
    summary = services.apply_due_price_changes(now=T0)
    # then
    assert summary == services.AppliedSummary(skipped=(schedule.pk,))
    assert ScheduledPriceChange.objects.get(pk=schedule.pk).status == "cancelled"
    assert sale_price_of(sku) == Decimal("100.00")
    assert AuditEntry.objects.filter(action="scheduled_price.blocked").count() == 1


def test_scheduling_below_cost_is_blocked(admin_user) -> None:
    # given
    sku = factories.create_sku(sale_price="100", cost_price="60")
    # when / then
    with pytest.raises(services.PriceGuardBlocked):
        services.schedule_price_change(sku_id=sku.pk, new_price="50", starts_at=T0, actor=admin_user)
    assert ScheduledPriceChange.objects.count() == 0


# promotional prices


def test_promo_price_overlap_is_refused_per_sku_and_shop(admin_user) -> None:
    # given
    sku = factories.create_sku(sale_price="100", cost_price="60")
    tmall, jd = factories.create_shop(), factories.create_shop()
    day = dt.timedelta(days=1)
    first = services.create_promo_price(
        sku_id=sku.pk,
        shop_id=tmall.pk,
        name="618",
        price="80",
        starts_at=T0,
        ends_at=T0 + 3 * day,
        actor=admin_user,
    )
    # when / then
    with pytest.raises(Conflict) as overlap:
        services.create_promo_price(
            sku_id=sku.pk,
            shop_id=tmall.pk,
            name="双十一",
            price="85",
            starts_at=T0 + day,
            ends_at=T0 + 5 * day,
            actor=admin_user,
        )
    other_shop = services.create_promo_price(
        sku_id=sku.pk,
        shop_id=jd.pk,
        name="618",
        price="82",
        starts_at=T0,
        ends_at=T0 + 3 * day,
        actor=admin_user,
    )
    services.deactivate_promo_price(promo_id=first.pk, actor=admin_user)
    replacement = services.create_promo_price(
        sku_id=sku.pk,
        shop_id=tmall.pk,
        name="新 618",
        price="78",
        starts_at=T0,
        ends_at=T0 + day,
        actor=admin_user,
    )
    assert overlap.value.code == "promo_overlap"
    assert (other_shop.price, replacement.price) == (Decimal("82.00"), Decimal("78.00"))
    assert list(PromoPrice.objects.filter(is_active=True).order_by("pk").values_list("pk", flat=True)) == [
        other_shop.pk,
        replacement.pk,
    ]


def test_promo_price_is_blocked_below_cost_but_not_for_warnings(admin_user) -> None:
    # given
    factories.create_policy(min_margin_percent="30", mode="warn")
    sku = factories.create_sku(sale_price="100", cost_price="60")
    shop = factories.create_shop()
    # when
    with pytest.raises(services.PriceGuardBlocked) as blocked:
        services.create_promo_price(
            sku_id=sku.pk,
            shop_id=shop.pk,
            name="清仓",
            price="59",
            starts_at=T0,
            ends_at=T0 + dt.timedelta(days=1),
            actor=admin_user,
        )
    warned = services.create_promo_price(
        sku_id=sku.pk,
        shop_id=shop.pk,
        name="清仓",
        price="70",
        starts_at=T0,
        ends_at=T0 + dt.timedelta(days=1),
        actor=admin_user,
    )
    # then
    assert blocked.value.fields == {"price": "售价 ¥59.00 低于成本价 ¥60.00"}
    assert warned.price == Decimal("70.00")


# bulk price adjustment


@pytest.mark.parametrize(
    ("amount", "rounding", "expected"),
    [
        ("89.914", "cent", "89.91"),
        ("89.915", "cent", "89.92"),
        ("89.50", "yuan", "90.00"),
        ("89.49", "yuan", "89.00"),
        ("89.91", "x9", "89.90"),
        ("90.00", "x9", "89.90"),
        ("90.40", "x9", "89.90"),
        ("90.41", "x9", "90.90"),
        ("109.89", "x9", "109.90"),
        ("0.10", "x9", "0.90"),
    ],
)
def test_rounding_modes(amount: str, rounding: str, expected: str) -> None:
    assert services.round_price(Decimal(amount), rounding) == Decimal(expected)


def _three_skus() -> list[Sku]:
    return [
        factories.create_sku(merchant_code="A-01", sale_price="99.90", cost_price="50"),
        factories.create_sku(merchant_code="A-02", sale_price="159.00", cost_price="80"),
        factories.create_sku(merchant_code="A-03", sale_price="20.00", cost_price="5"),
    ]


@pytest.mark.parametrize(
    ("mode", "value", "rounding", "expected"),
    [
        # 99.90 × 0.9 = 89.91, 159 × 0.9 = 143.1, 20 × 0.9 = 18
        ("percent", "-10", "cent", ["89.91", "143.10", "18.00"]),
        ("percent", "-10", "x9", ["89.90", "142.90", "17.90"]),
        ("percent", "-10", "yuan", ["90.00", "143.00", "18.00"]),
        ("amount", "-5", "cent", ["94.90", "154.00", "15.00"]),
        ("set", "66.6", "cent", ["66.60", "66.60", "66.60"]),
    ],
)
def test_preview_computes_each_row_and_writes_nothing(mode, value, rounding, expected) -> None:
    # given
    skus = _three_skus()
    # when
    rows = services.preview_bulk_price_adjustment(
        sku_ids=[sku.pk for sku in reversed(skus)], mode=mode, value=value, rounding=rounding
    )
    # then
    assert [(row.merchant_code, row.old_value, row.new_value) for row in rows] == [
        (sku.merchant_code, sku.sale_price, Decimal(price)) for sku, price in zip(skus, expected, strict=True)
    ]
    assert [sale_price_of(sku) for sku in skus] == [Decimal("99.90"), Decimal("159.00"), Decimal("20.00")]
    assert PriceHistory.objects.count() == 0


def test_apply_writes_exactly_the_previewed_prices(admin_user) -> None:
    # given
    skus = _three_skus()
    ids = [sku.pk for sku in skus]
    preview = services.preview_bulk_price_adjustment(sku_ids=ids, mode="percent", value="-15", rounding="x9")
    # when
    result = services.apply_bulk_price_adjustment(
        sku_ids=ids, mode="percent", value="-15", rounding="x9", reason="换季清仓", actor=admin_user
    )
    # then: 99.9 × 0.85 = 84.915 → 84.90; 159 × 0.85 = 135.15 → 134.90; 20 × 0.85 = 17 → 16.90
    assert list(result.rows) == preview
    assert [sale_price_of(sku) for sku in skus] == [Decimal("84.90"), Decimal("134.90"), Decimal("16.90")]
    assert [(change.old_value, change.new_value) for change in result.changes] == [
        (row.old_value, row.new_value) for row in preview
    ]
    assert PriceHistory.objects.filter(source="bulk", reason="换季清仓", actor=admin_user).count() == 3


def test_a_negative_result_refuses_the_whole_batch_naming_the_sku() -> None:
    # given
    skus = _three_skus()
    # when
    with pytest.raises(InvalidInput) as refused:
        services.preview_bulk_price_adjustment(sku_ids=[sku.pk for sku in skus], mode="amount", value="-30")
    # then
    assert refused.value.fields == {str(skus[2].pk): "A-03：调整后价格为负数（-10.00）"}


def test_one_blocked_row_refuses_the_whole_batch(admin_user) -> None:
    # given
    skus = _three_skus()
    # when: 159 − 80 = 79 < 80 only for A-02; 20 − 80 < 0 refused earlier; use −75
    with pytest.raises(services.PriceGuardBlocked) as blocked:
        services.apply_bulk_price_adjustment(
            sku_ids=[skus[0].pk, skus[1].pk], mode="amount", value="-80", reason="试", actor=admin_user
        )
    # then: 99.90 − 80 = 19.90 < 50 and 159 − 80 = 79 < 80: both named
    assert blocked.value.fields == {
        str(skus[0].pk): "A-01：售价 ¥19.90 低于成本价 ¥50.00",
        str(skus[1].pk): "A-02：售价 ¥79.00 低于成本价 ¥80.00",
    }
    assert [sale_price_of(sku) for sku in skus[:2]] == [Decimal("99.90"), Decimal("159.00")]
    assert PriceHistory.objects.count() == 0


def test_only_the_blocked_sku_is_named_and_nothing_changes(admin_user) -> None:
    # given
    skus = _three_skus()
    # when: −10 %: 89.91 ≥ 50, 143.10 ≥ 80, 18 ≥ 5 — then set 60: A-02 (cost 80) is below cost
    with pytest.raises(services.PriceGuardBlocked) as blocked:
        services.apply_bulk_price_adjustment(
            sku_ids=[sku.pk for sku in skus], mode="set", value="60", reason="统一价", actor=admin_user
        )
    # then
    assert list(blocked.value.fields) == [str(skus[1].pk)]
    assert [sale_price_of(sku) for sku in skus] == [Decimal("99.90"), Decimal("159.00"), Decimal("20.00")]


def test_bulk_warnings_need_acknowledgement(admin_user) -> None:
    # given
    factories.create_policy(min_margin_percent="40", mode="warn")
    skus = _three_skus()
    ids = [sku.pk for sku in skus]
    # when: −10 %: A-01 (89.91−50)/89.91 = 44.4 %, A-02 (143.1−80)/143.1 = 44.1 %, A-03 72.2 %
    #       −20 %: A-01 (79.92−50)/79.92 = 37.4 % < 40, A-02 (127.2−80)/127.2 = 37.1 % < 40
    with pytest.raises(services.PriceGuardWarning) as warned:
        services.apply_bulk_price_adjustment(
            sku_ids=ids, mode="percent", value="-20", reason="大促", actor=admin_user
        )
    result = services.apply_bulk_price_adjustment(
        sku_ids=ids, mode="percent", value="-20", reason="大促", actor=admin_user, acknowledge_warnings=True
    )
    # then
    assert list(warned.value.fields) == [str(skus[0].pk), str(skus[1].pk)]
    assert [change.new_value for change in result.changes] == [
        Decimal("79.92"),
        Decimal("127.20"),
        Decimal("16.00"),
    ]


def test_bulk_input_is_validated(admin_user) -> None:
    # given
    sku = factories.create_sku()
    # when / then
    with pytest.raises(InvalidInput) as missing:
        services.preview_bulk_price_adjustment(sku_ids=[sku.pk, sku.pk + 1000], mode="set", value="1")
    with pytest.raises(InvalidInput) as bad_mode:
        services.preview_bulk_price_adjustment(sku_ids=[sku.pk], mode="double", value="1")
    with pytest.raises(InvalidInput) as no_reason:
        services.apply_bulk_price_adjustment(
            sku_ids=[sku.pk], mode="set", value="99", reason=" ", actor=admin_user
        )
    with pytest.raises(InvalidInput) as no_list_price:
        services.preview_bulk_price_adjustment(
            sku_ids=[sku.pk], mode="percent", value="-10", field="list_price"
        )
    assert missing.value.fields == {"sku_ids": f"不存在：{sku.pk + 1000}"}
    assert bad_mode.value.fields == {"mode": "须为 percent、amount 或 set"}
    assert no_reason.value.fields == {"reason": "必填"}
    assert no_list_price.value.fields == {str(sku.pk): f"{sku.merchant_code}：无原价，不能按比例或金额调整"}


# channel listings


def test_listing_a_product_creates_the_listing_and_records_the_event(admin_user) -> None:
    # given
    product = factories.create_product()
    shop = factories.create_shop()
    # when
    listing = services.set_listing_status(
        product_id=product.pk, shop_id=shop.pk, status="listed", actor=admin_user
    )
    # then
    assert (listing.status, listing.changed_by_id, listing.reason) == ("listed", admin_user.pk, "")
    assert listing.changed_at is not None
    assert list(ListingEvent.objects.values_list("from_status", "to_status", "actor_id")) == [
        ("draft", "listed", admin_user.pk)
    ]
    assert list(AuditEntry.objects.order_by("pk").values_list("action", flat=True)) == [
        "listing.created",
        "listing.listed",
    ]


def test_delisting_needs_a_reason_and_relisting_is_allowed(admin_user) -> None:
    # given
    product = factories.create_product()
    shop = factories.create_shop()
    services.set_listing_status(product_id=product.pk, shop_id=shop.pk, status="listed", actor=admin_user)
    # when
    with pytest.raises(InvalidInput) as no_reason:
        services.set_listing_status(
            product_id=product.pk, shop_id=shop.pk, status="delisted", actor=admin_user
        )
    delisted = services.set_listing_status(
        product_id=product.pk, shop_id=shop.pk, status="delisted", reason="断货", actor=admin_user
    )
    relisted = services.set_listing_status(
        product_id=product.pk, shop_id=shop.pk, status="listed", actor=admin_user
    )
    # then
    assert no_reason.value.fields == {"reason": "下架须填写原因"}
    assert (delisted.status, relisted.status) == ("delisted", "listed")
    assert list(ListingEvent.objects.order_by("pk").values_list("from_status", "to_status", "reason")) == [
        ("draft", "listed", ""),
        ("listed", "delisted", "断货"),
        ("delisted", "listed", ""),
    ]


@pytest.mark.parametrize(
    ("steps", "illegal"),
    [
        (["listed"], "listed"),
        ([], "delisted"),
        (["listed"], "draft"),
        (["draft"], "draft"),
    ],
)
def test_illegal_listing_transitions_are_refused(admin_user, steps: list[str], illegal: str) -> None:
    # given
    product = factories.create_product()
    shop = factories.create_shop()
    for step in steps:
        services.set_listing_status(product_id=product.pk, shop_id=shop.pk, status=step, actor=admin_user)
    events_before = ListingEvent.objects.count()
    # when
    with pytest.raises(services.IllegalListingTransition) as refused:
        services.set_listing_status(
            product_id=product.pk, shop_id=shop.pk, status=illegal, reason="原因", actor=admin_user
        )
    # then
    assert (refused.value.status, refused.value.code) == (409, "illegal_listing_transition")
    assert ListingEvent.objects.count() == events_before


def test_a_product_can_be_listed_on_one_shop_and_delisted_on_another(admin_user) -> None:
    # given
    product = factories.create_product()
    tmall, jd = factories.create_shop(), factories.create_shop()
    services.set_listing_status(product_id=product.pk, shop_id=tmall.pk, status="listed", actor=admin_user)
    services.set_listing_status(product_id=product.pk, shop_id=jd.pk, status="listed", actor=admin_user)
    # when
    services.set_listing_status(
        product_id=product.pk, shop_id=jd.pk, status="delisted", reason="价格冲突", actor=admin_user
    )
    # then
    statuses = dict(ChannelListing.objects.filter(product=product).values_list("shop_id", "status"))
    assert statuses == {tmall.pk: "listed", jd.pk: "delisted"}


def test_archived_products_and_inactive_shops_cannot_be_listed(admin_user) -> None:
    # given
    archived = factories.create_product(status="archived")
    shop = factories.create_shop()
    closed_shop = factories.create_shop(is_active=False)
    product = factories.create_product()
    # when / then
    with pytest.raises(InvalidInput) as archived_refused:
        services.set_listing_status(
            product_id=archived.pk, shop_id=shop.pk, status="listed", actor=admin_user
        )
    with pytest.raises(InvalidInput) as closed_refused:
        services.set_listing_status(
            product_id=product.pk, shop_id=closed_shop.pk, status="listed", actor=admin_user
        )
    assert (archived_refused.value.code, closed_refused.value.code) == ("product_archived", "shop_inactive")
    assert ListingEvent.objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_concurrent_product_creation_never_repeats_a_merchant_code() -> None:
    # given
    category = factories.create_category(code="NZ")
    brand = factories.create_brand(code="AB")
    threads_count, per_thread = 6, 5
    barrier = threading.Barrier(threads_count)
    codes: list[str] = []
    errors: list[BaseException] = []

    def create_some() -> None:
        try:
            barrier.wait()
            for _ in range(per_thread):
                product = services.create_product(
                    name="并发", category_id=category.pk, brand_id=brand.pk, actor=None
                )
                codes.append(product.merchant_code)
        except BaseException as error:  # collected and asserted below
            errors.append(error)
        finally:
            connection.close()

    # when
    threads = [threading.Thread(target=create_some) for _ in range(threads_count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # then
    assert errors == []
    assert sorted(codes) == [f"NZAB-{number:05d}" for number in range(1, threads_count * per_thread + 1)]
    assert CodeSequence.objects.get(key="NZAB-").last_value == threads_count * per_thread
