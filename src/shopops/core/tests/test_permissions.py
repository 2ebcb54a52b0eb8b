import pytest
from django.apps import apps
from django.contrib.auth.models import AnonymousUser

from shopops.core.errors import PermissionDeniedError
from shopops.core.permissions import check_permission, shop_ids_for

pytestmark = pytest.mark.django_db

# core sits below channels: the shop model is looked up by name instead of imported
Shop = apps.get_model("channels", "Shop")


def _shops() -> list:
    return [
        Shop.objects.create(code=code, name=name, platform=platform)
        for code, name, platform in [
            ("tm-flagship", "天猫旗舰店", "tmall"),
            ("jd-self", "京东店", "jd"),
            ("pdd-1", "拼多多店", "pdd"),
        ]
    ]


def test_for_user_limits_rows_to_the_scoped_shops(make_user) -> None:
    # given three shops and a customer-service user limited to two of them
    tmall, jd, pdd = _shops()
    scoped = make_user("customer_service", shops=[tmall, pdd])
    # when shops are listed for that user
    visible = set(Shop.objects.for_user(scoped).values_list("code", flat=True))
    # then only the two scoped shops are there
    assert visible == {"tm-flagship", "pdd-1"}
    assert shop_ids_for(scoped) == {tmall.pk, pdd.pk}


def test_for_user_with_all_shops_sees_everything(make_user) -> None:
    # given three shops and an operator with every shop
    _shops()
    operator = make_user("operations")
    # when listed
    visible = set(Shop.objects.for_user(operator).values_list("code", flat=True))
    # then nothing is hidden
    assert visible == {"tm-flagship", "jd-self", "pdd-1"}
    assert shop_ids_for(operator) is None


def test_superuser_ignores_the_scope_flag(make_user) -> None:
    # given a superuser whose has_all_shops was switched off by mistake
    tmall, _jd, _pdd = _shops()
    boss = make_user(None, shops=[tmall], is_superuser=True)
    # when listed
    visible = Shop.objects.for_user(boss).count()
    # then the superuser sees all shops
    assert visible == 3


def test_for_user_with_an_empty_scope_sees_nothing(make_user) -> None:
    # given a scoped user with no shops and an anonymous visitor
    _shops()
    nobody = make_user("customer_service", shops=[])
    # when listed
    # then no rows at all
    assert Shop.objects.for_user(nobody).count() == 0
    assert Shop.objects.for_user(AnonymousUser()).count() == 0


def test_check_permission_refuses_anonymous_inactive_and_unpermitted_users(make_user) -> None:
    # given users in various states
    designer = make_user("designer")
    inactive = make_user("admin", is_active=False)
    # when checked
    # then each refusal carries a machine-readable code
    with pytest.raises(PermissionDeniedError) as anonymous_refusal:
        check_permission(AnonymousUser(), "catalog.view_product")
    with pytest.raises(PermissionDeniedError) as inactive_refusal:
        check_permission(inactive, "catalog.view_product")
    with pytest.raises(PermissionDeniedError) as missing_refusal:
        check_permission(designer, "catalog.change_price")
    check_permission(designer, "catalog.change_product")
    assert anonymous_refusal.value.code == "not_authenticated"
    assert inactive_refusal.value.code == "not_authenticated"
    assert missing_refusal.value.code == "permission_denied"
    assert missing_refusal.value.fields == {"permission": "catalog.change_price"}
