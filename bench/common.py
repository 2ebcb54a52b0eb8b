"""What the import benchmarks share: throw-away databases copied from one migrated template, a worker
subprocess per measurement (so maxrss is the import's own), and the machine line every report prints."""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


class Database:
    """SQLite files or PostgreSQL databases named `name`, each a copy of a migrated template.

    `worker` is the benchmark module (`bench.bench_import_orders`); with `setup=True` the template also
    gets that module's `--worker setup` data (shops, SKUs) after migrating.
    """

    def __init__(
        self, kind: str, directory: Path, postgres_url: str, *, name: str, worker: str, setup: bool = False
    ) -> None:
        self.kind = kind
        self.directory = directory
        self.postgres_url = postgres_url.rstrip("/")
        self.name = name
        self.worker = worker
        self.setup = setup
        self.counter = 0

    def _admin(self, statement: str) -> None:
        import psycopg

        with psycopg.connect(f"{self.postgres_url}/postgres", autocommit=True) as connection:
            connection.execute(statement)

    def template(self) -> None:
        """Migrate once (and set up); fresh databases are copies of it."""
        if self.kind == "postgres":
            self._admin(f"DROP DATABASE IF EXISTS {self.name}_template")
            self._admin(f"CREATE DATABASE {self.name}_template")
            url = f"{self.postgres_url}/{self.name}_template"
        else:
            url = f"sqlite:///{self.directory / 'template.sqlite3'}"
        subprocess.run(
            [sys.executable, "-m", "django", "migrate", "--verbosity", "0"],
            env=self.env(url),
            check=True,
            cwd=ROOT,
        )
        if self.setup:
            subprocess.run(
                [sys.executable, "-m", self.worker, "--worker", "setup", "-"],
                env=self.env(url),
                check=True,
                cwd=ROOT,
                capture_output=True,
            )

    def fresh(self) -> str:
        self.counter += 1
        if self.kind == "postgres":
            self._admin(f"DROP DATABASE IF EXISTS {self.name}")
            self._admin(f"CREATE DATABASE {self.name} TEMPLATE {self.name}_template")
            return f"{self.postgres_url}/{self.name}"
        path = self.directory / f"run{self.counter}.sqlite3"
        shutil.copy(self.directory / "template.sqlite3", path)
        return f"sqlite:///{path}"

    def drop(self) -> None:
        if self.kind == "postgres":
            self._admin(f"DROP DATABASE IF EXISTS {self.name}")
            self._admin(f"DROP DATABASE IF EXISTS {self.name}_template")

    def env(self, url: str) -> dict[str, str]:
        return {
            **os.environ,
            "DATABASE_URL": url,
            "DJANGO_SETTINGS_MODULE": "shopops.settings",
            "SHOPOPS_VAR_DIR": str(self.directory / "var"),
            "PYTHONPATH": f"{ROOT / 'src'}{os.pathsep}{ROOT}",
        }


def measure(database: Database, url: str, *args: str, show_stderr: bool = False) -> dict[str, Any]:
    """Run the benchmark's worker on `url`; its last stdout line is a JSON object of figures."""
    done = subprocess.run(
        [sys.executable, "-m", database.worker, "--worker", *args],
        env=database.env(url),
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    )
    if show_stderr:
        print(done.stderr)
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def machine() -> str:
    model = "unknown CPU"
    with open("/proc/cpuinfo", encoding="utf-8") as handle:
        for line in handle:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return f"{os.cpu_count()} cores · {model} · Python {platform.python_version()}"
