"""Every back-office page a role can reach from its sidebar and 工作台, clicked through as that person would
(GET only), on the demo: no server error, no link shown that answers 403/404, no English interface text on a
Chinese page, no code or raw value (dict/list reprs, None/True/False, model reprs) shown to an operator.

The rules of ../shared/tools/crawl_admin.py, in process (Django's test client) so they run in `make test`;
the English interface strings are every msgid of the admin chrome we translate (locale/zh_Hans: unfold's
and Django admin's own strings), not a hand list.
"""

from __future__ import annotations

import datetime as dt
import html
import re
from collections import deque
from collections.abc import Iterator
from html.parser import HTMLParser
from io import StringIO
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

import pytest
from django.core.management import call_command
from django.test import Client, override_settings

from shopops.accounts.models import User
from shopops.accounts.roles import ROLES, role_group_name, sync_roles

SHANGHAI = dt.timezone(dt.timedelta(hours=8))
CLOCKS = [dt.datetime(2026, 12, 7, 9, 30, tzinfo=SHANGHAI)]
pytestmark = [pytest.mark.django_db, pytest.mark.xdist_group("crawl"), pytest.mark.slow]

PAGES_PER_ROLE = 160
SAME_PATH_VISITS = 2  # a list with filters: the plain list and at most two filtered/sorted variants
SAME_SHAPE_VISITS = 2  # /admin/orders/order/<id>/change/: two records of each kind
SKIP = re.compile(
    r"logout|delete|reveal|approve|reject|close|cancel|confirm|ship|apply|run|export|download|password|"
    r"/history/\d|\.(xlsx|csv|png|jpg|js|css)$|/jsi18n|/i18n/|/autocomplete/",
    re.IGNORECASE,
)
REPR = re.compile(r"\{'[a-z_]+': |\['[a-z_]+', '|<[A-Za-z]+: [^>]{1,40}>|\bNone\b|\bTrue\b|\bFalse\b")
CATALOG = Path(__file__).resolve().parents[2] / "src/shopops/locale/zh_Hans/LC_MESSAGES/django.po"


def english_interface_strings() -> set[str]:
    words = set(re.findall(r'^msgid "([^"]+)"$', CATALOG.read_text(encoding="utf-8"), re.MULTILINE))
    # placeholders and one-word strings demo data may legitimately contain are left out
    return {w.strip() for w in words if "%" not in w and "{" not in w and re.search(r"[a-z]{2}", w)}


ENGLISH = english_interface_strings()


class Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []
        self.text: list[str] = []
        self.skip = 0
        self.open_links = 0
        self.nested_links = 0  # an <a> inside an <a>: browsers split it, the outer link shows nothing

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style", "template", "textarea", "code", "pre"):
            self.skip += 1
        href = dict(attrs).get("href")
        if tag == "a" and href:
            self.links.append(href)
        if tag == "a":
            self.nested_links += bool(self.open_links)
            self.open_links += 1

    def handle_endtag(self, tag: str) -> None:
        if tag == "a" and self.open_links:
            self.open_links -= 1
        if tag in ("script", "style", "template", "textarea", "code", "pre") and self.skip:
            self.skip -= 1

    def handle_data(self, data: str) -> None:
        if not self.skip and data.strip():
            self.text.append(data.strip())


def shape(path: str) -> str:
    return re.sub(r"/\d+/", "/<id>/", path)


class Crawler:
    """Breadth first from /admin/, GET only; a list's filtered variants and a kind of record's pages are
    sampled (SAME_PATH_VISITS, SAME_SHAPE_VISITS) so every kind of page is seen without visiting them all."""

    def __init__(self, client: Client) -> None:
        self.client = client
        self.found: dict[str, list[str]] = {}
        self.seen = {"/admin/"}
        self.queue: deque[tuple[str, str]] = deque([("/admin/", "-")])
        self.per_path: dict[str, int] = {}
        self.per_shape: dict[str, int] = {}
        self.visited = 0

    def note(self, kind: str, what: str) -> None:
        self.found.setdefault(kind, []).append(what)

    def run(self) -> None:
        while self.queue and self.visited < PAGES_PER_ROLE:
            target, source = self.queue.popleft()
            self.visited += 1
            response = self.client.get(target)
            if response.status_code >= 500:
                self.note("server error", f"{target} (linked from {source})")
            elif response.status_code in (403, 404):
                self.note(f"link shown but {response.status_code}", f"{target} (linked from {source})")
            elif response.status_code == 200 and "html" in response.get("Content-Type", ""):
                page = Page()
                page.feed(response.content.decode("utf-8", "replace"))
                self.check(target, page)
                for href in page.links:
                    self.follow(target, href)

    def check(self, target: str, page: Page) -> None:
        english = next((line for line in page.text if line in ENGLISH), None)
        if english:
            self.note("English on a Chinese page", f"{target}: {english!r}")
        if page.nested_links:
            self.note("link inside a link", target)
        match = REPR.search("\n".join(page.text))
        if match:
            self.note("code shown", f"{target}: {html.unescape(match.group(0))[:40]!r}")

    def follow(self, target: str, href: str) -> None:
        parts = urlsplit(urljoin("http://testserver" + target, href))
        if parts.netloc not in ("", "testserver"):
            return
        link = parts.path + (f"?{parts.query}" if parts.query and "p=" not in parts.query else "")
        if not link.startswith("/admin/") or SKIP.search(link) or link in self.seen:
            return
        if "?" in link and not self.take(self.per_path, parts.path, SAME_PATH_VISITS):
            return
        if shape(parts.path) != parts.path and not self.take(
            self.per_shape, shape(parts.path), SAME_SHAPE_VISITS
        ):
            return
        self.seen.add(link)
        self.queue.append((link, target))

    @staticmethod
    def take(counts: dict[str, int], key: str, limit: int) -> bool:
        if counts.get(key, 0) >= limit:
            return False
        counts[key] = counts.get(key, 0) + 1
        return True


@pytest.fixture(scope="module")
def demo(
    module_clock: dt.datetime, module_db: None, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[None]:
    var = tmp_path_factory.mktemp("var")
    with override_settings(VAR_DIR=var, ANALYTICS_DIR=var / "analytics", ANALYTICS_DEMO=False):
        call_command("demo", "--seed", "7", "--days", "30", stdout=StringIO())
        yield


@pytest.fixture(scope="module")
def people(demo: None) -> dict[str, User]:
    groups = sync_roles()
    users = {}
    for role in ROLES:
        user = User.objects.create_user(username=f"crawl-{role}", password=None, is_staff=True)
        user.groups.add(groups[role])
        assert user.groups.filter(name=role_group_name(role)).exists()
        users[role] = user
    return users


@pytest.mark.parametrize("role", list(ROLES))
def test_every_page_a_role_can_reach_is_clean(role: str, people: dict[str, User], module_clock: Any) -> None:
    # given a person of the role, signed in, in Chinese (the default)
    client = Client()
    client.force_login(people[role])
    # when they click through every page their sidebar and 工作台 lead to
    crawler = Crawler(client)
    crawler.run()
    # then they saw many pages and no server error, dead link, English chrome or raw value
    assert crawler.visited > 5, f"{role} reached only {crawler.visited} pages"
    report = "\n".join(
        f"{kind}: {item}" for kind, items in sorted(crawler.found.items()) for item in items[:15]
    )
    assert not crawler.found, f"{role} ({crawler.visited} pages):\n{report}"
