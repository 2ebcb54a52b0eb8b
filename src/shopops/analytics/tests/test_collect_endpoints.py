from __future__ import annotations

import datetime as dt
import gzip
import json
import uuid
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from django.test import Client

from shopops.analytics.collect import compactor, privacy, spool
from shopops.analytics.collect.sites import sites
from shopops.analytics.collect.testing import landed_rows, make_site
from shopops.analytics.models import CollectSite

CHROME = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36"
IPHONE = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148"


@pytest.fixture
def root(settings: Any, tmp_path: Path) -> Iterator[Path]:
    settings.ANALYTICS_DIR = tmp_path / "analytics"
    sites.clear()
    yield settings.ANALYTICS_DIR
    spool.flush()
    sites.clear()


@pytest.fixture
def site(db: None, root: Path) -> CollectSite:
    return make_site(key="k-test")


def client(**headers: str) -> Client:
    return Client(
        HTTP_USER_AGENT=headers.pop("ua", CHROME), REMOTE_ADDR=headers.pop("ip", "203.0.113.7"), **headers
    )


def post_event(c: Client, event: dict[str, Any], key: str = "k-test", **extra: Any) -> Any:
    return c.post(f"/collect/e?k={key}", data=json.dumps(event), content_type="text/plain", **extra)


def post_batch(
    c: Client, events: list[Any], key: str = "k-test", *, gzipped: bool = False, **extra: Any
) -> Any:
    body = "\n".join(e if isinstance(e, str) else json.dumps(e) for e in events).encode()
    if gzipped:
        body = gzip.compress(body)
        extra["HTTP_CONTENT_ENCODING"] = "gzip"
    return c.post(f"/collect/batch?k={key}", data=body, content_type="application/x-ndjson", **extra)


def landed(root: Path) -> list[dict[str, Any]]:
    spool.flush()
    compactor.compact()
    return landed_rows(root)


def page_view(**fields: Any) -> dict[str, Any]:
    return {"type": "page_view", "visitor_id": "v1", "url": "https://shop.example.cn/", **fields}


def test_single_event_is_spooled_normalised_and_compacted(site: CollectSite, root: Path) -> None:
    # given
    event_id = str(uuid.uuid4())
    ts_ms = int((dt.datetime.now(dt.UTC) - dt.timedelta(minutes=3)).timestamp() * 1000)
    event = {
        "type": "add_to_cart",
        "event_id": event_id,
        "ts": ts_ms,
        "visitor_id": "visitor-1",
        "session_id": "s-1",
        "url": "https://shop.example.cn/p/A100?utm_source=Newsletter&utm_medium=email&utm_campaign=d11",
        "referrer": "https://mail.example.com/",
        "product": "A100",
        "sku": "A100-RED",
        "amount": "99.9",
        "consent": True,
    }
    # when
    response = post_event(client(ua=IPHONE), event)
    rows = landed(root)
    # then
    assert response.status_code == 204
    assert len(rows) == 1
    row = rows[0]
    assert row["event_id"] == event_id
    assert row["type"] == "add_to_cart"
    assert row["ts"] == dt.datetime.fromtimestamp(ts_ms / 1000, dt.UTC)
    shanghai = dt.datetime.fromtimestamp(ts_ms / 1000, dt.timezone(dt.timedelta(hours=8))).date()
    assert row["day"] == shanghai
    assert row["shop_id"] == site.shop_id
    assert row["channel"] == "own"
    assert (row["source"], row["medium"], row["campaign"]) == ("newsletter", "email", "d11")
    assert row["path"] == "/p/A100"
    assert (row["product"], row["sku"], row["amount"]) == ("A100", "A100-RED", Decimal("99.90"))
    assert row["device"] == "mobile"
    assert row["ip_key"] == privacy.ip_key("203.0.113.7", "hash")
    assert "203.0.113" not in row["ip_key"]
    assert row["received_at"] >= row["ts"]
    assert (root / "events" / f"day={shanghai.isoformat()}").is_dir()


