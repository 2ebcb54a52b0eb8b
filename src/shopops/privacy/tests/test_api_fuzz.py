from typing import Any

import pytest
import schemathesis
from django.core.wsgi import get_wsgi_application
from hypothesis import HealthCheck, Phase, given
from hypothesis import settings as hypothesis_settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from shopops.core.tests.test_schemathesis import connections_kept_open
from shopops.privacy import services
from shopops.privacy.models import RequestKind
from shopops.privacy.tests.factories import create_person, create_request, verified

pytestmark = pytest.mark.django_db(transaction=False)

EXAMPLES_PER_OPERATION = 20


@pytest.mark.slow
def test_no_privacy_operation_answers_a_server_error(
    admin_user: Any, api_client_for: Any, settings: Any
) -> None:
    # given the live schema, an admin token and requests with low ids in several states
    settings.API_RATE_LIMIT = "1000000/m"
    person = create_person()
    create_request(person.customer, kind=RequestKind.ACCESS)
    done = verified(create_request(person.customer, kind=RequestKind.ACCESS))
    services.complete_request(actor=None, request_id=done.pk)
    verified(create_request(person.customer, kind=RequestKind.DELETE))
    token = api_client_for(admin_user).defaults["HTTP_AUTHORIZATION"]
    failures: list[str] = []
    # when every privacy operation is called with generated input
    with connections_kept_open():
        schema = schemathesis.openapi.from_wsgi("/api/openapi.json", get_wsgi_application())
        operations = [
            result.ok()
            for result in schema.get_all_operations()
            if result.ok().path.startswith("/api/v1/privacy")
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
    assert len(operations) == 5
    assert failures == [], "\n\n".join(failures)
