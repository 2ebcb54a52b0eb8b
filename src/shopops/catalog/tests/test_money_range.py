import datetime as dt
from decimal import Decimal

import pytest
from django.db import DataError, IntegrityError, connection, transaction
from django.test import Client
from django.utils import timezone

from shopops.catalog import services
from shopops.catalog.models import PriceHistory, PromoPrice, ScheduledPriceChange, Sku
from shopops.catalog.tests.factories import create_shop, create_sku
from shopops.core.errors import InvalidInput
from shopops.core.money import MONEY_LIMIT, money_range_error


def post(client: Client, path: str, payload: dict) -> object:
    return client.post(path, payload, content_type="application/json")


@pytest.mark.parametrize(
    ("amount", "allow_negative", "expected"),
    [
        (Decimal("999999999999.99"), False, None),
        (Decimal("0.00"), False, None),
        (Decimal("1000000000000.00"), False, "超出上限 ¥999,999,999,999.99"),
        (Decimal("-0.01"), False, "不能为负数"),
        (Decimal("-999999999999.99"), True, None),
        (Decimal("-1000000000000.00"), True, "超出下限 ¥-999,999,999,999.99"),
        (Decimal("1.005"), False, "最多 2 位小数"),
        (Decimal("NaN"), False, "不是有效金额"),
    ],
)
def test_money_range_error_says_why_an_amount_does_not_fit_a_money_column(amount, allow_negative, expected):
    # given an amount and whether the column takes negatives
    # when checked against DecimalField(max_digits=14, decimal_places=2)
    error = money_range_error(amount, allow_negative=allow_negative)
    # then only the amounts the column can hold pass
    assert error == expected


@pytest.mark.parametrize(
    ("mode", "value", "rounding", "computed"),
    [
        ("amount", "999999999999", "cent", {"BIG-1": "1000000000099.00"}),
        ("percent", "999999999999", "cent", {"BIG-1": "1000000000099.00"}),
        ("set", "999999999999.99", "yuan", {"OK-1": "1000000000000.00", "BIG-1": "1000000000000.00"}),
    ],
)
def test_bulk_apply_with_an_out_of_range_result_is_422_naming_the_rows_and_stores_nothing(
    make_user, api_client_for, mode, value, rounding, computed
):
    # given SKUs at ¥0.00 and ¥100.00
    skus = {
        "OK-1": create_sku(merchant_code="OK-1", sale_price="0.00", cost_price="0.00"),
        "BIG-1": create_sku(merchant_code="BIG-1", sale_price="100.00", cost_price="10.00"),
    }
    client = api_client_for(make_user("operations"))
    ids = [sku.pk for sku in skus.values()]
    body = {"sku_ids": ids, "mode": mode, "value": value, "rounding": rounding}
    # when the adjustment from the probe is previewed and applied
    preview = post(client, "/api/v1/catalog/bulk-price/preview", body)
    applied = post(client, "/api/v1/catalog/bulk-price/apply", {**body, "reason": "探测"})
    # then both refuse, naming each SKU past the limit with its computed price; nothing is written
    expected = {
        str(skus[code].pk): f"{code}：调整后价格 ¥{Decimal(price):,.2f} 超出上限 ¥999,999,999,999.99"
        for code, price in computed.items()
    }
    for response in (preview, applied):
        assert response.status_code == 422
        assert response.json()["code"] == "price_out_of_range"
        assert response.json()["fields"] == expected
    prices = Sku.objects.filter(pk__in=ids).order_by("merchant_code").values_list("sale_price", flat=True)
    assert list(prices) == [Decimal("100.00"), Decimal("0.00")]
    assert not PriceHistory.objects.exists()


def test_sku_pages_and_export_keep_working_after_the_refused_probe(admin_user, api_client_for):
    # given a SKU and the probe's adjustment refused
    sku = create_sku(merchant_code="BIG-2", sale_price="100.00")
    client = api_client_for(admin_user)
    body = {"sku_ids": [sku.pk], "mode": "amount", "value": "999999999999", "reason": "探测"}
    assert post(client, "/api/v1/catalog/bulk-price/apply", body).status_code == 422
    # when the SKU list is read
    listed = client.get("/api/v1/catalog/skus")
    # then it answers with the unchanged price
    assert listed.status_code == 200
    assert [item["sale_price"] for item in listed.json()["items"]] == ["100.00"]


def test_bulk_service_refuses_a_percentage_rise_past_the_limit(db):
    # given a SKU at ¥600,000,000,000.00
    sku = create_sku(merchant_code="HALF", sale_price="600000000000.00", cost_price="1.00")
    # when it is raised by 100 %
    with pytest.raises(InvalidInput) as refused:
        services.preview_bulk_price_adjustment(sku_ids=[sku.pk], mode="percent", value="100")
    # then the row is named with 600e9 × 2
    assert refused.value.fields == {
        str(sku.pk): "HALF：调整后价格 ¥1,200,000,000,000.00 超出上限 ¥999,999,999,999.99"
    }


def _over_range_write_error() -> type[Exception]:
    # PostgreSQL's numeric(14,2) refuses the value itself; SQLite stores anything, so there the
    # check constraint is what refuses it.
    return IntegrityError if connection.vendor == "sqlite" else DataError


@pytest.mark.parametrize("field", ["sale_price", "cost_price", "list_price", "min_price"])
def test_database_refuses_an_over_range_sku_price_written_directly(db, field):
    # given a SKU
    sku = create_sku()
    # when a price past the column's range is written around the services
    with pytest.raises(_over_range_write_error()), transaction.atomic():
        Sku.objects.filter(pk=sku.pk).update(**{field: MONEY_LIMIT + 99})
    # then the price is unchanged
    sku.refresh_from_db()
    assert (sku.sale_price, sku.cost_price) == (Decimal("100.00"), Decimal("60.00"))


def test_database_refuses_a_negative_minimum_price(db):
    sku = create_sku()
    with pytest.raises(IntegrityError), transaction.atomic():
        Sku.objects.filter(pk=sku.pk).update(min_price=Decimal("-1.00"))


@pytest.mark.parametrize(
    ("model", "field"),
    [(ScheduledPriceChange, "new_price"), (PromoPrice, "price"), (PriceHistory, "new_value")],
)
def test_database_refuses_over_range_prices_of_schedules_promotions_and_history(db, model, field):
    # given nothing stored yet
    # when an over-range price is inserted with raw SQL around the model
    sku = create_sku()
    with pytest.raises(_over_range_write_error()), transaction.atomic():
        _insert_over_range(model, field, sku)
    # then no row exists
    assert not model.objects.exists()


def _insert_over_range(model: type, field: str, sku: Sku) -> None:
    now = timezone.now()
    values = {
        ScheduledPriceChange: {"sku_id": sku.pk, "starts_at": now, "status": "pending", "reason": ""},
        PromoPrice: {
            "sku_id": sku.pk,
            "shop_id": create_shop().pk,
            "name": "x",
            "starts_at": now,
            "ends_at": now + dt.timedelta(days=1),
            "is_active": True,
        },
        PriceHistory: {"sku_id": sku.pk, "field": "sale_price", "reason": "", "source": "manual"},
    }[model]
    model.objects.bulk_create([model(**values, **{field: MONEY_LIMIT + 99})])
