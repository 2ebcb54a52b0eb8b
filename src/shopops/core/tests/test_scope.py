"""The scope kit (core.scope): one error, one code, one sentence for missing and out-of-scope rows, the same in
the API (404 JSON) and the admin (404 page); and no module writes the sentence or the scope 404 by hand."""

import re
from pathlib import Path

import pytest
from django.http import Http404
from django.test import Client

from shopops.channels.models import Shop
from shopops.core.errors import DomainError
from shopops.core.scope import (
    OutOfScope,
    get_in_scope,
    out_of_scope,
    require_all_in_scope,
    require_in_scope,
    scoped,
)

SOURCE = Path(__file__).resolve().parents[2]  # src/shopops
SENTENCE = "不存在或不在您的权限范围内"


def make_shop(code: str) -> Shop:
    return Shop.objects.create(code=code, name=f"店铺{code}", platform="tmall")


@pytest.fixture
def two_shops(db):
    return make_shop("north"), make_shop("south")


def test_in_scope_gives_the_row(two_shops, make_user):
    # given a user limited to the north shop
    north, _south = two_shops
    clerk = make_user("operations", shops=[north])
    # when the kit looks up the north shop
    found = get_in_scope(Shop, clerk, pk=north.pk)
    # then it is that shop, and require_in_scope accepts it
    assert found == north
    require_in_scope(Shop, clerk, pk=north.pk)
    require_all_in_scope(Shop, clerk, [north.pk])
    assert list(scoped(Shop, clerk)) == [north]


def test_out_of_scope_is_the_same_error_as_missing(two_shops, make_user):
    # given a user limited to the north shop
    north, south = two_shops
    clerk = make_user("operations", shops=[north])
    # when the kit looks up the south shop and a shop that does not exist
    with pytest.raises(OutOfScope) as outside:
        get_in_scope(Shop, clerk, field="shop_id", pk=south.pk)
    with pytest.raises(OutOfScope) as missing:
        get_in_scope(Shop, clerk, field="shop_id", pk=south.pk + 1000)
    # then both answer the one 404: same code, same sentence (named by the model), same field
    for refused in (outside.value, missing.value):
        assert refused.status == 404
        assert refused.as_body() == {
            "code": "not_found",
            "message": "店铺不存在或不在您的权限范围内",
            "fields": {"shop_id": "不存在"},
        }
        # the admin's 404 page and the API's handler both recognise it
        assert isinstance(refused, Http404)
        assert isinstance(refused, DomainError)
    with pytest.raises(OutOfScope):
        require_in_scope(Shop, clerk, pk=south.pk)
    with pytest.raises(OutOfScope):
        require_all_in_scope(Shop, clerk, [north.pk, south.pk])


def test_anonymous_sees_nothing(two_shops):
    # given no user at all
    north, _south = two_shops
    from django.contrib.auth.models import AnonymousUser

    # when the kit looks up a shop for an anonymous visitor
    with pytest.raises(OutOfScope):
        get_in_scope(Shop, AnonymousUser(), pk=north.pk)
    # then nothing is in scope
    assert scoped(Shop, AnonymousUser()).count() == 0


def test_a_user_with_every_shop_sees_both(two_shops, make_user):
    north, south = two_shops
    boss = make_user("admin")
    assert get_in_scope(Shop, boss, pk=south.pk) == south
    require_all_in_scope(Shop, boss, [north.pk, south.pk])


def test_what_names_the_row_and_defaults_to_the_verbose_name():
    assert out_of_scope("订单").message == "订单" + SENTENCE
    assert out_of_scope().message == "对象" + SENTENCE


def test_api_answers_the_one_404_for_a_shop_out_of_scope(two_shops, make_user, api_client_for):
    # given an operator limited to the north shop
    north, south = two_shops
    clerk = make_user("operations", shops=[north])
    client = api_client_for(clerk)
    # when they read the south shop, and a shop that does not exist
    outside = client.get(f"/api/v1/shops/{south.pk}")
    missing = client.get(f"/api/v1/shops/{south.pk + 1000}")
    # then both are the same 404 JSON
    assert outside.status_code == missing.status_code == 404
    assert (
        outside.json() == missing.json() == {"code": "not_found", "message": "店铺" + SENTENCE, "fields": {}}
    )


def test_admin_answers_404_for_a_row_out_of_scope(two_shops, make_user):
    # given a manager limited to the north shop, logged in to the back office
    north, south = two_shops
    manager = make_user("admin", shops=[north])
    client = Client()
    client.force_login(manager)
    # when they open the reveal page of the north shop and of the south shop
    inside = client.get(f"/admin/channels/shop/{north.pk}/reveal/")
    outside = client.get(f"/admin/channels/shop/{south.pk}/reveal/")
    # then the north shop's page opens and the south shop is not found
    assert inside.status_code == 200
    assert outside.status_code == 404


def _python_sources() -> list[Path]:
    return [
        path for path in SOURCE.rglob("*.py") if "tests" not in path.parts and "migrations" not in path.parts
    ]


def test_no_module_writes_the_out_of_scope_sentence_by_hand():
    # the sentence lives in core/scope.py only; everything else goes through the kit
    offenders = [
        str(path.relative_to(SOURCE))
        for path in _python_sources()
        if path.name != "scope.py" and "权限范围内" in path.read_text(encoding="utf-8")
    ]
    assert offenders == []


def test_no_module_hand_rolls_a_scoped_lookup_then_raises_not_found():
    # `….for_user(…).filter(…).first()` followed by `if … is None: raise NotFound(…)` is what the kit replaces
    pattern = re.compile(
        r"for_user\([^)]*\)[^\n]*\.first\(\)\n\s*if \w+ is None:\n\s*raise NotFound\(", re.MULTILINE
    )
    offenders = [
        str(path.relative_to(SOURCE))
        for path in _python_sources()
        if pattern.search(path.read_text(encoding="utf-8"))
    ]
    assert offenders == []
