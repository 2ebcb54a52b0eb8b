"""REST API of care: the provider callbacks (SMS replies, delivery reports) and the email unsubscribe
link; both work without a login and are authorised by a shared secret or a signed token."""

from __future__ import annotations

import datetime as dt
import hmac
import json
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from ninja import Form, Router

from shopops.care import services, sms
from shopops.core.errors import InvalidInput, PermissionDeniedError

router = Router(tags=["care"])


def _verify(token: str) -> None:
    expected = sms.setting("CARE_SMS_CALLBACK_TOKEN")
    if not expected or not hmac.compare_digest(token.encode(), expected.encode()):
        raise PermissionDeniedError("回调凭证无效")


def _items(request: HttpRequest) -> list[dict[str, Any]]:
    try:
        data = json.loads(request.body or b"[]")
    except ValueError as error:
        raise InvalidInput("回调内容不是 JSON", fields={"body": "无效"}) from error
    rows = data if isinstance(data, list) else [data]
    return [row for row in rows if isinstance(row, dict)]


@router.post("/care/sms/replies", auth=None, response={200: dict[str, Any]})
def receive_sms_replies(request: HttpRequest, token: str) -> dict[str, Any]:
    """SMS up-messages pushed by the provider (Aliyun SmsUp: a list of {phone_number, content};
    Tencent reply callback: {mobile, text}); "T"/"TD"/"退订" withdraws SMS marketing consent at once.
    The callback URL carries `token` = CARE_SMS_CALLBACK_TOKEN.

    Permission: none (the provider calls it; the token in the URL is checked, a wrong one answers 403)"""
    _verify(token)
    for row in _items(request):
        phone = str(row.get("phone_number") or row.get("mobile") or "")
        text = str(row.get("content") or row.get("text") or "")
        services.withdraw_by_phone(phone=phone, text=text)
    return {"code": 0, "msg": "成功", "result": 0, "errmsg": "OK"}


@router.post("/care/sms/reports", auth=None, response={200: dict[str, Any]})
def receive_sms_reports(request: HttpRequest, token: str) -> dict[str, Any]:
    """Delivery reports (Aliyun SmsReport: biz_id + success; Tencent: sid + report_status).

    Permission: none (the provider calls it; the token in the URL is checked, a wrong one answers 403)"""
    _verify(token)
    for row in _items(request):
        message_id = str(row.get("biz_id") or row.get("sid") or "")
        delivered = row.get("success") is True or row.get("report_status") == "SUCCESS"
        error = str(row.get("err_msg") or row.get("description") or "")
        if message_id:
            services.mark_delivered(provider_message_id=message_id, delivered=delivered, error=error)
    return {"code": 0, "msg": "成功", "result": 0, "errmsg": "OK"}


@router.get("/care/unsubscribe", auth=None, include_in_schema=False)
def unsubscribe_page(request: HttpRequest, token: str) -> HttpResponse:
    """The unsubscribe link of a marketing email: a confirmation page (nothing changes on GET)."""
    try:
        services.read_unsubscribe_token(token)
    except InvalidInput:
        return render(request, "care/unsubscribe.html", {"invalid": True}, status=400)
    return render(request, "care/unsubscribe.html", {"token": token})


@router.post("/care/unsubscribe", auth=None, include_in_schema=False)
def unsubscribe_confirm(request: HttpRequest, token: str = Form(...)) -> HttpResponse:
    try:
        services.unsubscribe(token=token)
    except InvalidInput:
        return render(request, "care/unsubscribe.html", {"invalid": True}, status=400)
    return render(request, "care/unsubscribe.html", {"done": True, "at": dt.datetime.now(tz=dt.UTC)})
