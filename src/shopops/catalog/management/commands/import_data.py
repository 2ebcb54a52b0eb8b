"""`shopops import KIND FILE`: import a CSV/XLSX file with a progress bar, a summary and an error table.

Each app offers its kinds as `IMPORT_KINDS = {"kind": function}` in its `imports.py`; they are found at run
time in INSTALLED_APPS order, so higher apps (inventory, orders …) add kinds without this command importing them.
"""

from __future__ import annotations

import importlib
import inspect
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from django.apps import apps
from django.core.management.base import BaseCommand, CommandError, CommandParser
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from shopops.accounts.management.commands.token import cli_actor
from shopops.accounts.models import User
from shopops.core import tabular
from shopops.core.context import origin
from shopops.core.errors import DomainError

SHOWN_ERRORS = 20
FILE_FORMATS = ("csv", "xlsx")


def importers() -> dict[str, Callable[..., tabular.ImportResult]]:
    """Every import kind the installed apps offer."""
    found: dict[str, Callable[..., tabular.ImportResult]] = {}
    for config in apps.get_app_configs():
        if not config.name.startswith("shopops."):
            continue
        try:
            module = importlib.import_module(f"{config.name}.imports")
        except ModuleNotFoundError as error:
            if error.name != f"{config.name}.imports":
                raise
            continue
        found.update(getattr(module, "IMPORT_KINDS", {}))
    return found


def call_importer(function: Callable[..., tabular.ImportResult], **arguments: Any) -> tabular.ImportResult:
    """Pass only the options this importer takes (not every kind has sheets, formats or progress)."""
    accepted = inspect.signature(function).parameters
    return function(**{name: value for name, value in arguments.items() if name in accepted})


def console_for(command: BaseCommand) -> Console:
    """A rich console on the command's stdout (the raw stream: OutputWrapper adds newlines)."""
    return Console(file=getattr(command.stdout, "_out", sys.stdout), soft_wrap=True)


def actor_for(username: str | None) -> Any:
    if not username:
        return cli_actor()
    user = User.objects.filter(username=username).first()
    if user is None:
        raise CommandError(f"user {username!r} does not exist")
    return user


def write_errors(result: tabular.ImportResult, path: Path) -> None:
    rows = [("错误", error.row, error.column, error.message) for error in result.errors]
    rows += [("警告", warning.row, warning.column, warning.message) for warning in result.warnings]
    tabular.write_table(path, headers=("类型", "行号", "列", "说明"), rows=rows, file_format="csv")


class Command(BaseCommand):
    help = "导入数据文件（CSV/XLSX/日志）：products、opening-stock、stock-counts、orders、tracking、traffic-report、ad-spend、access-log。默认全部成功才写入；--skip-bad-rows 跳过错误行。"

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("kind", choices=sorted(importers()), help="what the file holds")
        parser.add_argument("file", type=Path)
        parser.add_argument("--dry-run", action="store_true", help="check and preview; write nothing")
        parser.add_argument(
            "--skip-bad-rows",
            action="store_true",
            help="keep the good rows (default: any bad row refuses the file)",
        )
        parser.add_argument(
            "--format",
            help="csv or xlsx (default: by extension or content); orders: the platform format "
            "(taobao, taobao_items, jd, pdd, shopify, douyin, template; default: from the header)",
        )
        parser.add_argument(
            "--shop",
            help="orders, traffic-report, ad-spend, access-log: the shop (code or id) the rows belong to",
        )
        parser.add_argument(
            "--site", help="access-log: the collection site key (default: the shop's only active site)"
        )
        parser.add_argument("--sheet", help="worksheet name (default: the first sheet)")
        parser.add_argument(
            "--user", help="import as this user (permissions and audit); default: the OS account"
        )
        parser.add_argument("--stocktake", type=int, help="stock-counts: the stocktake the counts belong to")

    def handle(self, *args: Any, **options: Any) -> None:
        path: Path = options["file"]
        if not path.is_file():
            raise CommandError(f"file not found: {path}")
        console = console_for(self)
        actor = actor_for(options["user"])
        mode = tabular.Mode.SKIP_BAD_ROWS if options["skip_bad_rows"] else tabular.Mode.ALL_OR_NOTHING
        columns = (
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
        )
        try:
            with origin("cli"), Progress(*columns, console=console, transient=True) as bar:
                task = bar.add_task(f"导入 {path.name}", total=None)

                def advance(done: int, total: int | None) -> None:
                    bar.update(task, completed=done, total=total)

                if options["kind"] == "stock-counts" and not options["stocktake"]:
                    raise CommandError("stock-counts needs --stocktake ID")
                if options["kind"] == "orders" and not options["shop"]:
                    raise CommandError("orders needs --shop CODE")
                given = options["format"]
                file_format = given if given in FILE_FORMATS else None
                if given and file_format is None and options["kind"] != "orders":
                    raise CommandError(f"--format must be one of: {', '.join(FILE_FORMATS)}")
                result = call_importer(
                    importers()[options["kind"]],
                    stocktake_id=options["stocktake"],
                    source=path,
                    filename=path.name,
                    actor=actor,
                    mode=mode,
                    dry_run=options["dry_run"],
                    file_format=file_format,
                    format=None if file_format else given,
                    shop=options["shop"],
                    site=options["site"],
                    sheet=options["sheet"],
                    progress=advance,
                )
        except DomainError as error:
            raise CommandError(f"文件被拒绝：{error.message}", returncode=1) from error
        self.report(console, result, path)
        if result.is_refused:
            raise CommandError(
                "文件被拒绝：有错误行，未写入任何数据（可用 --skip-bad-rows 只导入正确的行）", returncode=1
            )

    def report(self, console: Console, result: tabular.ImportResult, path: Path) -> None:
        summary = Table(
            title=f"{result.filename}（{result.file_format}{'，' + result.encoding if result.encoding else ''}）"
        )
        for name in ("行数", "新增", "更新", "未变", "错误行", "用时", "速度"):
            summary.add_column(name, justify="right")
        speed = result.total_rows / result.duration_seconds if result.duration_seconds else 0
        summary.add_row(
            *(str(value) for value in result.counts().values()),
            f"{result.duration_seconds:.1f}s",
            f"{speed:,.0f} 行/秒",
        )
        console.print(summary)
        if result.filtered:
            reasons = "，".join(f"{reason} {count}" for reason, count in result.filtered.items())
            console.print(f"按规则过滤（不是错误）：{sum(result.filtered.values())} 行（{reasons}）")
        if result.unknown_columns:
            console.print(f"未识别的列（已忽略）：{'、'.join(result.unknown_columns)}")
        if result.errors or result.warnings:
            self.report_problems(console, result, path)
        if result.dry_run:
            console.print("试运行：未写入任何数据。")
        elif result.committed:
            console.print("[green]导入完成。[/green]")

    @staticmethod
    def report_problems(console: Console, result: tabular.ImportResult, path: Path) -> None:
        problems = Table(
            title=f"问题（前 {SHOWN_ERRORS} 条，共 {len(result.errors)} 个错误、{len(result.warnings)} 个警告）"
        )
        for name in ("类型", "行号", "列", "说明"):
            problems.add_column(name)
        shown = [("错误", error) for error in result.errors] + [
            ("警告", warning) for warning in result.warnings
        ]
        for kind, problem in shown[:SHOWN_ERRORS]:
            problems.add_row(kind, str(problem.row), problem.column, problem.message)
        console.print(problems)
        errors_path = path.with_name(path.name + ".errors.csv")
        write_errors(result, errors_path)
        console.print(f"完整列表：{errors_path}")
