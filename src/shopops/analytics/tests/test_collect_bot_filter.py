"""Bots, feed readers, HTTP libraries and redirects in a realistic access log are not people (issue 11 §5), the
import summary tells them apart from errors, and the imported days reach the rollups without a rebuild."""

from __future__ import annotations

import datetime as dt
import io
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from shopops.analytics import pipeline
from shopops.analytics.collect import bots, spool
from shopops.analytics.collect.access_logs import import_access_log
from shopops.analytics.collect.sites import sites
from shopops.analytics.collect.testing import make_site
from shopops.analytics.models import CollectSite
from shopops.analytics.warehouse import rollups

CHROME_WIN = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
SAFARI_MAC = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Safari/605.1.15"
FIREFOX_LINUX = "Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"
WECHAT_IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 "
    "MicroMessenger/8.0.44(0x18002c2e) NetType/WIFI Language/zh_CN"
)
ANDROID_CHROME = "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36"
EDGE_WIN = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 "
    "Edg/131.0.0.0"
)
PEOPLE = [CHROME_WIN, SAFARI_MAC, FIREFOX_LINUX, WECHAT_IPHONE, ANDROID_CHROME, EDGE_WIN]
# real user agents of feed readers, HTTP libraries and crawlers as they appear in public access logs
FEED_READERS = [
    "Feedly/1.0 (+http://www.feedly.com/fetcher.html; 5 subscribers; like FeedFetcher-Google)",
    "Tiny Tiny RSS/22.08-5f9ab5e (http://tt-rss.org/)",
    "FreshRSS/1.21.0 (Linux; https://freshrss.org)",
    "Miniflux/2.0.50 (https://miniflux.app)",
    "NetNewsWire (RSS Reader; https://netnewswire.com/)",
    "NewsBlur Feed Fetcher - 12 subscribers - http://www.newsblur.com/site/6179741/blog (Mozilla/5.0 (Macintosh; "
    "Intel Mac OS X 10_13_6) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/56.0.2924.87 Safari/537.36)",
    "Inoreader/1.0 (+http://www.inoreader.com/feed-fetcher; 3 subscribers; )",
]
LIBRARIES = [
    "curl/8.5.0",
    "python-requests/2.31.0",
    "Go-http-client/1.1",
    "Wget/1.21.4",
    "python-httpx/0.27.0",
    "okhttp/4.12.0",
]
CRAWLERS = [
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "Mozilla/5.0 (compatible; Baiduspider/2.0; +http://www.baidu.com/search/spider.html)",
    "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
    "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; Googlebot/2.1; +http://www.google.com/bot.html) "
    "Chrome/131.0.6778.69 Safari/537.36",
    "Mozilla/5.0 (compatible; YandexBot/3.0; +http://yandex.com/bots)",
    "Mozilla/5.0 (Linux; Android 5.0) AppleWebKit/537.36 (KHTML, like Gecko) Mobile Safari/537.36 (compatible; "
    "Bytespider; spider-feedback@bytedance.com)",
    "Sogou web spider/4.0(+http://www.sogou.com/docs/help/webmasters.htm#07)",
]


def _line(ip: str, minute: int, path: str, status: int, ua: str, referrer: str = "-") -> str:
    return f'{ip} - - [24/Nov/2026:10:{minute:02d}:00 +0800] "GET {path} HTTP/1.1" {status} 512 "{referrer}" "{ua}"'


