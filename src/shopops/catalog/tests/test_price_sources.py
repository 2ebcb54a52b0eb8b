"""A price change's source is shown by name: every source the code writes is a labelled choice."""

from __future__ import annotations

import re
from pathlib import Path

from shopops.catalog.models import PriceHistory, PriceSource

SOURCE = Path(__file__).resolve().parents[2]
WRITERS = [
    "catalog/services/bulk.py",
    "catalog/services/schedules.py",
    "catalog/imports.py",
    "catalog/demo_data.py",
    "purchasing/services.py",
]


def test_every_source_written_is_a_labelled_choice() -> None:
    written = set()
    for name in WRITERS:
        text = (SOURCE / name).read_text()
        written |= set(re.findall(r'source="([a-z_]+)"', text))
        written |= set(re.findall(r'^(?:IMPORT_)?SOURCE = "([a-z_]+)"', text, re.MULTILINE))
    assert {"bulk", "schedule", "purchase", "import", "demo"} <= written
    assert written <= set(PriceSource.values)
    field = PriceHistory._meta.get_field("source")
    labels = dict(field.flatchoices)
    assert all(labels[value] != value for value in written)
