"""Rules that used to be written several times now live once (issue 11 §7): the below-cost rule, the can-ship
status set and its refusal, the shipping and refund errors, the Parquet event schema. Each is checked against
an independent statement of the rule and against every former copy's callers."""

from decimal import Decimal

import pytest

from shopops.aftersales import services as aftersales_services
from shopops.aftersales.services import common as aftersales_common
from shopops.analytics.collect import schema as collect_schema
from shopops.analytics.warehouse import tables
from shopops.catalog import queries as catalog_queries
from shopops.catalog.models import Sku
from shopops.catalog.tests.factories import create_sku as create_catalog_sku
from shopops.fulfillment import queries as fulfillment_queries
from shopops.fulfillment import services as fulfillment_services
from shopops.inventory.tests.factories import create_sku, create_warehouse, stock
from shopops.orders import queries as order_queries
from shopops.orders import services as order_services
from shopops.orders.models import OrderStatus
from shopops.orders.tests.factories import create_order, create_shop


def test_one_shipping_error_and_one_refund_error():
    assert fulfillment_services.OrderNotShippable is order_services.OrderNotShippable
    assert aftersales_services.RefundTooLarge is order_services.RefundTooLarge
    assert aftersales_common.RefundTooLarge is order_services.RefundTooLarge


def test_the_event_schema_is_declared_once():
    assert tables.EVENTS_SCHEMA is collect_schema.EVENTS_SCHEMA


def test_shippable_statuses_are_what_the_state_machine_lets_ship():
    # written out by hand from the order state machine: only 待发货 and 部分发货 may move to (partially) shipped
    assert order_queries.SHIPPABLE_STATUSES == {OrderStatus.PAID, OrderStatus.PARTIALLY_SHIPPED}
    assert fulfillment_queries.SHIPPABLE_ORDER_STATUSES is order_queries.SHIPPABLE_STATUSES


@pytest.mark.django_db
def test_order_services_and_parcels_refuse_an_unpaid_order_in_the_same_words(admin_user):
    # given an unpaid order with one stocked line
    warehouse = create_warehouse(code="HZ")
    sku = create_sku()
    stock(sku=sku, warehouse=warehouse, on_hand=5)
    order = create_order(
        shop=create_shop(code="tmall-main"), lines=[(sku, 1, "10.00")], status=OrderStatus.PENDING_PAYMENT
    )
    line = order.lines.get()
    expected = f"订单 {order.external_id} 状态为“待付款”，不能发货"
    # when the order services are asked to record its shipment, and fulfillment to pack it
    with pytest.raises(order_services.OrderNotShippable) as recorded:
        order_services.record_shipment(
            actor=admin_user, warehouse_id=warehouse.pk, lines={line.pk: 1}, reference="SHP1"
        )
    with pytest.raises(order_services.OrderNotShippable) as packed:
        fulfillment_services.create_shipment(actor=admin_user, lines={line.pk: 1})
    # then both refuse with the one rule's sentence
    assert recorded.value.message == packed.value.message == expected


@pytest.mark.django_db
def test_below_cost_is_one_rule_in_python_and_in_sql():
    # given SKUs selling under, at and above cost
    prices = {"UNDER": ("9.99", "10.00"), "AT": ("10.00", "10.00"), "OVER": ("10.01", "10.00")}
    for code, (sale, cost) in prices.items():
        create_catalog_sku(merchant_code=code, sale_price=Decimal(sale), cost_price=Decimal(cost))
    skus = Sku.objects.filter(merchant_code__in=prices)
    # the rule, stated independently: strictly less than cost
    expected_below = {code for code, (sale, cost) in prices.items() if Decimal(sale) < Decimal(cost)}
    # then the Python rule, the SQL filter both ways and the 工作台 reader agree with it
    assert {
        code for code, (s, c) in prices.items() if catalog_queries.is_below_cost(Decimal(s), Decimal(c))
    } == (expected_below)
    below = set(catalog_queries.filter_below_cost(skus, True).values_list("merchant_code", flat=True))
    not_below = set(catalog_queries.filter_below_cost(skus, False).values_list("merchant_code", flat=True))
    assert below == expected_below == {"UNDER"}
    assert not_below == set(prices) - expected_below
    assert set(catalog_queries.filter_below_cost(skus, None).values_list("merchant_code", flat=True)) == set(
        prices
    )
    assert {sku.merchant_code for sku in catalog_queries.products_below_cost()} == expected_below
