"""`shopops openapi [--write]`: print the API's OpenAPI schema, or write it to docs/openapi.json."""

import json
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser
from django.urls import resolve, reverse

COMMITTED_SCHEMA = Path(settings.PROJECT_DIR) / "docs" / "openapi.json"


def render_schema() -> str:
    """The schema as committed: stable key order, two-space indent, UTF-8 text, final newline."""
    # found through the URL map: core sits below the module that assembles the API
    view = resolve(reverse("api:openapi-json")).func
    api = view.keywords["api"]  # type: ignore[attr-defined]
    schema = api.get_openapi_schema()
    return json.dumps(schema, indent=2, ensure_ascii=False, sort_keys=True) + "\n"


class Command(BaseCommand):
    help = "Print the OpenAPI schema of /api/ (or write docs/openapi.json with --write)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--write", action="store_true", help=f"write {COMMITTED_SCHEMA}")

    def handle(self, *args: Any, **options: Any) -> None:
        text = render_schema()
        if options["write"]:
            COMMITTED_SCHEMA.parent.mkdir(parents=True, exist_ok=True)
            COMMITTED_SCHEMA.write_text(text, encoding="utf-8")
            self.stdout.write(f"wrote {COMMITTED_SCHEMA}")
        else:
            self.stdout.write(text, ending="")
