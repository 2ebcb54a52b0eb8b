"""Run-time discovery of per-app extension modules: how a lower app lets higher apps join in.

A lower app never imports a higher one (see the import contracts). When it must let higher apps take
part in what it does — a refund that reverses points, a personal-data export that gathers every app's
records, a backup drill that runs every app's ledger check — it names an extension module, and every
installed shopops app that ships `<app>.<name>` takes part, in INSTALLED_APPS order (lower first).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator
from functools import cache
from types import ModuleType
from typing import Any

from django.apps import apps


@cache
def modules(name: str) -> tuple[ModuleType, ...]:
    """The `<app>.<name>` modules of the installed shopops apps, in app order (cached per process)."""
    found = []
    for config in apps.get_app_configs():
        if not config.name.startswith("shopops."):
            continue
        dotted = f"{config.name}.{name}"
        try:
            found.append(importlib.import_module(dotted))
        except ModuleNotFoundError as error:
            if error.name != dotted:
                raise
    return tuple(found)


def functions(name: str, attribute: str) -> Iterator[Callable[..., Any]]:
    """Every `<app>.<name>.<attribute>` callable, in app order."""
    for module in modules(name):
        function = getattr(module, attribute, None)
        if callable(function):
            yield function


def call_all(name: str, attribute: str, *args: Any, **kwargs: Any) -> list[Any]:
    """Call every `<app>.<name>.<attribute>` with the same arguments; their results in app order."""
    return [function(*args, **kwargs) for function in functions(name, attribute)]
