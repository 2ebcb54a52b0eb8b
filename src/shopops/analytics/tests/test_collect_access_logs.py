from __future__ import annotations

import datetime as dt
import gzip
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from shopops.analytics.collect import privacy, spool
from shopops.analytics.collect.access_logs import import_access_log, parse_time
from shopops.analytics.collect.sites import sites
from shopops.analytics.collect.testing import landed_rows, make_site
from shopops.analytics.models import CollectSite
from shopops.core.models import AuditEntry
from shopops.core.tabular import Mode

CHROME = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36"
IPHONE = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148 MicroMessenger/8.0"
LOG = [
    # kept: a page view from Baidu, a product view, internal navigation, a 304, the same line twice
    f'198.51.100.7 - - [24/Nov/2026:10:00:01 +0800] "GET /?from=ad HTTP/1.1" 200 5120 "https://www.baidu.com/s?wd=t" "{CHROME}"',
    f'198.51.100.7 - - [24/Nov/2026:10:00:09 +0800] "GET /products/A100 HTTP/1.1" 200 812 "https://shop.example.cn/" "{CHROME}"',
    f'203.0.113.9 - - [24/Nov/2026:23:59:59 +0800] "GET /item/B-200?from=share HTTP/2.0" 304 0 "-" "{IPHONE}"',
    f'203.0.113.9 - - [25/Nov/2026:00:00:01 +0800] "GET /about HTTP/2.0" 200 10 "https://weibo.com/u/1" "{IPHONE}"',
    f'203.0.113.9 - - [25/Nov/2026:00:00:01 +0800] "GET /about HTTP/2.0" 200 10 "https://weibo.com/u/1" "{IPHONE}"',
    # skipped: static, bot, 404, POST, the collect endpoint, a scanner's garbage request
    f'198.51.100.7 - - [24/Nov/2026:10:00:01 +0800] "GET /static/app.css HTTP/1.1" 200 100 "-" "{CHROME}"',
    f'198.51.100.7 - - [24/Nov/2026:10:00:01 +0800] "GET /img/logo.png HTTP/1.1" 200 100 "-" "{CHROME}"',
    '66.249.66.1 - - [24/Nov/2026:10:00:02 +0800] "GET / HTTP/1.1" 200 10 "-" "Mozilla/5.0 (compatible; Googlebot/2.1)"',
    f'198.51.100.7 - - [24/Nov/2026:10:00:03 +0800] "GET /missing HTTP/1.1" 404 10 "-" "{CHROME}"',
    f'198.51.100.7 - - [24/Nov/2026:10:00:04 +0800] "POST /cart HTTP/1.1" 200 10 "-" "{CHROME}"',
    f'198.51.100.7 - - [24/Nov/2026:10:00:05 +0800] "POST /collect/batch?k=x HTTP/1.1" 202 10 "-" "{CHROME}"',
    '198.51.100.8 - - [24/Nov/2026:10:00:06 +0800] "\\x16\\x03\\x01" 400 150 "-" "-"',
]
BAD = [
    "this is not a log line",
    f'198.51.100.7 - - [31/Foo/2026:10:00:01 +0800] "GET / HTTP/1.1" 200 1 "-" "{CHROME}"',
]


@pytest.fixture
def root(settings: Any, tmp_path: Path) -> Iterator[Path]:
    settings.ANALYTICS_DIR = tmp_path / "analytics"
    sites.clear()
    yield settings.ANALYTICS_DIR
    spool.flush()


@pytest.fixture
def site(db: None, root: Path) -> CollectSite:
    return make_site(key="k-logs", allowed_origins="https://shop.example.cn")


def as_file(lines: list[str], *, gzipped: bool = False) -> io.BytesIO:
    data = ("\n".join(lines) + "\n").encode()
    return io.BytesIO(gzip.compress(data) if gzipped else data)


def expected_from_log() -> list[tuple[str, str, str, str, str, str, dt.datetime]]:
    visitor_a = privacy.derived_visitor_id("198.51.100.7", CHROME)
    visitor_b = privacy.derived_visitor_id("203.0.113.9", IPHONE)
    cst = dt.timezone(dt.timedelta(hours=8))
    return sorted(
        [
            (
                "page_view",
                "/",
                "",
                "baidu",
                "organic",
                visitor_a,
                dt.datetime(2026, 11, 24, 10, 0, 1, tzinfo=cst),
            ),
            (
                "product_view",
                "/products/A100",
                "A100",
                "direct",
                "direct",
                visitor_a,
                dt.datetime(2026, 11, 24, 10, 0, 9, tzinfo=cst),
            ),
            (
                "product_view",
                "/item/B-200",
                "B-200",
                "wechat",
                "social",
                visitor_b,
                dt.datetime(2026, 11, 24, 23, 59, 59, tzinfo=cst),
            ),
            (
                "page_view",
                "/about",
                "",
                "weibo",
                "social",
                visitor_b,
                dt.datetime(2026, 11, 25, 0, 0, 1, tzinfo=cst),
            ),
            (
                "page_view",
                "/about",
                "",
                "weibo",
                "social",
                visitor_b,
                dt.datetime(2026, 11, 25, 0, 0, 1, tzinfo=cst),
            ),
        ]
    )


