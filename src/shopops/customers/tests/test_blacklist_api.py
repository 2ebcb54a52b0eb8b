from django.test import Client

from shopops.core.models import AuditEntry
from shopops.customers.models import Customer
from shopops.customers.tests.test_admin_api import world  # noqa: F401  (fixture)


def test_blacklist_and_unblacklist_through_the_api(world, make_user, api_client_for):  # noqa: F811
    # given a finance user (customers: view only) and an admin
    zhang = world["zhang"]
    path = f"/api/v1/customers/{zhang.pk}"
    operator = api_client_for(make_user("finance"))
    admin = api_client_for(make_user("admin"))
    # when the operator tries, it is refused and nothing changes
    refused = operator.post(f"{path}/blacklist", {"reason": "刷单"}, content_type="application/json")
    assert refused.status_code == 403
    assert (
        Client().post(f"{path}/blacklist", {"reason": "刷单"}, content_type="application/json").status_code
        == 401
    )
    # when the admin blacklists without a reason, the field is named
    missing = admin.post(f"{path}/blacklist", {}, content_type="application/json")
    assert missing.status_code == 422
    assert "reason" in missing.json()["fields"]
    assert not Customer.objects.get(pk=zhang.pk).is_blacklisted
    # when the admin blacklists with a reason
    done = admin.post(f"{path}/blacklist", {"reason": "恶意退款"}, content_type="application/json")
    # then the customer is blacklisted, shown so and audited
    assert done.status_code == 200, done.content
    assert (done.json()["is_blacklisted"], done.json()["blacklist_reason"]) == (True, "恶意退款")
    assert Customer.objects.get(pk=zhang.pk).is_blacklisted
    assert AuditEntry.objects.filter(action="customer.blacklisted", object_id=str(zhang.pk)).count() == 1
    # and taking them off is audited too
    back = admin.post(f"{path}/unblacklist", {"reason": "误判"}, content_type="application/json")
    assert back.status_code == 200
    assert back.json()["is_blacklisted"] is False
    assert AuditEntry.objects.filter(action="customer.unblacklisted", object_id=str(zhang.pk)).count() == 1


def test_blacklist_unknown_customer_is_404(world, make_user, api_client_for):  # noqa: F811
    admin = api_client_for(make_user("admin"))
    response = admin.post(
        "/api/v1/customers/999999/blacklist", {"reason": "x"}, content_type="application/json"
    )
    assert response.status_code == 404
