"""Start-up pays for what every process needs, not for the 数据中心: Ibis, PyArrow, NumPy, pandas and DuckDB are
imported where a report, an import or the warehouse uses them (core.lazy), so a CLI command, an import
worker and a web worker start without them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from shopops.core.lazy import HEAVY_MODULES, lazy_module

STARTUP = """
import json, sys
import django
django.setup()
from django.contrib import admin
from django.urls import get_resolver
admin.autodiscover()
get_resolver().url_patterns  # the URLconf: admin site, API routers, collect endpoints
import shopops.api, shopops.wsgi
print(json.dumps(sorted(set(sys.modules))))
"""


def test_setup_urlconf_and_admin_import_no_heavy_library(tmp_path: Path) -> None:
    # given a fresh process with the project's settings (its own var folder)
    env = {**os.environ, "SHOPOPS_VAR_DIR": str(tmp_path), "DJANGO_SETTINGS_MODULE": "shopops.settings"}
    env.pop("DATABASE_URL", None)
    # when it sets Django up, loads the URLconf and discovers every admin
    done = subprocess.run(
        [sys.executable, "-c", STARTUP], env=env, capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, done.stderr
    loaded = set(json.loads(done.stdout.strip().splitlines()[-1]))
    # then none of the heavy libraries (nor any of their submodules) was imported
    heavy = sorted(name for name in loaded if name.split(".")[0] in HEAVY_MODULES)
    assert heavy == []
    # and the project's own modules were (the probe really ran the start-up)
    assert {"shopops.analytics.admin", "shopops.analytics.metrics.definitions", "shopops.api"} <= loaded


def test_a_lazy_module_imports_on_first_attribute_and_reads_the_real_one() -> None:
    # a module nobody in the test process has imported yet: the standard library's
    name = "colorsys"
    if name in sys.modules:  # pragma: no cover - only if another test imported it
        del sys.modules[name]
    lazy = lazy_module(name)
    assert name not in sys.modules
    # reading an attribute imports it and answers from the real module
    assert lazy.rgb_to_hsv is sys.modules[name].rgb_to_hsv
    assert "lazy module" in repr(lazy)
