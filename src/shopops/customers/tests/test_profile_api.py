"""The profile, notes, merge suggestions and unmerge through the API: permissions, scope, errors."""

from decimal import Decimal

from django.test import Client

from shopops.customers import profiles
from shopops.customers.models import Customer, CustomerMerge, MergeSuggestion, SuggestionStatus
from shopops.customers.tests.test_profiles import people  # noqa: F401  (fixture)
from shopops.orders.models import Order

JSON = "application/json"


def _pair(world):
    pair = sorted((world["wang_tb"].pk, world["wang_jd"].pk))
    return MergeSuggestion.objects.get(customer_a_id=pair[0], customer_b_id=pair[1])


def test_suggestions_accept_reject_and_unmerge_through_the_api(people, make_user, api_client_for):  # noqa: F811
    w = people
    designer = api_client_for(make_user("designer"))
    finance = api_client_for(make_user("finance"))  # views customers, may not merge
    service = api_client_for(make_user("customer_service"))  # 客服: change customers and merge
    # generating needs the merge permission
    assert Client().post("/api/v1/customer-merge-suggestions/generate").status_code == 401
    refused = finance.post("/api/v1/customer-merge-suggestions/generate")
    assert refused.status_code == 403
    assert refused.json()["fields"] == {"permission": "customers.merge_customer"}
    generated = service.post("/api/v1/customer-merge-suggestions/generate")
    assert generated.status_code == 200, generated.content
    assert generated.json()["created"] == MergeSuggestion.objects.count() > 0
    assert designer.get("/api/v1/customer-merge-suggestions").status_code == 403
    listed = finance.get("/api/v1/customer-merge-suggestions").json()
    assert listed["count"] == MergeSuggestion.objects.filter(status=SuggestionStatus.PENDING).count()
    suggestion = _pair(w)
    item = next(entry for entry in listed["items"] if entry["id"] == suggestion.pk)
    assert {"kind": "same_email", "label": "邮箱相同"} in item["evidence"]
    assert item["status_label"] == "待处理"
    # rejecting needs a reason, named in Chinese
    base = f"/api/v1/customer-merge-suggestions/{suggestion.pk}"
    missing = service.post(f"{base}/reject", {}, content_type=JSON)
    assert missing.status_code == 422
    assert "reason" in missing.json()["fields"]
    # keep_id must be one of the pair
    wrong = service.post(f"{base}/accept", {"keep_id": w["zhao"].pk}, content_type=JSON)
    assert wrong.status_code == 422
    assert "keep_id" in wrong.json()["fields"]
    assert service.post(f"{base}/accept", {}, content_type=JSON).status_code == 200
    assert service.post(f"{base}/accept", {}, content_type=JSON).status_code == 409
    merge = CustomerMerge.objects.get()
    assert (merge.target_id, merge.source_id) == (suggestion.customer_a_id, suggestion.customer_b_id)
    assert (
        finance.post(f"/api/v1/customer-merges/{merge.pk}/unmerge", {}, content_type=JSON).status_code == 403
    )
    assert service.post("/api/v1/customer-merges/999999/unmerge", {}, content_type=JSON).status_code == 404
    undone = service.post(
        f"/api/v1/customer-merges/{merge.pk}/unmerge", {"reason": "不是同一人"}, content_type=JSON
    )
    assert undone.status_code == 200, undone.content
    assert undone.json()["unmerge_reason"] == "不是同一人"
    assert Order.objects.filter(customer=w["wang_jd"]).count() == 2
    again = service.post(f"/api/v1/customer-merges/{merge.pk}/unmerge", {}, content_type=JSON)
    assert again.status_code == 409
    assert again.json()["message"] == "这次合并已撤销"


def test_profile_figures_notes_and_scope(people, make_user, api_client_for):  # noqa: F811
    w = people
    Order.objects.filter(customer=w["wang_tb"]).update(is_valid=True)
    tmall_only = make_user("customer_service", shops=[w["tmall"]])
    client = api_client_for(tmall_only)
    admin = api_client_for(make_user("admin"))
    # the kept Tmall profile after a merge: a Tmall-only user sees only its Tmall orders in the figures
    profiles.merge_customers(actor="test", source_id=w["wang_jd"].pk, target_id=w["wang_tb"].pk)
    mine = client.get(f"/api/v1/customers/{w['wang_tb'].pk}/profile")
    assert mine.status_code == 200, mine.content
    body = mine.json()
    tmall_orders = list(Order.objects.filter(customer=w["wang_tb"], shop=w["tmall"]))
    paid = sum((order.paid_amount for order in tmall_orders if order.is_valid), Decimal("0.00"))
    assert body["order_figures"]["orders"] == len(tmall_orders) == 2
    assert Decimal(body["order_figures"]["paid"]) == paid
    assert Decimal(body["order_figures"]["aov"]) == (paid / 2).quantize(Decimal("0.01"))
    assert body["name"] == "王**"
    assert body["phone"] == "138****5678"
    assert {account["kind_label"] for account in body["accounts"]} == {"淘宝会员名/open_uid", "京东下单帐号"}
    assert body["merges"][0]["moved"]["orders.order"] == sorted(
        Order.objects.filter(shop=w["jd"], customer=w["wang_tb"]).values_list("pk", flat=True)
    )
    # all shops: every order counts
    assert admin.get(f"/api/v1/customers/{w['wang_tb'].pk}/profile").json()["order_figures"]["orders"] == 4
    # a JD-only profile is out of the Tmall user's scope: 404, the same as a missing one
    assert client.get(f"/api/v1/customers/{w['zhao'].pk}/profile").status_code == 404
    assert client.get("/api/v1/customers/999999/profile").status_code == 404
    # notes: add (validated), list
    path = f"/api/v1/customers/{w['wang_tb'].pk}/notes"
    assert client.post(path, {"text": ""}, content_type=JSON).status_code == 422
    added = client.post(path, {"text": "喜欢小包装"}, content_type=JSON)
    assert added.status_code == 201
    assert added.json()["author"] == tmall_only.username
    assert [note["text"] for note in client.get(path).json()] == ["喜欢小包装"]
    viewer = api_client_for(make_user("finance"))
    assert viewer.post(path, {"text": "x"}, content_type=JSON).status_code == 403
    # the merged-away profile still answers (for whoever sees its kept profile) and says where it went
    away = admin.get(f"/api/v1/customers/{w['wang_jd'].pk}/profile").json()
    assert away["merged_into_id"] == w["wang_tb"].pk
    assert Customer.objects.get(pk=w["wang_jd"].pk).merged_into_id == w["wang_tb"].pk
