"""The collection endpoints: lean plain Django views (no session, no user, no ORM per request).

- `POST /collect/e` — one event (JSON; `text/plain` too, for navigator.sendBeacon) → 204.
- `POST /collect/batch` — NDJSON, optionally `Content-Encoding: gzip` → 202 {"accepted", "rejected",
  "dropped", "errors"}; bad lines are reported per line and the good ones kept; 400 when no line is good.
- `GET /collect/p.gif` — the same single event from query parameters (a pixel, for pages without JS).

The site key comes as `?k=` or the `X-Site-Key` header. Order of checks: site (403), origin (403),
do-not-track (204, dropped), body (413/400), bots (dropped), consent (dropped), then one append to the
spool and the response.
"""

from __future__ import annotations

import base64
import os
import zlib
from dataclasses import dataclass, field
from typing import Any

import msgspec
from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt

from shopops.analytics.collect import bots, privacy, spool
from shopops.analytics.collect.intake import RequestContext, encode_lines, normalise, now_us
from shopops.analytics.collect.schema import (
    MAX_BATCH_BYTES,
    MAX_BATCH_EVENTS,
    MAX_ERRORS_REPORTED,
    MAX_EVENT_BYTES,
    EventError,
    SpoolEvent,
    decode_event,
    error_entry,
)
from shopops.analytics.collect.sites import SiteInfo, sites

_json = msgspec.json.Encoder()
ALLOW_HEADERS = "Content-Type, Content-Encoding, X-Site-Key"
PIXEL = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")
_proxies: frozenset[str] | None = None


def _trusted() -> frozenset[str]:
    global _proxies
    if _proxies is None:
        _proxies = privacy.trusted_proxies()
    return _proxies


def _body(status: int, payload: dict[str, Any]) -> HttpResponse:
    return HttpResponse(_json.encode(payload), status=status, content_type="application/json")


def _error(status: int, code: str, message: str, errors: list[dict[str, Any]] | None = None) -> HttpResponse:
    payload: dict[str, Any] = {"code": code, "message": message}
    if errors is not None:
        payload["errors"] = errors
    return _body(status, payload)


def _cors(response: HttpResponse, origin: str) -> HttpResponse:
    if origin:
        response["Access-Control-Allow-Origin"] = origin
        response["Vary"] = "Origin"
    return response


def _key_of(request: HttpRequest) -> str:
    query = request.META.get("QUERY_STRING", "")
    if query.startswith("k=") and "&" not in query and "%" not in query and "+" not in query:
        return query[2:]  # the snippet's plain ?k=KEY, without building a QueryDict
    return request.GET.get("k") or request.META.get("HTTP_X_SITE_KEY", "")


def _site_of(request: HttpRequest) -> SiteInfo | None:
    key = _key_of(request)
    site = sites.get(key) if key else None
    return site if site is not None and site.is_active else None


def _preflight(request: HttpRequest) -> HttpResponse:
    origin = request.META.get("HTTP_ORIGIN", "")
    site = _site_of(request)
    if site is not None and origin and not site.allows_origin(origin):
        return HttpResponse(status=403)
    response = HttpResponse(status=204)
    response["Access-Control-Allow-Methods"] = "POST, GET, OPTIONS"
    response["Access-Control-Allow-Headers"] = ALLOW_HEADERS
    response["Access-Control-Max-Age"] = "86400"
    return _cors(response, origin)


class _Refused(Exception):
    def __init__(self, response: HttpResponse) -> None:
        self.response = response


def _gate(request: HttpRequest) -> tuple[SiteInfo, str]:
    """The site and the Origin to echo, or _Refused with the response to send."""
    site = _site_of(request)
    if site is None:
        raise _Refused(_error(403, "unknown_site", "站点密钥无效或站点已停用"))
    origin = request.META.get("HTTP_ORIGIN", "")
    if origin and not site.allows_origin(origin):
        raise _Refused(_error(403, "origin_not_allowed", f"来源 {origin} 不在站点允许的来源中"))
    return site, origin


def _read(request: HttpRequest, limit: int) -> bytes:
    length = request.META.get("CONTENT_LENGTH") or "0"
    try:
        declared = int(length)
    except ValueError:
        declared = 0
    if declared > limit:
        raise _Refused(_error(413, "too_large", f"请求体超过 {limit} 字节"))
    data = request.read(limit + 1)  # bypasses DATA_UPLOAD_MAX_MEMORY_SIZE; we enforce our own limit
    if request.META.get("HTTP_CONTENT_ENCODING", "").lower() == "gzip":
        inflater = zlib.decompressobj(wbits=31)
        try:
            data = inflater.decompress(data, limit + 1)
        except zlib.error:
            raise _Refused(_error(400, "bad_encoding", "gzip 数据无法解压")) from None
    if len(data) > limit:
        raise _Refused(_error(413, "too_large", f"请求体超过 {limit} 字节"))
    return data


def _context(request: HttpRequest, site: SiteInfo) -> RequestContext:
    meta = request.META
    return RequestContext(
        site=site,
        ip=privacy.client_address(meta, _trusted()),
        user_agent=meta.get("HTTP_USER_AGENT", ""),
        received=now_us(),
    )


