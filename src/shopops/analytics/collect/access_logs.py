"""Web server access logs (nginx/Apache "combined" format, plain or gzip) imported as traffic events.

For a shop that only has logs: each page request becomes a page_view, or a product_view when its path
matches the product URL pattern (a regex with a `code` group; default `/product(s)/<code>`, `/item/<code>`,
`/goods/<code>`, `/p/<code>`; setting ANALYTICS_PRODUCT_URL_PATTERN or the `product_pattern` argument).

Filtered on purpose (counted per reason in `result.filtered`, not errors and not in `skipped`): non-GET
requests, static assets (by extension or /static/, /media/ prefixes) and our own /collect/ endpoint, bots
(user agent, see bots.py), redirects (301/302/303/307/308: the page the browser lands on is the view),
other statuses (4xx/5xx, 1xx) and request lines that are no request ("-", scanners' garbage). A page view
is a 2xx or a 304 (a revalidated page the browser shows).

Approximations (say so in reports): the visitor id is `h:` + HMAC(ip | user agent) — people behind one
NAT with the same browser count once, one person with two browsers twice; there is no session id (the
warehouse's 30-minute rule applies). Times are the log's own (with its offset), not subject to the
client-time window of the endpoints.

Idempotency: an event's id is a hash of the site key, the line's text and the how-many-th identical line
this is in the file, so re-importing the same file (or a file that starts with the same lines) adds nothing.

Result (core.tabular.ImportResult): total_rows = lines; created = events new to the warehouse; unchanged =
events already there (a re-import); filtered = lines left out on purpose, by reason; skipped = bad lines;
errors = unparsable lines (row = line number). all_or_nothing (the default): one bad line and nothing is written; skip_bad_rows: the good
lines are imported. Writes go through the spool (one segment, renamed ready when complete) and the
compactor, like the endpoints.
"""

from __future__ import annotations

import datetime as dt
import gzip
import hashlib
import os
import re
import secrets
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import pyarrow as pa
import pyarrow.compute as pc
from django.conf import settings

from shopops.analytics.collect import bots, compactor, privacy, sources, spool
from shopops.analytics.collect.intake import US, day_of, encode_lines
from shopops.analytics.collect.schema import SpoolEvent
from shopops.analytics.collect.sites import SiteInfo
from shopops.analytics.models import CollectSite
from shopops.core import audit, tabular
from shopops.core.errors import NotFound
from shopops.core.tabular import ImportResult, Mode, RowError

DEFAULT_PRODUCT_PATTERN = r"^/(?:products?|item|items|goods|p)/(?P<code>[A-Za-z0-9_.\-]+)/?$"
STATIC_EXTENSIONS = frozenset(
    ".css .js .mjs .map .png .jpg .jpeg .gif .svg .ico .webp .avif .bmp .woff .woff2 .ttf .otf .eot "
    ".mp4 .webm .mp3 .pdf .zip .gz .txt .xml .json .webmanifest".split()
)
SKIPPED_PREFIXES = ("/static/", "/media/", "/collect/", "/favicon", "/robots.txt", "/.well-known/")
REDIRECTS = frozenset({301, 302, 303, 307, 308})
# reasons a line is left out on purpose (msgids: the import pages translate them)
FILTERED_BOT = "爬虫/机器人"
FILTERED_REDIRECT = "重定向"
FILTERED_STATUS = "错误状态码"
FILTERED_ASSET = "静态资源"
FILTERED_METHOD = "非 GET 请求"
FILTERED_NO_REQUEST = "无请求行"
CHUNK = 50_000

