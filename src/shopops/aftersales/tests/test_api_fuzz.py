from decimal import Decimal
from typing import Any

import pytest
import schemathesis
from django.core.wsgi import get_wsgi_application
from hypothesis import HealthCheck, Phase, given
from hypothesis import settings as hypothesis_settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from shopops.aftersales import services
from shopops.aftersales.models import CaseKind
from shopops.aftersales.tests import factories
from shopops.aftersales.tests.factories import Line
from shopops.core.tests.test_schemathesis import connections_kept_open
from shopops.inventory.tests import factories as inventory_factories

pytestmark = pytest.mark.django_db(transaction=False)

EXAMPLES_PER_OPERATION = 30


def _seed(admin_user: Any) -> None:
    # cases with low ids in several states, so generated ids hit real rows
    warehouse = inventory_factories.create_warehouse()
    factories.defective_warehouse()
    shop = factories.create_shop()
    for kind in (CaseKind.REFUND_ONLY, CaseKind.RETURN_REFUND, CaseKind.RESHIP, CaseKind.EXCHANGE):
        sku = inventory_factories.create_sku()
        inventory_factories.stock(sku=sku, warehouse=warehouse, on_hand=5)
        order = factories.create_order(shop=shop, lines=[Line(sku, 2, Decimal("30.00"))])
        case = factories.apply(order, kind=kind, actor=admin_user)
        if kind != CaseKind.EXCHANGE:
            services.approve_case(actor=admin_user, case_id=case.pk)


@pytest.mark.slow
def test_no_aftersales_operation_answers_a_server_error(
    admin_user: Any, api_client_for: Any, settings: Any
) -> None:
    # given the live schema, an admin token and real cases
    settings.API_RATE_LIMIT = "1000000/m"
    _seed(admin_user)
    token = api_client_for(admin_user).defaults["HTTP_AUTHORIZATION"]
    failures: list[str] = []

    # when every after-sales operation is called with generated input
    with connections_kept_open():
        # loading the schema is a request too: it must not close the test's connection either
        schema = schemathesis.openapi.from_wsgi("/api/openapi.json", get_wsgi_application())
        operations = [
            result.ok()
            for result in schema.get_all_operations()
            if result.ok().path.startswith("/api/v1/aftersales")
        ]
        for operation in operations:
            strategy = operation.as_strategy(GenerationMode.POSITIVE) | operation.as_strategy(
                GenerationMode.NEGATIVE
            )

            @given(case=strategy)
            @hypothesis_settings(
                max_examples=EXAMPLES_PER_OPERATION,
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
            except Exception as error:  # collect every operation's failure
                failures.append(f"{operation.method.upper()} {operation.path}: {error}")

    # then none answers 5xx or breaks its declared response schema
    assert len(operations) == 15
    assert failures == [], "\n\n".join(failures)
