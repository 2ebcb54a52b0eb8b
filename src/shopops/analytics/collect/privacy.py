"""IP handling (PIPL: no raw IP is stored), do-not-track and consent.

- `hash` mode: `ip_key` = the first 32 hex digits of HMAC-SHA256(key, normalised IP). The key is
  `settings.ANALYTICS_IP_HASH_KEY` when set, else derived from SECRET_KEY (HMAC of a fixed label), so the
  hash is stable over time: distinct-IP counts over any range stay exact, and the raw IP cannot be
  recovered without the key (a 2^32 IPv4 space is brute-forceable only WITH the key).
- `truncate` mode: IPv4 keeps /24 (`203.0.113.0`), IPv6 /48 (`2001:db8:1::`). Distinct counts then count
  networks, not addresses.
- Server-made visitor ids (no client id, access logs) are `h:` + HMAC(ip | user agent) — an
  approximation: people behind one NAT with the same browser build count once.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import ipaddress
from collections.abc import Iterable, Mapping

from django.conf import settings


def _secret() -> bytes:
    explicit = str(getattr(settings, "ANALYTICS_IP_HASH_KEY", "") or "")
    if explicit:
        return explicit.encode()
    return hmac.new(settings.SECRET_KEY.encode(), b"shopops.analytics.ip", hashlib.sha256).digest()


@functools.lru_cache(maxsize=4)
def _keyed(key: bytes) -> hmac.HMAC:
    return hmac.new(key, digestmod=hashlib.sha256)


def keyed_hash(text: str) -> str:
    state = _keyed(_secret()).copy()
    state.update(text.encode())
    return state.hexdigest()[:32]


def normalise_ip(text: str) -> str:
    """The canonical form of an address ('' when it is not one); IPv4-mapped IPv6 becomes IPv4."""
    try:
        address = ipaddress.ip_address(text.strip())
    except ValueError:
        return ""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return str(address.ipv4_mapped)
    return str(address)


def truncate_ip(ip: str) -> str:
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return ""
    prefix = 24 if address.version == 4 else 48
    network = ipaddress.ip_network(f"{address}/{prefix}", strict=False)
    return str(network.network_address)


@functools.lru_cache(maxsize=65536)
def ip_key(ip: str, mode: str) -> str:
    """What is stored for `ip` under the site's ip_mode ("hash" or "truncate"); '' for no address."""
    canonical = normalise_ip(ip)
    if not canonical:
        return ""
    if mode == "truncate":
        return truncate_ip(canonical)
    return keyed_hash("ip:" + canonical)


@functools.lru_cache(maxsize=65536)
def derived_visitor_id(ip: str, user_agent: str) -> str:
    return "h:" + keyed_hash(f"v:{normalise_ip(ip)}|{user_agent}")


def trusted_proxies() -> frozenset[str]:
    value: Iterable[str] | str = getattr(settings, "ANALYTICS_TRUSTED_PROXIES", ()) or ()
    if isinstance(value, str):
        value = value.replace(",", " ").split()
    return frozenset(normalise_ip(item) or item for item in value)


def client_address(meta: Mapping[str, str], proxies: frozenset[str]) -> str:
    """REMOTE_ADDR, or — when REMOTE_ADDR is a trusted proxy — the right-most X-Forwarded-For entry that
    is not itself a trusted proxy."""
    remote = meta.get("REMOTE_ADDR", "")
    if not proxies or remote not in proxies:
        return remote
    forwarded = meta.get("HTTP_X_FORWARDED_FOR", "")
    for hop in reversed([part.strip() for part in forwarded.split(",") if part.strip()]):
        canonical = normalise_ip(hop)
        if canonical and canonical not in proxies:
            return canonical
    return remote


def do_not_track(meta: Mapping[str, str]) -> bool:
    return meta.get("HTTP_DNT") == "1" or meta.get("HTTP_SEC_GPC") == "1"