def as_tuples(rows: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    return sorted(
        (r["type"], r["path"], r["product"], r["source"], r["medium"], r["visitor_id"], r["ts"]) for r in rows
    )


@pytest.mark.parametrize("gzipped", [False, True])
def test_access_log_lines_become_events(
    site: CollectSite, root: Path, admin_user: Any, gzipped: bool
) -> None:
    # when
    result = import_access_log(
        as_file(LOG, gzipped=gzipped), site=site, actor=admin_user, filename="access.log"
    )
    rows = landed_rows(root)
    # then
    assert (result.total_rows, result.created, result.unchanged, result.skipped, result.errors) == (
        12,
        5,
        0,
        0,
        [],
    )
    # left out on purpose, by reason, apart from errors
    assert result.filtered == {
        "静态资源": 2,
        "爬虫/机器人": 1,
        "错误状态码": 1,
        "非 GET 请求": 2,  # POST /cart and our own collect endpoint
        "无请求行": 1,
    }
    assert result.committed
    assert as_tuples(rows) == expected_from_log()
    assert {r["day"] for r in rows} == {dt.date(2026, 11, 24), dt.date(2026, 11, 25)}
    assert {r["ip_key"] for r in rows} == {
        privacy.ip_key("198.51.100.7", "hash"),
        privacy.ip_key("203.0.113.9", "hash"),
    }
    assert {r["device"] for r in rows} == {"desktop", "mobile"}
    assert {r["url"] for r in rows if r["path"] == "/about"} == {"https://shop.example.cn/about"}
    assert all(r["shop_id"] == site.shop_id and r["channel"] == "own" for r in rows)
    assert AuditEntry.objects.filter(action="analytics.access_log_imported").count() == 1


def test_reimporting_the_same_log_adds_nothing(site: CollectSite, root: Path) -> None:
    # given
    first = import_access_log(as_file(LOG), site=site)
    # when the same file, then the same file with one more line, come again (the site by its key)
    again = import_access_log(as_file(LOG, gzipped=True), site="k-logs")
    extra = f'198.51.100.99 - - [25/Nov/2026:09:00:00 +0800] "GET /new HTTP/1.1" 200 1 "-" "{CHROME}"'
    grown = import_access_log(as_file([*LOG, extra]), site=site)
    rows = landed_rows(root)
    # then
    assert (first.created, again.created, again.unchanged) == (5, 0, 5)
    assert (grown.created, grown.unchanged) == (1, 5)
    assert len(rows) == 6 == len({r["event_id"] for r in rows})


def test_bad_lines_refuse_the_file_or_are_skipped(site: CollectSite, root: Path) -> None:
    # all or nothing (the default)
    refused = import_access_log(as_file([LOG[0], *BAD]), site=site)
    assert [(e.row, e.message) for e in refused.errors] == [
        (2, "不是 combined 格式的访问日志行"),
        (3, "时间格式无法识别：31/Foo/2026:10:00:01 +0800"),
    ]
    assert not refused.committed
    assert landed_rows(root) == []
    # skip bad rows
    skipped = import_access_log(as_file([LOG[0], *BAD]), site=site, mode=Mode.SKIP_BAD_ROWS)
    assert (skipped.created, skipped.skipped, len(skipped.errors)) == (1, 2, 2)
    assert len(landed_rows(root)) == 1


def test_dry_run_writes_nothing(site: CollectSite, root: Path) -> None:
    result = import_access_log(as_file(LOG), site=site, dry_run=True)
    assert (result.created, result.committed) == (5, False)
    assert landed_rows(root) == []
    assert list((root / "spool").glob("*")) == []


def test_custom_product_pattern_and_truncated_ips(db: None, root: Path) -> None:
    site = make_site(key="k-trunc-logs", ip_mode="truncate")
    line = f'198.51.100.7 - - [24/Nov/2026:10:00:01 +0800] "GET /shop/detail-778.html HTTP/1.1" 200 1 "-" "{CHROME}"'
    import_access_log(as_file([line]), site=site, product_pattern=r"^/shop/detail-(?P<code>\d+)\.html$")
    rows = landed_rows(root)
    assert [(r["type"], r["product"], r["ip_key"], r["url"]) for r in rows] == [
        ("product_view", "778", "198.51.100.0", "/shop/detail-778.html")
    ]


def test_log_times_keep_their_offset() -> None:
    assert parse_time("24/Nov/2026:10:00:01 -0700") == int(
        dt.datetime(2026, 11, 24, 17, 0, 1, tzinfo=dt.UTC).timestamp() * 1_000_000
    )
