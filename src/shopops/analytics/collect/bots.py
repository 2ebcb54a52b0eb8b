"""User-agent classification: bots (dropped before the spool, counted) and device class."""

from __future__ import annotations

import functools
import re

# Lower-case substrings of user agents that are not people. An empty user agent is a bot too.
BOT_MARKERS: tuple[str, ...] = (
    "bot",
    "spider",
    "crawl",
    "slurp",
    "scrapy",
    "curl/",
    "wget/",
    "python-requests",
    "python-urllib",
    "aiohttp",
    "httpx",
    "go-http-client",
    "java/",
    "okhttp",
    "libwww",
    "headlesschrome",
    "phantomjs",
    "lighthouse",
    "pingdom",
    "uptime",
    "monitor",
    "facebookexternalhit",
    "preview",
    "yisou",
    "sogou web",
    "360spider",
    "haosou",
    "bytespider",
    "petalbot",
    "mediapartners",
    "feedfetcher",
    "archive.org",
)
_BOT = re.compile("|".join(re.escape(marker) for marker in BOT_MARKERS))
_TABLET = re.compile(r"ipad|tablet|kindle|silk/|playbook|(android(?!.*mobile))")
_MOBILE = re.compile(r"mobi|iphone|ipod|android|windows phone|harmonyos|micromessenger|opera mini")
_DESKTOP = re.compile(r"windows nt|macintosh|mac os x|x11|linux|cros")


@functools.lru_cache(maxsize=8192)
def is_bot(user_agent: str) -> bool:
    text = user_agent.strip().lower()
    return not text or _BOT.search(text) is not None


@functools.lru_cache(maxsize=8192)
def device_of(user_agent: str) -> str:
    """mobile | desktop | tablet | other."""
    text = user_agent.lower()
    if _TABLET.search(text):
        return "tablet"
    if _MOBILE.search(text):
        return "mobile"
    if _DESKTOP.search(text):
        return "desktop"
    return "other"
