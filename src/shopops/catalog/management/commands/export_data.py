"""`shopops export KIND FILE`: export records with the import headers (CSV with BOM, or XLSX)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db.models import Q

from shopops.catalog.imports import export_products
from shopops.catalog.management.commands.import_data import actor_for
from shopops.catalog.models import Category, Sku
from shopops.core.context import origin
from shopops.core.errors import DomainError


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


class Command(BaseCommand):
    help = "导出数据：products（表头与导入相同，导出的文件可原样导入）。"

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("kind", choices=("products",))
        parser.add_argument("file", type=Path)
        parser.add_argument("--format", choices=("csv", "xlsx"), help="default: by extension (csv otherwise)")
        parser.add_argument(
            "--category",
            action="append",
            default=[],
            help="code, name or path; repeatable; includes subcategories",
        )
        parser.add_argument("--user", help="export as this user (permission check); default: the OS account")

    def handle(self, *args: Any, **options: Any) -> None:
        path: Path = options["file"]
        file_format = options["format"] or ("xlsx" if path.suffix.lower() == ".xlsx" else "csv")
        actor = actor_for(options["user"])
        queryset = Sku.objects.all()
        if options["category"]:
            queryset = queryset.filter(category_filter(options["category"]))
        try:
            with origin("cli"):
                count = export_products(
                    user=actor if options["user"] else None,
                    destination=path,
                    file_format=file_format,
                    queryset=queryset,
                )
        except DomainError as error:
            raise CommandError(error.message, returncode=1) from error
        self.stdout.write(f"exported {count} SKUs to {path}")
