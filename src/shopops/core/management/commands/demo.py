"""`shopops demo [--seed N] [--days N] [--reset] [--only-if-empty]`: run every app's demo data loader."""

from __future__ import annotations

import importlib
import importlib.util
import time
from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType
from typing import Any, TextIO, cast

from django.apps import apps
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction
from django.db.models import ProtectedError

from shopops.core.context import origin

# Each app that has demo data ships `<app>.demo_data` with:
#   load(*, seed: int, days: int, stdout) -> dict[str, int]   (counts; {} when it added nothing)
#   reset() -> None                                           (optional: delete what load made)
#   is_empty() -> bool                                        (optional: whether the app holds no data yet)
#   finish() -> None                                          (optional: after every app has loaded, e.g.
#                                                              recompute figures over orders added later)
# The loaders run in INSTALLED_APPS order (lower layers first), resets in the reverse order.
DEMO_MODULE = "demo_data"


@dataclass(frozen=True)
class DemoStep:
    """One app's demo data module."""

    label: str
    module: ModuleType

    @property
    def load(self) -> Callable[..., dict[str, int]]:
        return cast(Callable[..., dict[str, int]], self.module.load)

    def reset(self) -> None:
        reset = getattr(self.module, "reset", None)
        if reset is not None:
            reset()

    def is_empty(self) -> bool:
        is_empty = getattr(self.module, "is_empty", None)
        return True if is_empty is None else bool(is_empty())


def demo_steps() -> list[DemoStep]:
    """The `<app>.demo_data` modules that define `load`, in INSTALLED_APPS order (imported dynamically,
    so core never imports the apps above it)."""
    steps = []
    for config in apps.get_app_configs():
        name = f"{config.name}.{DEMO_MODULE}"
        if importlib.util.find_spec(name) is None:
            continue
        module = importlib.import_module(name)
        if callable(getattr(module, "load", None)):
            steps.append(DemoStep(label=config.label, module=module))
    return steps


def run_demo(*, seed: int, days: int, reset: bool, stdout: TextIO) -> dict[str, int]:
    """Reset (optionally, in reverse order) and load every app's demo data in one transaction."""
    steps = demo_steps()
    counts: dict[str, int] = {}
    with transaction.atomic():
        if reset:
            for step in reversed(steps):
                step.reset()
        for step in steps:
            counts.update(step.load(seed=seed, days=days, stdout=stdout))
        # a later app may add orders (the 数据中心's web-shop history): figures over orders are redone last
        for step in steps:
            finish = getattr(step.module, "finish", None)
            if callable(finish):
                finish()
    return counts


class Command(BaseCommand):
    help = (
        "加载演示数据（类目、商品、店铺、价格、仓库、库存、供应商、采购单）及每个角色一个演示账号。"
        "可重复运行，不会重复添加。"
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--seed", type=int, default=42, help="random seed; the same seed gives the same data"
        )
        parser.add_argument(
            "--days",
            type=int,
            default=90,
            help="how many days of price, sales and purchase history to invent",
        )
        parser.add_argument(
            "--reset",
            action="store_true",
            help="delete the demo data of every app first (catalog, stock, purchasing), then rebuild",
        )
        parser.add_argument(
            "--only-if-empty",
            action="store_true",
            help="do nothing at all (no users either) unless every app is still empty",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["only_if_empty"]:
            occupied = [step.label for step in demo_steps() if not step.is_empty()]
            if occupied:
                self.stdout.write(f"{occupied[0]} not empty: demo skipped")
                return
        if not 7 <= options["days"] <= 3650:
            raise CommandError("--days must be between 7 and 3650")
        started = time.monotonic()
        try:
            with origin("cli"):
                counts = run_demo(
                    seed=options["seed"],
                    days=options["days"],
                    reset=options["reset"],
                    stdout=cast(TextIO, self.stdout),
                )
        except ProtectedError as error:
            # orders and the like refer to the demo records: a reset would destroy real records
            raise CommandError(
                f"--reset refused: other records still use the demo data ({error.args[0]})"
            ) from error
        if counts:
            summary = ", ".join(f"{name} {count}" for name, count in counts.items())
            self.stdout.write(
                f"demo data loaded (seed {options['seed']}) in {time.monotonic() - started:.1f}s: {summary}"
            )
        else:
            self.stdout.write("catalog not empty: no demo data added (use --reset to rebuild it)")