def test_client_time_outside_the_window_is_replaced_by_server_time(site: CollectSite, root: Path) -> None:
    # given
    before = dt.datetime.now(dt.UTC)
    old = int((before - dt.timedelta(days=30)).timestamp() * 1000)
    future = (before + dt.timedelta(hours=2)).isoformat()
    # when
    post_event(client(), page_view(event_id="old", ts=old))
    post_event(client(), page_view(event_id="future", ts=future))
    rows = {row["event_id"]: row for row in landed(root)}
    # then
    for event_id in ("old", "future"):
        assert rows[event_id]["ts"] == rows[event_id]["received_at"]
        assert rows[event_id]["ts"] >= before.replace(microsecond=0)


@pytest.mark.parametrize(
    ("body", "field", "fragment"),
    [
        ({"visitor_id": "v"}, "type", "缺少必填字段 type"),
        ({"type": "click"}, "type", "不支持的值 “click”"),
        ({"type": "page_view", "url": "x" * 3000}, "url", "最多 2048 个字符"),
        ({"type": "page_view", "visitor_id": 12}, "visitor_id", "类型错误"),
        ({"type": "payment", "amount": "12.x", "order_id": "1"}, "amount", "不是有效的金额"),
        ({"type": "payment", "amount": "10"}, "order_id", "必须带订单号"),
        ({"type": "add_to_cart"}, "product", "必须带商品编码"),
        ({"type": "page_view", "ts": "2026-01-01 10:00"}, "ts", "必须带时区"),
    ],
)
def test_invalid_event_is_refused_with_the_field_and_nothing_is_stored(
    site: CollectSite, root: Path, body: dict[str, Any], field: str, fragment: str
) -> None:
    # when
    response = post_event(client(), body)
    # then
    assert response.status_code == 400
    payload = response.json()
    assert payload["code"] == "invalid_event"
    assert payload["errors"][0]["line"] == 1
    assert payload["errors"][0]["field"] == field
    assert fragment in payload["errors"][0]["message"]
    assert landed(root) == []


def test_malformed_json_and_oversized_body_are_refused(site: CollectSite, root: Path) -> None:
    c = client()
    response = c.post("/collect/e?k=k-test", data=b"{nope", content_type="text/plain")
    assert response.status_code == 400
    assert response.json()["errors"][0]["message"].startswith("不是有效的 JSON")
    big = json.dumps(page_view(referrer="r" * 20000))
    assert c.post("/collect/e?k=k-test", data=big, content_type="text/plain").status_code == 413
    assert landed(root) == []


def test_unknown_or_inactive_site_is_refused(site: CollectSite, root: Path) -> None:
    assert post_event(client(), page_view(), key="nope").status_code == 403
    assert post_event(client(), page_view(), key="").status_code == 403
    CollectSite.objects.filter(pk=site.pk).update(is_active=False)
    sites.clear()
    response = post_event(client(), page_view())
    assert (response.status_code, response.json()["code"]) == (403, "unknown_site")
    assert landed(root) == []


def test_site_key_header_is_accepted(site: CollectSite, root: Path) -> None:
    c = client()
    response = c.post(
        "/collect/e", data=json.dumps(page_view()), content_type="text/plain", HTTP_X_SITE_KEY="k-test"
    )
    assert response.status_code == 204
    assert len(landed(root)) == 1


def test_batch_keeps_good_lines_and_reports_bad_ones_per_line(site: CollectSite, root: Path) -> None:
    # given
    lines: list[Any] = [
        page_view(event_id="a"),
        {"type": "nope", "visitor_id": "v"},
        "{not json",
        "",
        page_view(event_id="b"),
        {"type": "payment", "visitor_id": "v", "amount": "5"},
    ]
    # when
    response = post_batch(client(), lines, gzipped=True)
    rows = landed(root)
    # then
    assert response.status_code == 202
    body = response.json()
    assert (body["accepted"], body["rejected"], body["dropped"]) == (2, 3, 0)
    assert [(e["line"], e["field"]) for e in body["errors"]] == [(2, "type"), (3, ""), (6, "order_id")]
    assert sorted(row["event_id"] for row in rows) == ["a", "b"]


def test_batch_of_only_bad_lines_is_a_400(site: CollectSite, root: Path) -> None:
    response = post_batch(client(), [{"type": "x"}, {"type": "y"}])
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_events"
    assert [e["line"] for e in response.json()["errors"]] == [1, 2]
    empty = post_batch(client(), [""])
    assert (empty.status_code, empty.json()["code"]) == (400, "empty")


