"""SMS provider adapters: Aliyun Dysmsapi SendSms (RPC, HMAC-SHA1) and Tencent Cloud SMS SendSms
(API 2021-01-11, TC3-HMAC-SHA256), signed as each provider documents it, sent with the standard library."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import os
import urllib.error
import urllib.parse
import urllib.request
import uuid
from dataclasses import dataclass
from typing import Any, Protocol

from django.conf import settings

TIMEOUT_SECONDS = 10


@dataclass(frozen=True)
class SmsResult:
    """What the provider answered for one message: accepted (with its id) or refused (with its code)."""

    accepted: bool
    message_id: str = ""
    code: str = ""
    error: str = ""


class SmsProvider(Protocol):
    def send(
        self, *, phone: str, sign_name: str, template_code: str, params: dict[str, str]
    ) -> SmsResult: ...


def setting(name: str, default: str = "") -> str:
    """A care setting from Django settings, else the environment."""
    return str(getattr(settings, name, None) or os.environ.get(name, default))


def percent_encode(value: str) -> str:
    """Aliyun's POP encoding: RFC 3986 unreserved characters kept, everything else %XX (space as %20)."""
    return urllib.parse.quote(value, safe="-_.~")


def aliyun_signature(method: str, params: dict[str, str], secret: str) -> str:
    canonical = "&".join(f"{percent_encode(k)}={percent_encode(v)}" for k, v in sorted(params.items()))
    string_to_sign = f"{method}&{percent_encode('/')}&{percent_encode(canonical)}"
    digest = hmac.new(f"{secret}&".encode(), string_to_sign.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def tencent_authorization(
    *, secret_id: str, secret_key: str, host: str, payload: str, timestamp: int, service: str = "sms"
) -> str:
    day = dt.datetime.fromtimestamp(timestamp, tz=dt.UTC).strftime("%Y-%m-%d")
    canonical_request = "\n".join(
        [
            "POST",
            "/",
            "",
            f"content-type:application/json; charset=utf-8\nhost:{host}\n",
            "content-type;host",
            hashlib.sha256(payload.encode()).hexdigest(),
        ]
    )
    scope = f"{day}/{service}/tc3_request"
    string_to_sign = "\n".join(
        ["TC3-HMAC-SHA256", str(timestamp), scope, hashlib.sha256(canonical_request.encode()).hexdigest()]
    )

    def _hmac(key: bytes, text: str) -> bytes:
        return hmac.new(key, text.encode(), hashlib.sha256).digest()

    signing = _hmac(_hmac(_hmac(f"TC3{secret_key}".encode(), day), service), "tc3_request")
    signature = hmac.new(signing, string_to_sign.encode(), hashlib.sha256).hexdigest()
    return (
        f"TC3-HMAC-SHA256 Credential={secret_id}/{scope}, SignedHeaders=content-type;host, "
        f"Signature={signature}"
    )


def _post(url: str, data: bytes, headers: dict[str, str]) -> dict[str, Any]:
    request = urllib.request.Request(url, data=data, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:  # noqa: S310
            return dict(json.loads(response.read().decode()))
    except urllib.error.HTTPError as error:
        body = error.read().decode(errors="replace")
        try:
            return dict(json.loads(body))
        except ValueError:
            return {"Code": f"HTTP{error.code}", "Message": body[:200]}


@dataclass(frozen=True)
class AliyunSms:
    endpoint: str
    access_key_id: str
    access_key_secret: str
    region: str = "cn-hangzhou"

    def send(self, *, phone: str, sign_name: str, template_code: str, params: dict[str, str]) -> SmsResult:
        query = {
            "AccessKeyId": self.access_key_id,
            "Action": "SendSms",
            "Format": "JSON",
            "PhoneNumbers": phone,
            "RegionId": self.region,
            "SignName": sign_name,
            "SignatureMethod": "HMAC-SHA1",
            "SignatureNonce": uuid.uuid4().hex,
            "SignatureVersion": "1.0",
            "TemplateCode": template_code,
            "TemplateParam": json.dumps(params, ensure_ascii=False),
            "Timestamp": dt.datetime.now(tz=dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "Version": "2017-05-25",
        }
        query["Signature"] = aliyun_signature("POST", query, self.access_key_secret)
        body = "&".join(f"{percent_encode(k)}={percent_encode(v)}" for k, v in query.items()).encode()
        answer = _post(
            self.endpoint.rstrip("/") + "/",
            body,
            {"Content-Type": "application/x-www-form-urlencoded"},
        )
        code = str(answer.get("Code", ""))
        if code == "OK":
            return SmsResult(accepted=True, message_id=str(answer.get("BizId", "")), code=code)
        return SmsResult(accepted=False, code=code, error=str(answer.get("Message", ""))[:300])


@dataclass(frozen=True)
class TencentSms:
    endpoint: str
    secret_id: str
    secret_key: str
    app_id: str
    region: str = "ap-guangzhou"

    def send(self, *, phone: str, sign_name: str, template_code: str, params: dict[str, str]) -> SmsResult:
        number = phone if phone.startswith("+") else f"+86{phone}"
        payload = json.dumps(
            {
                "PhoneNumberSet": [number],
                "SmsSdkAppId": self.app_id,
                "SignName": sign_name,
                "TemplateId": template_code,
                "TemplateParamSet": list(params.values()),
            },
            ensure_ascii=False,
        )
        host = urllib.parse.urlsplit(self.endpoint).netloc
        timestamp = int(dt.datetime.now(tz=dt.UTC).timestamp())
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "Host": host,
            "X-TC-Action": "SendSms",
            "X-TC-Version": "2021-01-11",
            "X-TC-Timestamp": str(timestamp),
            "X-TC-Region": self.region,
            "Authorization": tencent_authorization(
                secret_id=self.secret_id,
                secret_key=self.secret_key,
                host=host,
                payload=payload,
                timestamp=timestamp,
            ),
        }
        answer = dict(_post(self.endpoint.rstrip("/") + "/", payload.encode(), headers).get("Response") or {})
        error = answer.get("Error")
        if error:
            return SmsResult(
                accepted=False, code=str(error.get("Code", "")), error=str(error.get("Message", ""))
            )
        statuses = answer.get("SendStatusSet") or [{}]
        status = dict(statuses[0])
        code = str(status.get("Code", ""))
        if code == "Ok":
            return SmsResult(accepted=True, message_id=str(status.get("SerialNo", "")), code=code)
        return SmsResult(accepted=False, code=code, error=str(status.get("Message", ""))[:300])


def provider() -> SmsProvider | None:
    """The configured SMS provider (CARE_SMS_PROVIDER = aliyun | tencent), or None when none is set."""
    name = setting("CARE_SMS_PROVIDER").lower()
    if name == "aliyun":
        return AliyunSms(
            endpoint=setting("CARE_SMS_ENDPOINT", "https://dysmsapi.aliyuncs.com"),
            access_key_id=setting("CARE_SMS_KEY_ID"),
            access_key_secret=setting("CARE_SMS_KEY_SECRET"),
            region=setting("CARE_SMS_REGION", "cn-hangzhou"),
        )
    if name == "tencent":
        return TencentSms(
            endpoint=setting("CARE_SMS_ENDPOINT", "https://sms.tencentcloudapi.com"),
            secret_id=setting("CARE_SMS_KEY_ID"),
            secret_key=setting("CARE_SMS_KEY_SECRET"),
            app_id=setting("CARE_SMS_APP_ID"),
            region=setting("CARE_SMS_REGION", "ap-guangzhou"),
        )
    return None
