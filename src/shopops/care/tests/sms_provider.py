"""A local SMS provider (threading http.server) that speaks Aliyun's and Tencent Cloud's SendSms:
it verifies the request signature as each provider documents it (its own code, not ours), records
the requests and answers success, or the provider's error code for numbers listed in `refuse`."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import urllib.parse
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

KEY_ID = "LTAI-test-key"
KEY_SECRET = "test-secret/with+chars="


@dataclass
class Recorded:
    requests: list[dict[str, Any]] = field(default_factory=list)
    bad_signatures: int = 0
    refuse: set[str] = field(default_factory=set)


def _pop(text: str) -> str:
    # Aliyun's documented encoding: URLEncoder.encode then "+"→"%20", "*"→"%2A", "%7E"→"~"
    return (
        urllib.parse.quote_plus(text, encoding="utf-8")
        .replace("+", "%20")
        .replace("*", "%2A")
        .replace("%7E", "~")
    )


def aliyun_expected(params: dict[str, str]) -> str:
    pairs = sorted((k, v) for k, v in params.items() if k != "Signature")
    canonical = "&".join(f"{_pop(k)}={_pop(v)}" for k, v in pairs)
    to_sign = "POST&" + _pop("/") + "&" + _pop(canonical)
    return base64.b64encode(
        hmac.new((KEY_SECRET + "&").encode(), to_sign.encode(), hashlib.sha1).digest()
    ).decode()


def tencent_expected(headers: Any, body: bytes) -> str:
    timestamp = int(headers["X-TC-Timestamp"])
    day = datetime.fromtimestamp(timestamp, tz=UTC).strftime("%Y-%m-%d")
    canonical = (
        f"POST\n/\n\ncontent-type:{headers['Content-Type']}\nhost:{headers['Host']}\n\ncontent-type;host\n"
        + hashlib.sha256(body).hexdigest()
    )
    to_sign = (
        f"TC3-HMAC-SHA256\n{timestamp}\n{day}/sms/tc3_request\n"
        + hashlib.sha256(canonical.encode()).hexdigest()
    )
    key = hmac.new(("TC3" + KEY_SECRET).encode(), day.encode(), hashlib.sha256).digest()
    key = hmac.new(key, b"sms", hashlib.sha256).digest()
    key = hmac.new(key, b"tc3_request", hashlib.sha256).digest()
    signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    return (
        f"TC3-HMAC-SHA256 Credential={KEY_ID}/{day}/sms/tc3_request, SignedHeaders=content-type;host, "
        f"Signature={signature}"
    )


def _handler(recorded: Recorded) -> type[BaseHTTPRequestHandler]:  # noqa: C901 - one fake server, two protocols
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def _answer(self, status: int, data: dict[str, Any]) -> None:
            body = json.dumps(data).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self) -> None:  # noqa: N802 (http.server's hook name)
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            if "X-TC-Action" in self.headers:
                self._tencent(body)
            else:
                self._aliyun(body)

        def _aliyun(self, body: bytes) -> None:
            params = dict(urllib.parse.parse_qsl(body.decode(), keep_blank_values=True))
            if params.get("Signature") != aliyun_expected(params) or params.get("AccessKeyId") != KEY_ID:
                recorded.bad_signatures += 1
                self._answer(
                    400, {"Code": "SignatureDoesNotMatch", "Message": "Specified signature is not matched"}
                )
                return
            recorded.requests.append({"provider": "aliyun", **params})
            if params["PhoneNumbers"] in recorded.refuse:
                self._answer(200, {"Code": "isv.BUSINESS_LIMIT_CONTROL", "Message": "触发号码天级流控"})
                return
            self._answer(
                200,
                {
                    "Code": "OK",
                    "Message": "OK",
                    "BizId": f"900{len(recorded.requests)}^0",
                    "RequestId": str(uuid.uuid4()),
                },
            )

        def _tencent(self, body: bytes) -> None:
            if self.headers.get("Authorization") != tencent_expected(self.headers, body):
                recorded.bad_signatures += 1
                self._answer(
                    200, {"Response": {"Error": {"Code": "AuthFailure.SignatureFailure", "Message": "bad"}}}
                )
                return
            payload = json.loads(body)
            recorded.requests.append({"provider": "tencent", **payload})
            number = payload["PhoneNumberSet"][0]
            if number.removeprefix("+86") in recorded.refuse:
                status = {
                    "SerialNo": "",
                    "PhoneNumber": number,
                    "Fee": 0,
                    "Code": "LimitExceeded.PhoneNumberDailyLimit",
                    "Message": "单个手机号日下发条数超过设定的上限",
                }
            else:
                status = {
                    "SerialNo": f"2645:{len(recorded.requests)}",
                    "PhoneNumber": number,
                    "Fee": 1,
                    "Code": "Ok",
                    "Message": "send success",
                }
            self._answer(200, {"Response": {"SendStatusSet": [status], "RequestId": str(uuid.uuid4())}})

    return Handler


@contextmanager
def sms_provider() -> Iterator[tuple[str, Recorded]]:
    recorded = Recorded()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(recorded))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", recorded
    finally:
        server.shutdown()
        server.server_close()
