"""An in-process cache of the collection sites, so a request does not query the database.

The whole (small) table is loaded at most every REFRESH_SECONDS; an unknown key triggers an early reload
at most once per MISS_RELOAD_SECONDS, so a site created a moment ago works within a second and a flood
of bad keys costs one query per second.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from shopops.analytics.models import CollectSite

REFRESH_SECONDS = 5.0
MISS_RELOAD_SECONDS = 1.0


@dataclass(frozen=True)
class SiteInfo:
    id: int
    key: str
    shop_id: int
    channel: str
    origins: frozenset[str]
    ip_mode: str
    honour_dnt: bool
    require_consent: bool
    is_active: bool

    def allows_origin(self, origin: str) -> bool:
        return not self.origins or origin.rstrip("/").lower() in self.origins

    @classmethod
    def of(cls, site: CollectSite) -> SiteInfo:
        origins = frozenset(
            line.strip().rstrip("/").lower() for line in site.allowed_origins.splitlines() if line.strip()
        )
        return cls(
            id=site.pk,
            key=site.key,
            shop_id=site.shop_id,
            channel=site.shop.platform,
            origins=origins,
            ip_mode=site.ip_mode,
            honour_dnt=site.honour_dnt,
            require_consent=site.require_consent,
            is_active=site.is_active and site.shop.is_active,
        )


class SiteCache:
    def __init__(self) -> None:
        self._sites: dict[str, SiteInfo] = {}
        self._loaded = 0.0
        self._last_miss_reload = 0.0
        self._lock = threading.Lock()

    def _load(self, now: float) -> None:
        sites = {site.key: SiteInfo.of(site) for site in CollectSite.objects.select_related("shop")}
        self._sites = sites
        self._loaded = now

    def get(self, key: str) -> SiteInfo | None:
        now = time.monotonic()
        if now - self._loaded > REFRESH_SECONDS:
            with self._lock:
                if now - self._loaded > REFRESH_SECONDS:
                    self._load(now)
        site = self._sites.get(key)
        if site is None and key and now - self._last_miss_reload > MISS_RELOAD_SECONDS:
            with self._lock:
                if now - self._last_miss_reload > MISS_RELOAD_SECONDS:
                    self._last_miss_reload = now
                    self._load(now)
            site = self._sites.get(key)
        return site

    def clear(self) -> None:
        self._sites = {}
        self._loaded = 0.0
        self._last_miss_reload = 0.0


sites = SiteCache()
