"""A 工作台 table of many columns takes the page's width instead of wrapping names letter by letter."""

from __future__ import annotations

from shopops.dashboard import WIDE_FROM_COLUMNS, Panel


def panel(columns: int, *, wide: bool = False) -> Panel:
    return Panel(key="k", title="t", headers=[f"h{n}" for n in range(columns)], rows=[], total=0, wide=wide)


def test_many_columns_span_the_page() -> None:
    assert not panel(WIDE_FROM_COLUMNS).spans
    assert panel(WIDE_FROM_COLUMNS + 1).spans
    assert panel(2, wide=True).spans
