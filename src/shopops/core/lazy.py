"""Heavy libraries (Ibis, PyArrow, NumPy, pandas, DuckDB) imported where they are used, not at start-up.

Every process runs `django.setup()`, which imports each app's admin; an admin that imports the 数据中心 must not
make a CLI command, an import worker or a web worker pay for Ibis and PyArrow before it computes anything
(core/tests/test_startup_imports.py checks it). A module that uses a heavy library throughout writes

    if TYPE_CHECKING:
        import ibis
    else:
        ibis = lazy_module("ibis")

and the library is imported the first time one of its attributes is read.
"""

from __future__ import annotations

import importlib
import types
from typing import Any

# what a start-up (django.setup(), the URLconf, the admin) must not import
HEAVY_MODULES: tuple[str, ...] = ("ibis", "pyarrow", "numpy", "pandas", "duckdb", "polars", "pyspark")


class LazyModule(types.ModuleType):
    """Stands for the module `name` until an attribute is read; then reads it from the real module."""

    def __getattr__(self, attribute: str) -> Any:
        if attribute.startswith("__") and attribute.endswith("__"):
            raise AttributeError(attribute)  # copy, pickle and inspect probe dunders: no import for them
        return getattr(importlib.import_module(self.__name__), attribute)

    def __repr__(self) -> str:
        return f"<lazy module {self.__name__!r}>"


def lazy_module(name: str) -> Any:
    """`name` imported on first use (typed Any: declare the real import under TYPE_CHECKING)."""
    return LazyModule(name)
