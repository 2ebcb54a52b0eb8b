"""`shopops export KIND FILE`: export records as CSV (with BOM) or XLSX.

Each app offers its kinds as `EXPORT_KINDS = {"kind": function}` in its `imports` module, found at run time
like `IMPORT_KINDS`: products (the import headers, re-importable), orders (personal data masked unless
--user holds core.view_pii; audited) …
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable
from pathlib import Path
from typing import Any

from django.apps import apps
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db.models import Q

from shopops.catalog.management.commands.import_data import actor_for
from shopops.catalog.models import Category, Sku
from shopops.core.context import origin
from shopops.core.errors import DomainError


def exporters() -> dict[str, Callable[..., int]]:
    """Every export kind the installed apps offer."""
    found: dict[str, Callable[..., int]] = {}
    for config in apps.get_app_configs():
        if not config.name.startswith("shopops."):
            continue
        try:
            module = importlib.import_module(f"{config.name}.imports")
        except ModuleNotFoundError as error:
            if error.name != f"{config.name}.imports":
                raise
            continue
        found.update(getattr(module, "EXPORT_KINDS", {}))
    return found


def category_filter(texts: list[str]) -> Q:
    """SKUs in the named categories (code, name or path) and everything below them."""
    condition = Q()
    for text in texts:
        categories = list(Category.objects.filter(Q(code=text) | Q(name=text) | Q(path=text)))
        if not categories:
            raise CommandError(f"category not found: {text}")
        for category in categories:
            condition |= Q(product__category__path=category.path)
            condition |= Q(product__category__path__startswith=f"{category.path} › ")
    return condition


def parse_filters(texts: list[str]) -> dict[str, Any]:
    """`--filter status=paid --filter status=shipped --filter placed_from=2026-06-01` → a parameter dict."""
    found: dict[str, Any] = {}
    for text in texts:
        key, sep, value = text.partition("=")
        if not sep or not key.strip():
            raise CommandError(f"--filter needs KEY=VALUE, got {text!r}")
        key = key.strip()
        if key == "status":
            found.setdefault(key, []).extend(part for part in value.split(",") if part)
        else:
            found[key] = value
    return found


def call_exporter(function: Callable[..., int], **arguments: Any) -> int:
    """Pass only the options this exporter takes."""
    accepted = inspect.signature(function).parameters
    return function(**{name: value for name, value in arguments.items() if name in accepted})


class Command(BaseCommand):
    help = "导出数据：products（表头与导入相同，导出的文件可原样导入）、orders（个人信息按权限脱敏，留痕）。"

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("kind", choices=sorted(exporters()))
        parser.add_argument("file", type=Path)
        parser.add_argument("--format", choices=("csv", "xlsx"), help="default: by extension (csv otherwise)")
        parser.add_argument(
            "--category",
            action="append",
            default=[],
            help="products: code, name or path; repeatable; includes subcategories",
        )
        parser.add_argument(
            "--filter",
            action="append",
            default=[],
            dest="filters",
            metavar="KEY=VALUE",
            help="orders: a search parameter (status=paid, shop_id=3, placed_from=2026-06-01, phone=1234 …); "
            "repeatable",
        )
        parser.add_argument("--user", help="export as this user (permission check); default: the OS account")

    def handle(self, *args: Any, **options: Any) -> None:
        path: Path = options["file"]
        kind = options["kind"]
        file_format = options["format"] or ("xlsx" if path.suffix.lower() == ".xlsx" else "csv")
        actor = actor_for(options["user"])
        queryset = None
        if kind == "products":
            queryset = Sku.objects.all()
            if options["category"]:
                queryset = queryset.filter(category_filter(options["category"]))
        try:
            with origin("cli"):
                count = call_exporter(
                    exporters()[kind],
                    user=actor if options["user"] else None,
                    actor=actor,
                    destination=path,
                    file_format=file_format,
                    queryset=queryset,
                    filters=parse_filters(options["filters"]),
                )
        except DomainError as error:
            raise CommandError(error.message, returncode=1) from error
        noun = "SKUs" if kind == "products" else kind
        self.stdout.write(f"exported {count} {noun} to {path}")
