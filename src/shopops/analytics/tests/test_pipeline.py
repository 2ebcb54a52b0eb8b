from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from shopops.analytics import pipeline
from shopops.analytics.collect import spool
from shopops.analytics.collect.sites import sites
from shopops.analytics.collect.testing import make_site
from shopops.analytics.warehouse import rollups
from shopops.orders.tests.factories import create_order

pytestmark = pytest.mark.django_db

CHROME = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36"


@pytest.fixture
def root(settings: Any, tmp_path: Path) -> Iterator[Path]:
    settings.ANALYTICS_DIR = tmp_path / "analytics"
    sites.clear()
    yield settings.ANALYTICS_DIR
    spool.flush()
    sites.clear()


def _post(events: list[dict[str, Any]], *, ip: str) -> None:
    client = Client(HTTP_USER_AGENT=CHROME, REMOTE_ADDR=ip)
    body = "\n".join(json.dumps(event) for event in events).encode()
    response = client.post("/collect/batch?k=k-pipe", data=body, content_type="application/x-ndjson")
    assert response.status_code in (200, 202), response.content
    spool.flush()


def test_events_and_orders_reach_the_rollups_in_one_run_and_late_ones_in_the_next(root: Path) -> None:
    # given: two visitors on the web shop (one from baidu buys), one order linked by its order_placed event
    site = make_site(key="k-pipe")
    now = timezone.now().replace(microsecond=0) - dt.timedelta(hours=1)
    ms = lambda moment: int(moment.timestamp() * 1000)  # noqa: E731
    _post(
        [
            {"type": "page_view", "visitor_id": "a", "ts": ms(now), "url": "https://s.cn/?utm_source=baidu"},
            {
                "type": "product_view",
                "visitor_id": "a",
                "ts": ms(now + dt.timedelta(minutes=1)),
                "url": "https://s.cn/p/P1?utm_source=baidu",
                "product": "P1",
            },
            {
                "type": "order_placed",
                "visitor_id": "a",
                "ts": ms(now + dt.timedelta(minutes=2)),
                "url": "https://s.cn/checkout?utm_source=baidu",
                "order_id": "W-1",
                "amount": "50.00",
            },
        ],
        ip="203.0.113.7",
    )
    _post(
        [{"type": "page_view", "visitor_id": "b", "ts": ms(now), "url": "https://s.cn/"}], ip="198.51.100.2"
    )
    create_order(
        shop=site.shop, external_id="W-1", lines=[("P1", 1, "50.00")], placed_at=now + dt.timedelta(minutes=2)
    )
    today = now.astimezone(dt.timezone(dt.timedelta(hours=8))).date()
    # when
    first = pipeline.run_once(wait=True)
    totals = rollups.measures(today, today)[0]
    by_source = {row["source"]: row for row in rollups.measures(today, today, by=("source",))}
    # then
    assert not first["skipped"]
    assert today in first["event_days"]
    assert (totals["pv"], totals["visitors"], totals["ips"], totals["sessions"]) == (3, 2, 2, 2)
    assert (totals["bounce_sessions"], totals["multi_page_sessions"], totals["duration_seconds"]) == (
        1,
        1,
        120,
    )
    assert (totals["paid_orders"], totals["paid_amount"], totals["paying_buyers"]) == (1, Decimal("50.00"), 1)
    assert by_source["baidu"]["paid_orders"] == 1
    assert by_source["baidu"]["visitors"] == 1
    assert by_source["direct"]["visitors"] == 1
    # when: a late event of the same day arrives, and nothing else changed
    _post(
        [
            {
                "type": "page_view",
                "visitor_id": "c",
                "ts": ms(now - dt.timedelta(minutes=30)),
                "url": "https://s.cn/",
            }
        ],
        ip="192.0.2.9",
    )
    second = pipeline.run_once(wait=True)
    # then
    assert second["event_days"] == [today]
    assert rollups.measures(today, today)[0]["visitors"] == 3
    assert pipeline.run_once(wait=True)["refreshed_days"] == 0


def test_a_run_skips_while_another_holds_the_lock(root: Path) -> None:
    with pipeline.pipeline_lock(wait=True):
        assert pipeline.run_once(wait=False) == {"skipped": True}


def test_command_rebuild_and_status(root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # when
    call_command("analytics", "rebuild")
    call_command("analytics", "status")
    # then
    output = capsys.readouterr().out
    assert '"days": 0' in output
    assert '"version": 1' in output
