"""Error pages speak the user's language and offer a way back: 403, 404, 500 and the expired-form page."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client, RequestFactory
from django.utils import translation
from django.views.defaults import server_error

pytestmark = pytest.mark.django_db


def english(client: Client) -> Client:
    client.cookies["django_language"] = "en"
    return client


def test_404_is_chinese_with_a_way_back(admin_user: Any) -> None:
    client = Client()
    client.force_login(admin_user)
    response = client.get("/admin/no-such-page/")
    body = response.content.decode()
    assert response.status_code == 404
    assert "找不到这个页面或记录" in body
    assert 'href="/admin/"' in body
    assert "返回工作台" in body
    assert "Not Found" not in body


def test_404_in_english(admin_user: Any) -> None:
    client = english(Client())
    client.force_login(admin_user)
    body = client.get("/admin/no-such-page/").content.decode()
    assert "This page or record cannot be found" in body
    assert "找不到" not in body


def test_403_for_a_role_without_the_permission(make_user: Any) -> None:
    client = Client()
    client.force_login(make_user("warehouse"))
    response = client.get("/admin/accounts/user/add/")
    body = response.content.decode()
    assert response.status_code == 403
    assert "没有权限执行此操作" in body
    assert "返回工作台" in body
    assert "403 Forbidden" not in body


def test_expired_form_page_instead_of_csrf_english() -> None:
    client = Client(enforce_csrf_checks=True)
    response = client.post("/admin/login/", {"username": "x", "password": "y"})
    body = response.content.decode()
    assert response.status_code == 403
    assert "页面已过期，操作没有执行" in body
    assert "CSRF verification failed" not in body


@pytest.mark.parametrize(
    ("language", "text"), [("zh-hans", "系统出错，操作没有完成"), ("en", "Something went wrong")]
)
def test_500_page(language: str, text: str) -> None:
    request = RequestFactory().get("/admin/")
    with translation.override(language):
        response = server_error(request)
    assert response.status_code == 500
    assert text in response.content.decode()
