from __future__ import annotations

import pytest

from shopops.analytics.collect import bots, privacy, sources

PAGE = "https://shop.example.cn/p/A100"
WECHAT_UA = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) Mobile/15E148 MicroMessenger/8.0.50"


@pytest.mark.parametrize(
    ("url", "referrer", "utm", "ua", "expected"),
    [
        (PAGE, "", ("", "", ""), "", ("direct", "direct", "")),
        (PAGE, "https://www.baidu.com/s?wd=x", ("", "", ""), "", ("baidu", "organic", "")),
        (PAGE, "https://m.baidu.com/", ("", "", ""), "", ("baidu", "organic", "")),
        (PAGE, "https://www.google.com.hk/", ("", "", ""), "", ("google", "organic", "")),
        (PAGE, "https://cn.bing.com/search?q=x", ("", "", ""), "", ("bing", "organic", "")),
        (PAGE, "https://www.so.com/s?q=x", ("", "", ""), "", ("360", "organic", "")),
        (PAGE, "https://mp.weixin.qq.com/s/abc", ("", "", ""), "", ("wechat", "social", "")),
        (PAGE, "https://weibo.com/u/1", ("", "", ""), "", ("weibo", "social", "")),
        (PAGE, "https://www.douyin.com/video/1", ("", "", ""), "", ("douyin", "social", "")),
        (PAGE, "https://www.xiaohongshu.com/explore/1", ("", "", ""), "", ("xiaohongshu", "social", "")),
        (PAGE, "https://www.zhihu.com/question/1", ("", "", ""), "", ("zhihu", "social", "")),
        (PAGE, "https://www.partner-blog.cn/post/1", ("", "", ""), "", ("partner-blog.cn", "referral", "")),
        (PAGE, "https://shop.example.cn/", ("", "", ""), "", ("direct", "direct", "")),
        (PAGE, "", ("", "", ""), WECHAT_UA, ("wechat", "social", "")),
        (
            PAGE + "?utm_source=Newsletter&utm_medium=Email&utm_campaign=d11",
            "",
            ("", "", ""),
            "",
            ("newsletter", "email", "d11"),
        ),
        (
            PAGE + "?utm_source=zhitongche",
            "https://s.taobao.com/",
            ("", "", ""),
            "",
            ("zhitongche", "referral", ""),
        ),
        (PAGE + "?utm_source=baidu", "https://www.baidu.com/", ("", "", ""), "", ("baidu", "organic", "")),
        (PAGE + "?utm_source=url", "", ("explicit", "cpc", "c1"), "", ("explicit", "cpc", "c1")),
        (PAGE, "not a url", ("", "", ""), "", ("direct", "direct", "")),
    ],
)
def test_source_normalisation_table(
    url: str, referrer: str, utm: tuple[str, str, str], ua: str, expected: tuple[str, str, str]
) -> None:
    assert sources.normalise(url, referrer, *utm, ua) == expected


@pytest.mark.parametrize(
    ("ua", "device"),
    [
        ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/131.0", "desktop"),
        ("Mozilla/5.0 (Macintosh; Intel Mac OS X 14_0) Safari/605.1.15", "desktop"),
        ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) Mobile/15E148", "mobile"),
        ("Mozilla/5.0 (Linux; Android 14; Pixel 8) Chrome/131.0 Mobile Safari/537.36", "mobile"),
        ("Mozilla/5.0 (iPad; CPU OS 17_0 like Mac OS X) Safari/604.1", "tablet"),
        ("Mozilla/5.0 (Linux; Android 13; SM-X700) Chrome/131.0 Safari/537.36", "tablet"),
        ("SomeTV/1.0", "other"),
    ],
)
def test_device_classes(ua: str, device: str) -> None:
    assert bots.device_of(ua) == device


def test_people_are_not_bots() -> None:
    assert not bots.is_bot(
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/131.0 Safari/537.36"
    )
    assert not bots.is_bot(WECHAT_UA)
    assert bots.is_bot("   ")


def test_ip_keys_are_stable_keyed_and_canonical() -> None:
    key = privacy.ip_key("2001:DB8::1", "hash")
    assert key == privacy.ip_key("2001:db8:0::1", "hash")
    assert privacy.ip_key("::ffff:192.0.2.1", "hash") == privacy.ip_key("192.0.2.1", "hash")
    assert privacy.ip_key("192.0.2.1", "hash") != privacy.ip_key("192.0.2.2", "hash")
    assert privacy.ip_key("garbage", "hash") == ""
    assert privacy.ip_key("192.0.2.200", "truncate") == "192.0.2.0"


def test_forwarded_for_picks_the_first_untrusted_hop_from_the_right() -> None:
    proxies = frozenset({"10.0.0.1", "10.0.0.2"})
    meta = {"REMOTE_ADDR": "10.0.0.1", "HTTP_X_FORWARDED_FOR": "1.1.1.1, 192.0.2.9, 10.0.0.2"}
    assert privacy.client_address(meta, proxies) == "192.0.2.9"
    assert privacy.client_address({**meta, "REMOTE_ADDR": "192.0.2.50"}, proxies) == "192.0.2.50"
    assert privacy.client_address(meta, frozenset()) == "10.0.0.1"
