from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from shopops.analytics.collect import compactor, snippet, spool
from shopops.analytics.collect.sites import sites
from shopops.analytics.collect.testing import landed_rows, make_site

UA = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36"


def test_render_gives_the_stub_and_the_async_tag(db: None) -> None:
    site = make_site(key="k-snip", require_consent=True)
    html = snippet.render(site, "https://ops.example.cn/")
    assert "window.shopops=window.shopops||function()" in html
    assert 'src="https://ops.example.cn/static/analytics/collect.js"' in html
    assert 'data-site="k-snip"' in html
    assert 'data-endpoint="https://ops.example.cn/collect/batch"' in html
    assert 'data-require-consent="true"' in html


def test_snippet_file_is_small_and_self_contained() -> None:
    path = Path(snippet.__file__).resolve().parents[1] / "static" / "analytics" / "collect.js"
    text = path.read_text()
    assert len(text.encode()) < 8 * 1024
    assert "import " not in text
    assert "require(" not in text


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS, browser_required

    if not (Path(CHROMIUM).exists() or shutil.which(CHROMIUM)):
        if browser_required():
            pytest.fail(f"Chromium not found at {CHROMIUM}")
        pytest.skip(f"Chromium not found at {CHROMIUM}")
    os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield browser
        finally:
            browser.close()


def shop_page(live_server: Any, key: str, body: str) -> str:
    tag = snippet.render(make_site_key_only(key), live_server.url)
    return f"<!doctype html><html><head><title>商品</title>{tag}</head><body>{body}</body></html>"


def make_site_key_only(key: str) -> Any:
    from shopops.analytics.models import CollectSite

    return CollectSite.objects.get(key=key)


def wait_for_rows(root: Path, count: int, timeout: float = 15.0) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    rows: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        spool.flush()
        compactor.compact()
        rows = landed_rows(root)
        if len(rows) >= count:
            return rows
        time.sleep(0.2)
    return rows


@pytest.mark.browser
@pytest.mark.xdist_group("browser")
@pytest.mark.django_db(transaction=True)
def test_snippet_in_a_real_browser_sends_page_view_and_add_to_cart(
    chromium: Any, live_server: Any, settings: Any, tmp_path: Path
) -> None:
    # given a shop page on another origin carrying the snippet, and a product page script
    settings.ANALYTICS_DIR = tmp_path / "analytics"
    sites.clear()
    make_site(key="k-browser")
    html = shop_page(
        live_server,
        "k-browser",
        "<button id=buy onclick=\"shopops('track','add_to_cart',{product:'A100',sku:'A100-RED',amount:99.5})\">"
        "加入购物车</button>",
    )
    context = chromium.new_context(user_agent=UA, locale="zh-CN")
    page = context.new_page()
    # the shop's pages are routed on the live server's origin (Chrome blocks a public page's requests
    # to a loopback server — Private Network Access — which a real deployment does not meet)
    shop = f"{live_server.url}/test-shop"
    page.route(f"{shop}/**", lambda route: route.fulfill(status=200, content_type="text/html", body=html))
    # when a visitor arrives from Baidu with UTM parameters and adds to cart, then leaves
    page.goto(
        f"{shop}/p/A100?utm_source=baidu&utm_medium=cpc&utm_campaign=brand", referer="https://www.baidu.com/"
    )
    page.wait_for_function("window.shopops && typeof window.shopops.flush === 'function'")
    page.click("#buy")
    page.evaluate("window.shopops.flush()")
    visitor = page.evaluate("localStorage.getItem('_so_vid')")
    page.goto(f"{shop}/p/A100?again=1")  # a second page: same visitor, same session
    page.evaluate("window.shopops.flush()")
    # wait with the page still open: closing it at once could cancel the last beacon still in flight
    rows = wait_for_rows(settings.ANALYTICS_DIR, 3)
    context.close()
    # then
    by_type = sorted((r["type"], r["path"]) for r in rows)
    path = "/test-shop/p/A100"
    assert by_type == [("add_to_cart", path), ("page_view", path), ("page_view", path)]
    assert {r["visitor_id"] for r in rows} == {visitor}
    assert len({r["session_id"] for r in rows}) == 1
    cart = next(r for r in rows if r["type"] == "add_to_cart")
    assert (cart["product"], cart["sku"], str(cart["amount"])) == ("A100", "A100-RED", "99.50")
    first = min((r for r in rows if r["type"] == "page_view"), key=lambda r: r["ts"])
    assert (first["source"], first["medium"], first["campaign"]) == ("baidu", "cpc", "brand")
    assert {r["device"] for r in rows} == {"desktop"}


@pytest.mark.browser
@pytest.mark.xdist_group("browser")
@pytest.mark.django_db(transaction=True)
def test_snippet_sends_nothing_under_do_not_track(
    chromium: Any, live_server: Any, settings: Any, tmp_path: Path
) -> None:
    settings.ANALYTICS_DIR = tmp_path / "analytics"
    sites.clear()
    make_site(key="k-dnt")
    html = shop_page(live_server, "k-dnt", "")
    context = chromium.new_context(user_agent=UA)
    context.add_init_script("Object.defineProperty(navigator, 'doNotTrack', {get: () => '1'})")
    page = context.new_page()
    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    page.route(
        f"{live_server.url}/test-shop/**",
        lambda route: route.fulfill(status=200, content_type="text/html", body=html),
    )
    page.goto(f"{live_server.url}/test-shop/")
    page.wait_for_function("window.shopops && typeof window.shopops.flush === 'function'")
    page.evaluate("shopops('track', 'add_to_cart', {product: 'A1'}); window.shopops.flush()")
    context.close()
    assert [url for url in requests if "/collect/" in url] == []
    assert wait_for_rows(settings.ANALYTICS_DIR, 1, timeout=1.0) == []