@csrf_exempt
def collect_event(request: HttpRequest) -> HttpResponse:
    if request.method == "OPTIONS":
        return _preflight(request)
    if request.method not in ("POST", "GET"):
        return HttpResponse(status=405, headers={"Allow": "POST, GET, OPTIONS"})
    writer = spool.writer()
    try:
        site, origin = _gate(request)
        if site.honour_dnt and privacy.do_not_track(request.META):
            writer.count("dnt_dropped")
            return _cors(HttpResponse(status=204), origin)
        if request.method == "GET":
            fields: dict[str, Any] = {key: request.GET[key] for key in request.GET if key != "k"}
            if str(fields.get("ts", "")).isdigit():
                fields["ts"] = int(fields["ts"])
            data = _json.encode(fields)
        else:
            data = _read(request, MAX_EVENT_BYTES)
    except _Refused as refused:
        writer.count("rejected")
        return refused.response
    pixel = request.method == "GET"
    try:
        event = decode_event(data)
        context = _context(request, site)
        if bots.is_bot(event.ua or context.user_agent):
            writer.count("bots")
            return _done(origin, pixel)
        if site.require_consent and event.consent is not True:
            writer.count("consent_dropped")
            return _done(origin, pixel)
        line = normalise(event, context)
    except EventError as error:
        writer.count("rejected")
        entry = error_entry(1, error)
        return _cors(_error(400, "invalid_event", f"事件无效：{error.message}", [entry]), origin)
    writer.append(encode_lines([line]))
    writer.count("accepted")
    return _done(origin, pixel)


def _done(origin: str, pixel: bool) -> HttpResponse:
    if pixel:
        response = HttpResponse(PIXEL, content_type="image/gif")
        response["Cache-Control"] = "no-store"
        return _cors(response, origin)
    return _cors(HttpResponse(status=204), origin)


@dataclass
class _Outcome:
    accepted: list[SpoolEvent] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)
    rejected: int = 0
    dropped: int = 0
    bots: int = 0


def _accept_lines(lines: list[bytes], site: SiteInfo, context: RequestContext) -> _Outcome:
    """Validate and normalise each NDJSON line; bad lines become per-line errors (line numbers 1-based)."""
    outcome = _Outcome()
    request_bot = bots.is_bot(context.user_agent)
    prefix = os.urandom(12).hex()  # server-made ids: 96 random bits per request + the line number
    for number, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        try:
            event = decode_event(raw)
            if bots.is_bot(event.ua) if event.ua else request_bot:
                outcome.bots += 1
            elif site.require_consent and event.consent is not True:
                outcome.dropped += 1
            else:
                outcome.accepted.append(normalise(event, context, event_id=f"{prefix}{number:08x}"))
        except EventError as error:
            outcome.rejected += 1
            if len(outcome.errors) < MAX_ERRORS_REPORTED:
                outcome.errors.append(error_entry(number, error))
    return outcome


@csrf_exempt
def collect_batch(request: HttpRequest) -> HttpResponse:
    if request.method == "OPTIONS":
        return _preflight(request)
    if request.method != "POST":
        return HttpResponse(status=405, headers={"Allow": "POST, OPTIONS"})
    writer = spool.writer()
    try:
        site, origin = _gate(request)
        if site.honour_dnt and privacy.do_not_track(request.META):
            writer.count("dnt_dropped")
            return _cors(HttpResponse(status=204), origin)
        data = _read(request, MAX_BATCH_BYTES)
    except _Refused as refused:
        writer.count("rejected")
        return refused.response
    lines = data.split(b"\n")
    if len(lines) > MAX_BATCH_EVENTS and sum(1 for line in lines if line.strip()) > MAX_BATCH_EVENTS:
        writer.count("rejected")
        return _cors(
            _error(413, "too_many_events", f"一批最多 {MAX_BATCH_EVENTS} 个事件，请分批发送"), origin
        )
    context = _context(request, site)
    outcome = _accept_lines(lines, site, context)
    accepted, errors = outcome.accepted, outcome.errors
    rejected, dropped, bot_count = outcome.rejected, outcome.dropped, outcome.bots
    if accepted:
        writer.append(encode_lines(accepted))
    writer.count("accepted", len(accepted))
    writer.count("rejected", rejected)
    writer.count("bots", bot_count)
    writer.count("consent_dropped", dropped)
    if rejected and not accepted and not (bot_count or dropped):
        return _cors(
            _error(400, "invalid_events", f"{rejected} 个事件全部无效，未接收任何事件", errors), origin
        )
    if not (accepted or rejected or bot_count or dropped):
        return _cors(_error(400, "empty", "请求体中没有事件（NDJSON：每行一个 JSON 对象）", []), origin)
    payload: dict[str, Any] = {
        "accepted": len(accepted),
        "rejected": rejected,
        "dropped": bot_count + dropped,
        "errors": errors,
    }
    return _cors(_body(202, payload), origin)
