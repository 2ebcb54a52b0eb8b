import json
from io import StringIO

from django.core.management import call_command
from django.test import Client

from shopops.core.management.commands.openapi import COMMITTED_SCHEMA, render_schema


def test_committed_schema_is_current(db):
    # given the schema committed in docs/openapi.json
    committed = COMMITTED_SCHEMA.read_text(encoding="utf-8") if COMMITTED_SCHEMA.exists() else ""
    # when it is generated from the code
    generated = render_schema()
    # then they are identical (run `shopops openapi --write` after changing the API)
    assert generated == committed, "docs/openapi.json is stale: run `shopops openapi --write`"


def test_served_schema_equals_the_command_output(db):
    # given the schema the API serves
    served = Client().get("/api/openapi.json").json()
    # when the command prints it
    out = StringIO()
    call_command("openapi", stdout=out)
    # then it is the same document
    assert json.loads(out.getvalue()) == served
    assert served["info"]["version"] == "1"
    assert all(path.startswith("/api/v1/") for path in served["paths"])


def test_api_guide_lists_every_operation(db):
    # given the conventions guide and the schema
    guide = (COMMITTED_SCHEMA.parent / "api.md").read_text(encoding="utf-8")
    schema = Client().get("/api/openapi.json").json()
    # when looking for each operation's row
    missing = [
        f"{method.upper()} {path}"
        for path, operations in schema["paths"].items()
        for method in operations
        if f"| `{method.upper()}` | `{path.removeprefix('/api')}` |" not in guide
    ]
    # then none is undocumented
    assert missing == []
