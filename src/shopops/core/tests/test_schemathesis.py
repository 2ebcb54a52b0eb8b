import contextlib
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from django.test import Client
from hypothesis import HealthCheck, Phase, given
from hypothesis import settings as hypothesis_settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

# Examples per operation: Hypothesis tries the simplest values and each parameter's edges first, so a dozen
# valid and invalid inputs reach them; 25 took 569 s for 172 operations (about 130 ms a call) on the CI machine.
EXAMPLES_PER_OPERATION = 12
# After-sales operations are fuzzed by aftersales/tests/test_api_fuzz.py against real cases in every state
# (30 examples each): calling them here again on an empty table proves nothing more.
COVERED_ELSEWHERE = ("/api/v1/aftersales",)
# Report reads compute every metric over four periods per call and only take dates, shop, channel and grain:
# fewer examples cover their parameters (the analytics tests check their numbers and errors).
EXAMPLES_PER_REPORT_READ = 6


def examples_for(method: str, path: str) -> int:
    if method.upper() == "GET" and path.startswith("/api/v1/analytics/"):
        return EXAMPLES_PER_REPORT_READ
    return EXAMPLES_PER_OPERATION


def seed_demo_rows(client: Client) -> dict[str, int]:
    """A shop, category, brand, product and SKU created through the API itself, so that
    generated ids can hit real rows (core cannot import the apps that own them)."""

    def post(path: str, payload: dict[str, Any]) -> int:
        response = client.post(path, payload, content_type="application/json")
        assert response.status_code == 201, response.content
        return response.json()["id"]

    shop = post(
        "/api/v1/shops",
        {"code": "tmall-1", "name": "天猫店", "platform": "tmall", "contact_phone": "13812345678"},
    )
    category = post("/api/v1/catalog/categories", {"name": "女装", "code": "NZ"})
    brand = post("/api/v1/catalog/brands", {"name": "示例", "code": "SL"})
    product = post("/api/v1/catalog/products", {"name": "连衣裙", "category_id": category, "brand_id": brand})
    sku = post(
        "/api/v1/catalog/skus",
        {
            "product_id": product,
            "sale_price": "129.00",
            "cost_price": "60.00",
            "attributes": {"颜色": "黑色"},
        },
    )
    post(
        "/api/v1/catalog/scheduled-prices",
        {"sku_id": sku, "new_price": "119.00", "starts_at": "2030-01-01T00:00:00+08:00"},
    )
    post(
        "/api/v1/catalog/promo-prices",
        {
            "sku_id": sku,
            "shop_id": shop,
            "name": "双11",
            "price": "99.00",
            "starts_at": "2030-11-11T00:00:00+08:00",
            "ends_at": "2030-11-12T00:00:00+08:00",
        },
    )
    return {"shop": shop, "category": category, "brand": brand, "product": product, "sku": sku}


@pytest.mark.slow
def test_no_operation_answers_a_server_error(admin_user, api_client_for, django_settings_override):
    # given the live schema, an admin token and a few real rows
    client = api_client_for(admin_user)
    seed_demo_rows(client)
    token = client.defaults["HTTP_AUTHORIZATION"]
    with connections_kept_open():
        failures = run_every_operation(token)
    # then none answers 5xx or breaks its declared response schema
    assert failures == [], "\n\n".join(failures)


def run_every_operation(token: str) -> list[str]:
    schema = schemathesis.openapi.from_wsgi("/api/openapi.json", get_wsgi_application())
    failures: list[str] = []
    # when every operation is called with generated input
    operations = [
        operation
        for operation in (result.ok() for result in schema.get_all_operations())
        if not operation.path.startswith(COVERED_ELSEWHERE)
    ]
    # revoking a token could hit the test's own token: run it last
    operations.sort(key=lambda operation: operation.method.upper() == "DELETE")
    for operation in operations:
        # valid input, and input that breaks the schema (which must be refused with a 4xx)
        strategy = operation.as_strategy(GenerationMode.POSITIVE) | operation.as_strategy(
            GenerationMode.NEGATIVE
        )

        @given(case=strategy)
        @hypothesis_settings(
            max_examples=examples_for(operation.method, operation.path),
            deadline=None,
            derandomize=True,
            database=None,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        def call(case: Any) -> None:
            case.call_and_validate(
                headers={"Authorization": token}, checks=[not_a_server_error, response_schema_conformance]
            )

        try:
            call()
        except Exception as error:  # collect every operation's failure, then report them together
            failures.append(f"{operation.method.upper()} {operation.path}: {error}")
    return failures


@pytest.fixture
def django_settings_override(settings):
    # thousands of calls in a minute: lift the rate limit for this test only
    settings.API_RATE_LIMIT = "1000000/m"


@contextlib.contextmanager
def connections_kept_open() -> Iterator[None]:
    # a bare WSGI handler closes the connection after each request, which would end the test's
    # transaction; Django's test client avoids this the same way (and reconnects after each call)
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)