def test_batch_limits(site: CollectSite, root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from shopops.analytics.collect import views

    monkeypatch.setattr(views, "MAX_BATCH_EVENTS", 3)
    response = post_batch(client(), [page_view(event_id=str(i)) for i in range(4)])
    assert (response.status_code, response.json()["code"]) == (413, "too_many_events")
    assert landed(root) == []


@pytest.mark.parametrize(
    "ua",
    [
        "",
        "Mozilla/5.0 (compatible; Baiduspider/2.0; +http://www.baidu.com/search/spider.html)",
        "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
        "Mozilla/5.0 (Windows NT 10.0) AppleWebKit/537.36 HeadlessChrome/120.0 Safari/537.36",
        "curl/8.5.0",
        "python-requests/2.32",
        "Mozilla/5.0 (compatible; Bytespider; spider-feedback@bytedance.com)",
    ],
)
def test_bots_are_dropped_and_counted(site: CollectSite, root: Path, ua: str) -> None:
    before = spool.stats()["bots"]
    response = post_event(client(ua=ua), page_view())
    assert response.status_code == 204
    assert landed(root) == []
    assert spool.stats()["bots"] == before + 1


def test_batch_bot_filter_uses_each_events_forwarded_user_agent(site: CollectSite, root: Path) -> None:
    # a server forwards its visitors' user agents; its own UA is a library's
    lines = [page_view(event_id="person", ua=CHROME), page_view(event_id="bot", ua="Googlebot/2.1")]
    response = post_batch(client(ua="python-requests/2.32"), lines)
    assert response.json() == {"accepted": 1, "rejected": 0, "dropped": 1, "errors": []}
    assert [row["event_id"] for row in landed(root)] == ["person"]


@pytest.mark.parametrize("header", [{"HTTP_DNT": "1"}, {"HTTP_SEC_GPC": "1"}])
def test_do_not_track_is_honoured_when_the_site_says_so(
    site: CollectSite, root: Path, header: dict[str, str]
) -> None:
    assert post_event(client(), page_view(event_id="dnt"), **header).status_code == 204
    assert post_batch(client(), [page_view(event_id="dnt-b")], **header).status_code == 204
    assert landed(root) == []
    assert spool.stats()["dnt_dropped"] == 2
    CollectSite.objects.filter(pk=site.pk).update(honour_dnt=False)
    sites.clear()
    post_event(client(), page_view(event_id="kept"), **header)
    assert [row["event_id"] for row in landed(root)] == ["kept"]


def test_consent_required_drops_events_without_consent(db: None, root: Path) -> None:
    make_site(key="k-consent", require_consent=True)
    c = client()
    post_event(c, page_view(event_id="no"), key="k-consent")
    post_event(c, page_view(event_id="false", consent=False), key="k-consent")
    post_event(c, page_view(event_id="yes", consent=True), key="k-consent")
    response = post_batch(
        c, [page_view(event_id="b-no"), page_view(event_id="b-yes", consent=True)], key="k-consent"
    )
    assert response.json()["dropped"] == 1
    assert sorted(row["event_id"] for row in landed(root)) == ["b-yes", "yes"]


def test_cors_follows_the_sites_allowed_origins(db: None, root: Path) -> None:
    make_site(key="k-cors", allowed_origins="https://shop.example.cn\nhttps://m.shop.example.cn/")
    c = client()
    preflight = c.options("/collect/batch?k=k-cors", HTTP_ORIGIN="https://m.shop.example.cn")
    assert preflight.status_code == 204
    assert preflight["Access-Control-Allow-Origin"] == "https://m.shop.example.cn"
    assert "X-Site-Key" in preflight["Access-Control-Allow-Headers"]
    assert c.options("/collect/e?k=k-cors", HTTP_ORIGIN="https://evil.example").status_code == 403
    ok = post_event(c, page_view(event_id="ok"), key="k-cors", HTTP_ORIGIN="https://shop.example.cn")
    assert (ok.status_code, ok["Access-Control-Allow-Origin"]) == (204, "https://shop.example.cn")
    refused = post_event(c, page_view(event_id="evil"), key="k-cors", HTTP_ORIGIN="https://evil.example")
    assert (refused.status_code, refused.json()["code"]) == (403, "origin_not_allowed")
    assert [row["event_id"] for row in landed(root)] == ["ok"]


def test_hashed_ips_count_distinct_addresses_exactly(site: CollectSite, root: Path) -> None:
    # given 300 events from 120 addresses (IPv4 and IPv6, same /24 and /48 networks included)
    addresses = [f"198.51.100.{i}" for i in range(60)] + [f"2001:db8:1::{i:x}" for i in range(60)]
    events = [(addresses[i % len(addresses)], f"e{i}") for i in range(300)]
    for ip, event_id in events:
        post_event(client(ip=ip), page_view(event_id=event_id))
    # when
    rows = landed(root)
    # then
    assert len({row["ip_key"] for row in rows}) == len({ip for ip, _ in events}) == 120
    assert all(len(row["ip_key"]) == 32 and "." not in row["ip_key"] for row in rows)


def test_truncated_ips_keep_the_network_only(db: None, root: Path) -> None:
    make_site(key="k-trunc", ip_mode="truncate")
    post_event(client(ip="198.51.100.77"), page_view(event_id="v4"), key="k-trunc")
    post_event(client(ip="2001:db8:1:2:3::9"), page_view(event_id="v6"), key="k-trunc")
    post_event(client(ip="::ffff:198.51.100.9"), page_view(event_id="mapped"), key="k-trunc")
    rows = {row["event_id"]: row["ip_key"] for row in landed(root)}
    assert rows == {"v4": "198.51.100.0", "v6": "2001:db8:1::", "mapped": "198.51.100.0"}


def test_forwarded_for_is_honoured_only_behind_a_trusted_proxy(
    site: CollectSite, root: Path, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from shopops.analytics.collect import views

    forwarded = {"HTTP_X_FORWARDED_FOR": "192.0.2.10, 10.0.0.2"}
    post_event(client(ip="10.0.0.1"), page_view(event_id="untrusted"), **forwarded)
    settings.ANALYTICS_TRUSTED_PROXIES = ["10.0.0.1", "10.0.0.2"]
    monkeypatch.setattr(views, "_proxies", None)
    post_event(client(ip="10.0.0.1"), page_view(event_id="trusted"), **forwarded)
    monkeypatch.setattr(views, "_proxies", None)
    rows = {row["event_id"]: row["ip_key"] for row in landed(root)}
    assert rows["untrusted"] == privacy.ip_key("10.0.0.1", "hash")
    assert rows["trusted"] == privacy.ip_key("192.0.2.10", "hash")


def test_visitor_id_is_derived_from_ip_and_user_agent_when_absent(site: CollectSite, root: Path) -> None:
    event = {"type": "page_view", "url": "https://shop.example.cn/"}
    post_event(client(ip="192.0.2.1"), {**event, "event_id": "a"})
    post_event(client(ip="192.0.2.1"), {**event, "event_id": "b"})
    post_event(client(ip="192.0.2.2"), {**event, "event_id": "c"})
    rows = {row["event_id"]: row["visitor_id"] for row in landed(root)}
    assert rows["a"] == rows["b"] != rows["c"]
    assert rows["a"].startswith("h:")


def test_pixel_variant(site: CollectSite, root: Path) -> None:
    response = client().get(
        "/collect/p.gif", {"k": "k-test", "type": "page_view", "visitor_id": "px", "url": "https://s.cn/a"}
    )
    assert response.status_code == 200
    assert response["Content-Type"] == "image/gif"
    assert [(row["visitor_id"], row["path"]) for row in landed(root)] == [("px", "/a")]


def test_retried_event_id_lands_once(site: CollectSite, root: Path) -> None:
    for _ in range(3):
        post_event(client(), page_view(event_id="same"))
    post_batch(client(), [page_view(event_id="same"), page_view(event_id="other")])
    assert sorted(row["event_id"] for row in landed(root)) == ["other", "same"]
    post_event(client(), page_view(event_id="same"))
    assert sorted(row["event_id"] for row in landed(root)) == ["other", "same"]