LINE = re.compile(
    r'^(?P<ip>\S+) \S+ \S+ \[(?P<time>[^\]]+)\] "(?P<request>(?:[^"\\]|\\.)*)" (?P<status>\d{3}) \S+'
    r'(?: "(?P<referrer>(?:[^"\\]|\\.)*)" "(?P<ua>(?:[^"\\]|\\.)*)")?'
)
MONTHS = {m: i for i, m in enumerate("Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split(), start=1)}
TIME = re.compile(r"^(\d{2})/(\w{3})/(\d{4}):(\d{2}):(\d{2}):(\d{2}) ([+-])(\d{2})(\d{2})$")


class LineError(ValueError):
    pass


def parse_time(text: str) -> int:
    """`10/Oct/2026:13:55:36 +0800` → epoch microseconds."""
    match = TIME.match(text)
    if not match or match.group(2) not in MONTHS:
        raise LineError(f"时间格式无法识别：{text}")
    day, month, year, hour, minute, second, sign, off_h, off_m = match.groups()
    offset = dt.timedelta(hours=int(off_h), minutes=int(off_m)) * (-1 if sign == "-" else 1)
    try:
        moment = dt.datetime(
            int(year),
            MONTHS[month],
            int(day),
            int(hour),
            int(minute),
            int(second),
            tzinfo=dt.timezone(offset),
        )
    except ValueError as error:
        raise LineError(f"时间无效：{text}") from error
    return int(moment.timestamp()) * US


def _unescape(text: str | None) -> str:
    if not text or text == "-":
        return ""
    return text.replace('\\"', '"').replace("\\\\", "\\")


def is_static(path: str) -> bool:
    if path.startswith(SKIPPED_PREFIXES):
        return True
    return os.path.splitext(path.rsplit("/", 1)[-1])[1].lower() in STATIC_EXTENSIONS


def _lines(handle: IO[bytes]) -> Iterator[bytes]:
    head = handle.read(2)
    handle.seek(0)
    if head == b"\x1f\x8b":
        with gzip.GzipFile(fileobj=handle) as unzipped:
            yield from unzipped
        return
    yield from handle


class _Builder:
    def __init__(self, site: CollectSite, info: SiteInfo, base_url: str, product_pattern: str) -> None:
        self.site = site
        self.info = info
        self.base_url = base_url.rstrip("/")
        self.product = re.compile(product_pattern)
        self.seen: Counter[bytes] = Counter()
        self.landed: dict[str, pa.Array] = {}  # per day: the event ids already in Parquet

    def event(self, raw: bytes) -> SpoolEvent | str:
        """The event of one log line; the reason (FILTERED_*) when it is filtered out; LineError when bad."""
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            text = raw.decode("latin-1")
        match = LINE.match(text)
        if not match:
            raise LineError("不是 combined 格式的访问日志行")
        request = _unescape(match.group("request")).split(" ")
        if len(request) < 2:
            return FILTERED_NO_REQUEST  # "-" or a garbled request line (scanners): not a page view
        method, target = request[0], request[1]
        status = int(match.group("status"))
        user_agent = _unescape(match.group("ua"))
        path = sources.path_of("http://x" + target) if target.startswith("/") else ""
        if method != "GET":
            return FILTERED_METHOD
        if not path:
            return FILTERED_NO_REQUEST
        if is_static(path):
            return FILTERED_ASSET
        if bots.is_bot(user_agent):
            return FILTERED_BOT
        if status in REDIRECTS:
            return FILTERED_REDIRECT
        if not (200 <= status < 300 or status == 304):
            return FILTERED_STATUS
        ts = parse_time(match.group("time"))
        ip = match.group("ip")
        referrer = _unescape(match.group("referrer"))
        url = self.base_url + target if self.base_url else target
        source, medium, campaign = sources.normalise(url, referrer, "", "", "", user_agent)
        product_match = self.product.match(path)
        product = product_match.group("code")[:64] if product_match else ""
        self.seen[raw] += 1
        digest = hashlib.sha256(
            self.site.key.encode() + b"\0" + raw.rstrip(b"\r\n") + b"\0" + str(self.seen[raw]).encode()
        ).hexdigest()
        return SpoolEvent(
            event_id="log-" + digest[:32],
            type="product_view" if product else "page_view",
            ts=ts,
            day=day_of(ts),
            shop_id=self.info.shop_id,
            channel=self.info.channel,
            visitor_id=privacy.derived_visitor_id(ip, user_agent),
            session_id="",
            path=path,
            url=url[:2048],
            referrer=referrer[:2048],
            source=source,
            medium=medium,
            campaign=campaign,
            product=product,
            sku="",
            order_id="",
            amount=None,
            device=bots.device_of(user_agent),
            ip_key=privacy.ip_key(ip, self.info.ip_mode),
            received_at=time.time_ns() // 1000,
        )


def _site(site: CollectSite | str) -> CollectSite:
    if isinstance(site, CollectSite):
        return site
    found = CollectSite.objects.select_related("shop").filter(key=site).first()
    if found is None:
        raise NotFound(f"采集站点 {site} 不存在", fields={"site": "站点密钥不存在"})
    return found


def import_access_log(
    source: tabular.Source,
    *,
    site: CollectSite | str,
    actor: Any = None,
    filename: str | None = None,
    mode: str = Mode.ALL_OR_NOTHING,
    dry_run: bool = False,
    progress: tabular.Progress | None = None,
    product_pattern: str | None = None,
    base_url: str | None = None,
    compact: bool = True,
) -> ImportResult:
    """Import an access log (path or binary file object) for `site` (a CollectSite or its key).

    `base_url` (default: the site's first allowed origin) makes full URLs and tells internal navigation
    from referrals. `compact=False` leaves the written segment for the next compaction run."""
    mode = Mode(mode)
    started = time.monotonic()
    collect_site = _site(site)
    info = SiteInfo.of(collect_site)
    origins = sorted(info.origins)
    builder = _Builder(
        collect_site,
        info,
        base_url if base_url is not None else (origins[0] if origins else ""),
        product_pattern or str(getattr(settings, "ANALYTICS_PRODUCT_URL_PATTERN", DEFAULT_PRODUCT_PATTERN)),
    )
    name = filename or (Path(source).name if isinstance(source, str | os.PathLike) else "access.log")
    folder = spool.spool_dir()
    folder.mkdir(parents=True, exist_ok=True)
    token = secrets.token_hex(6)
    temporary = folder / f".import-{token}.tmp"
    with tabular.open_source(source) as opened:
        result = ImportResult(
            filename=name,
            sha256=opened.sha256,
            file_format="access-log",
            encoding="utf-8",
            mode=str(mode),
            dry_run=dry_run,
        )
        try:
            with open(temporary, "wb") as out:
                _read_log(opened.handle, builder, out, result, progress)
                out.flush()
                os.fsync(out.fileno())
            refused = mode == Mode.ALL_OR_NOTHING and bool(result.errors)
            result.committed = not (dry_run or refused)
            if result.committed and result.created:
                os.rename(temporary, folder / f"import-{token}.000001{spool.READY}")
                spool.fsync_dir(folder)
                if compact:
                    _compact_and_roll()
        finally:
            temporary.unlink(missing_ok=True)
    if result.committed:
        audit.record(
            actor=actor,
            action="analytics.access_log_imported",
            instance=collect_site,
            changes={
                **result.counts(),
                "filtered": dict(result.filtered),
                "filename": name,
                "sha256": result.sha256,
                "mode": str(mode),
            },
            reason="导入访问日志",
        )
    result.duration_seconds = time.monotonic() - started
    return result


def _compact_and_roll() -> None:
    """Compact the written segment now and re-roll the days it changed (one pipeline pass).

    Compacting here alone left the changed days out of the rollups until `analytics rebuild`: the next
    pipeline pass found nothing to compact and so nothing to refresh."""
    from shopops.analytics import pipeline

    pipeline.run_once(wait=True, full_sync=False)


def _read_log(
    handle: IO[bytes],
    builder: _Builder,
    out: IO[bytes],
    result: ImportResult,
    progress: tabular.Progress | None,
) -> None:
    chunk: list[SpoolEvent] = []
    for number, raw in enumerate(_lines(handle), start=1):
        if not raw.strip():
            continue
        result.total_rows += 1
        try:
            built = builder.event(raw)
        except LineError as error:
            result.errors.append(RowError(number, "", str(error)))
            result.skipped += 1
            continue
        if isinstance(built, str):
            result.filtered[built] = result.filtered.get(built, 0) + 1
            continue
        chunk.append(built)
        if len(chunk) >= CHUNK:
            _write_new(chunk, builder.landed, out, result)
            chunk = []
            if progress is not None:
                progress(result.total_rows, None)
    _write_new(chunk, builder.landed, out, result)
    if progress is not None:
        progress(result.total_rows, result.total_rows)


def _write_new(
    chunk: list[SpoolEvent], landed: dict[str, pa.Array], out: IO[bytes], result: ImportResult
) -> None:
    """Write the events that have not landed yet; count the others as unchanged."""
    if not chunk:
        return
    by_day: dict[str, list[SpoolEvent]] = {}
    for event in chunk:
        by_day.setdefault(event.day, []).append(event)
    for day, events in by_day.items():
        if day not in landed:
            landed[day] = compactor.landed_ids(dt.date.fromisoformat(day))
        existing = landed[day]
        if len(existing):
            present = pc.is_in(pa.array([e.event_id for e in events]), value_set=existing).to_pylist()
            fresh = [event for event, found in zip(events, present, strict=True) if not found]
        else:
            fresh = events
        result.unchanged += len(events) - len(fresh)
        result.created += len(fresh)
        out.write(encode_lines(fresh))