def realistic_log() -> list[tuple[str, str]]:
    """(hand label, line): "person" lines are page views; everything else is left out for the labelled reason."""
    labelled: list[tuple[str, str]] = []
    minute = 0
    for index, ua in enumerate(PEOPLE):
        ip = f"198.51.100.{10 + index}"
        for path in ("/", f"/products/A{index}00", "/about"):
            labelled.append(("person", _line(ip, minute, path, 200, ua, "https://www.baidu.com/s?wd=shop")))
            minute += 1
        labelled.append(("person", _line(ip, minute, "/cart", 304, ua)))  # revalidated page
        labelled.append(("redirect", _line(ip, minute, "/old-sale", 301, ua)))
        labelled.append(("redirect", _line(ip, minute, "/login", 302, ua)))
        labelled.append(("redirect", _line(ip, minute, "/checkout", 307, ua)))
        labelled.append(("redirect", _line(ip, minute, "/p/A100", 308, ua)))
        labelled.append(("asset", _line(ip, minute, "/static/app.js", 200, ua)))
    for index, ua in enumerate(FEED_READERS + LIBRARIES + CRAWLERS):
        ip = f"203.0.113.{10 + index}"
        for path in ("/feed.rss", "/", "/products/A100"):
            labelled.append(("bot", _line(ip, index % 50, path, 200, ua)))
    labelled.append(("error", _line("198.51.100.99", 3, "/wp-login.php", 404, CHROME_WIN)))
    return labelled


LABELS = {"bot": "爬虫/机器人", "redirect": "重定向", "asset": "静态资源", "error": "错误状态码"}


@pytest.fixture
def root(settings: Any, tmp_path: Path) -> Iterator[Path]:
    settings.ANALYTICS_DIR = tmp_path / "analytics"
    sites.clear()
    yield settings.ANALYTICS_DIR
    spool.flush()


@pytest.fixture
def site(db: None, root: Path) -> CollectSite:
    return make_site(key="k-bots", allowed_origins="https://shop.example.cn")


@pytest.mark.parametrize("ua", FEED_READERS + LIBRARIES + CRAWLERS)
def test_feed_readers_http_libraries_and_crawlers_are_bots(ua: str) -> None:
    assert bots.is_bot(ua)


@pytest.mark.parametrize("ua", PEOPLE)
def test_browsers_are_people(ua: str) -> None:
    assert not bots.is_bot(ua)


def test_a_realistic_log_counts_people_only_and_says_what_it_left_out(site: CollectSite, root: Path) -> None:
    # given rollups built before the import (the running system), and a log labelled by hand
    labelled = realistic_log()
    rollups.rebuild()
    data = ("\n".join(line for _label, line in labelled) + "\n").encode()
    # when
    result = import_access_log(io.BytesIO(data), site=site)
    # then every person's page is a page view, nothing else is
    expected = Counter(label for label, _line in labelled)
    assert result.created == expected["person"] == 24
    assert result.filtered == {LABELS[label]: count for label, count in expected.items() if label != "person"}
    assert (result.skipped, result.errors) == (0, [])
    assert result.total_rows == len(labelled)
    # and the imported day is in the rollups without `analytics rebuild`
    day = dt.date(2026, 11, 24)
    [row] = rollups.measures(day, day, shop_ids=[site.shop_id])
    assert row["pv"] == expected["person"]
    people = {line.split(" ", 1)[0] for label, line in labelled if label == "person"}
    assert row["visitors"] == len(people) == len(PEOPLE)


def test_the_import_refreshes_only_the_days_it_changed(site: CollectSite, root: Path) -> None:
    # given a built warehouse
    rollups.rebuild()
    before = pipeline.run_once(wait=True)
    assert before["event_days"] == []
    # when a log of one day is imported
    lines = [
        _line("198.51.100.7", 1, "/", 200, CHROME_WIN),
        _line("198.51.100.7", 2, "/about", 200, CHROME_WIN),
    ]
    import_access_log(io.BytesIO(("\n".join(lines) + "\n").encode()), site=site)
    # then the day is in the rollups, and the pipeline has nothing left to do for it
    day = dt.date(2026, 11, 24)
    assert rollups.measures(day, day)[0]["pv"] == 2
    assert pipeline.run_once(wait=True)["event_days"] == []
    traffic = rollups.status()["traffic"]
    assert traffic["first"] == traffic["last"] == day
