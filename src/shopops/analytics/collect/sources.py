"""Traffic source normalisation: UTM parameters first, else the referrer's host class, else "direct".

| situation                                   | source                     | medium                   |
|---------------------------------------------|----------------------------|--------------------------|
| utm_source given                            | utm_source (lower-cased)   | utm_medium, else class of the referrer, else "referral" |
| referrer is a known search engine           | baidu, google, bing, sogou, 360, shenma, yandex | organic |
| referrer is a known social / content app    | wechat, weibo, douyin, xiaohongshu, zhihu, bilibili, kuaishou, qq | social |
| other referrer host (not the page's own)     | the host without "www."    | referral                 |
| no referrer, inside WeChat/Weibo/Douyin/小红书 app (user agent) | wechat / weibo / douyin / xiaohongshu | social |
| no referrer, or the page's own host         | direct                     | direct                   |

Navigation inside the site (referrer host = page host) is "direct" for that page view; the warehouse
attributes a session to the source of its first event.
"""

from __future__ import annotations

import functools
from urllib.parse import parse_qs, urlsplit

SEARCH_ENGINES: tuple[tuple[str, str], ...] = (
    ("baidu.com", "baidu"),
    ("sogou.com", "sogou"),
    ("so.com", "360"),
    ("sm.cn", "shenma"),
    ("bing.com", "bing"),
    ("yandex.", "yandex"),
    ("google.", "google"),
    ("duckduckgo.com", "duckduckgo"),
    ("yahoo.", "yahoo"),
)
SOCIAL: tuple[tuple[str, str], ...] = (
    ("weixin.qq.com", "wechat"),
    ("wx.qq.com", "wechat"),
    ("wechat.com", "wechat"),
    ("weibo.com", "weibo"),
    ("weibo.cn", "weibo"),
    ("t.cn", "weibo"),
    ("douyin.com", "douyin"),
    ("iesdouyin.com", "douyin"),
    ("xiaohongshu.com", "xiaohongshu"),
    ("xhslink.com", "xiaohongshu"),
    ("zhihu.com", "zhihu"),
    ("bilibili.com", "bilibili"),
    ("b23.tv", "bilibili"),
    ("kuaishou.com", "kuaishou"),
    ("qzone.qq.com", "qq"),
    ("facebook.com", "facebook"),
    ("instagram.com", "instagram"),
    ("t.co", "twitter"),
    ("x.com", "twitter"),
)
IN_APP_BROWSERS: tuple[tuple[str, str], ...] = (
    ("micromessenger", "wechat"),
    ("weibo", "weibo"),
    ("aweme", "douyin"),
    ("xhsdiscover", "xiaohongshu"),
)


def _host_matches(host: str, domain: str) -> bool:
    if domain.endswith("."):  # google. → google.com, google.com.hk, www.google.co.jp
        return host.startswith(domain) or f".{domain}" in host
    return host == domain or host.endswith("." + domain)


@functools.lru_cache(maxsize=8192)
def classify_host(host: str) -> tuple[str, str]:
    """(source, medium) of a referrer host."""
    host = host.lower().rstrip(".")
    for domain, name in SEARCH_ENGINES:
        if _host_matches(host, domain):
            return name, "organic"
    for domain, name in SOCIAL:
        if _host_matches(host, domain):
            return name, "social"
    return host.removeprefix("www."), "referral"


@functools.lru_cache(maxsize=4096)
def _in_app(user_agent: str) -> str:
    lowered = user_agent.lower()
    for marker, name in IN_APP_BROWSERS:
        if marker in lowered:
            return name
    return ""


def host_of(url: str) -> str:
    try:
        return (urlsplit(url).hostname or "").lower()
    except ValueError:
        return ""


@functools.lru_cache(maxsize=16384)
def utm_of(url: str) -> tuple[str, str, str]:
    """(utm_source, utm_medium, utm_campaign) from a URL's query string."""
    if "utm_" not in url:
        return "", "", ""
    try:
        query = parse_qs(urlsplit(url).query)
    except ValueError:
        return "", "", ""

    def first(name: str) -> str:
        values = query.get(name)
        return values[0].strip()[:200] if values else ""

    return first("utm_source"), first("utm_medium"), first("utm_campaign")


@functools.lru_cache(maxsize=16384)
def path_of(url: str) -> str:
    if not url:
        return ""
    try:
        return urlsplit(url).path[:1024] or "/"
    except ValueError:
        return ""


@functools.lru_cache(maxsize=16384)
def normalise(
    url: str,
    referrer: str,
    utm_source: str = "",
    utm_medium: str = "",
    utm_campaign: str = "",
    user_agent: str = "",
) -> tuple[str, str, str]:
    """(source, medium, campaign) of one event; explicit utm_* win over the URL's own parameters."""
    if not (utm_source or utm_medium or utm_campaign):
        utm_source, utm_medium, utm_campaign = utm_of(url)
    referrer_host = host_of(referrer) if referrer else ""
    if referrer_host and referrer_host == host_of(url):
        referrer_host = ""  # navigation inside the site
    if utm_source:
        medium = utm_medium.lower()
        if not medium:
            medium = classify_host(referrer_host)[1] if referrer_host else "referral"
        return utm_source.lower(), medium, utm_campaign
    if referrer_host:
        source, medium = classify_host(referrer_host)
        return source, utm_medium.lower() or medium, utm_campaign
    app = _in_app(user_agent) if user_agent else ""
    if app:
        return app, utm_medium.lower() or "social", utm_campaign
    return "direct", utm_medium.lower() or "direct", utm_campaign
