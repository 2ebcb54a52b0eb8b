"""The test database, migrated once and copied: a pytest plugin loaded by the root conftest.py.

pytest-django migrates a fresh test database in every process (each xdist worker, each `pytest` run of the
edit loop): about 15 s of CPU for shopops' migrations, paid again and again for the same result. Here the
first process migrates a *template* database, named after a hash of every migration file (and of the role
table that `migrate` seeds), and every process copies it: SQLite copies the file, PostgreSQL runs
`CREATE DATABASE … TEMPLATE …`. A changed migration gives a new hash, so a new template; older templates
of the same database are removed. A file lock lets one process build a template while the others wait.

`--create-db` rebuilds the template; `--reuse-db` and `--no-migrations` keep pytest-django's own setup.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import importlib.util
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pytest_django.fixtures import _disable_migrations, _get_databases_for_setup

# files whose content decides what a freshly migrated database holds, beside the migrations themselves
SEEDED_BY_MIGRATE = ("shopops.accounts.roles",)


def migration_state_key() -> str:
    """A short hash of everything `migrate` reads: every app's migration files and what post_migrate seeds."""
    import django
    from django.apps import apps

    digest = hashlib.sha256(django.get_version().encode())
    modules = [f"{config.name}.migrations" for config in apps.get_app_configs()] + list(SEEDED_BY_MIGRATE)
    for module in modules:
        spec = importlib.util.find_spec(module)
        if spec is None:
            continue
        if spec.submodule_search_locations:
            files = sorted(
                path for folder in spec.submodule_search_locations for path in Path(folder).glob("*.py")
            )
        else:
            files = [Path(spec.origin)] if spec.origin else []
        for path in files:
            digest.update(f"{module}/{path.name}\0".encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


@contextlib.contextmanager
def file_lock(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def remove_sqlite_files(name: str) -> None:
    for suffix in ("", "-wal", "-shm", "-journal"):
        with contextlib.suppress(FileNotFoundError):
            os.remove(name + suffix)


class SqliteTemplate:
    def __init__(self, connection: Any, key: str) -> None:
        self.connection = connection
        test_name = Path(connection.settings_dict["TEST"]["NAME"])
        stem = test_name.name.split(".")[0]  # test_shopops.sqlite3_gw0 → test_shopops
        self.prefix = f"{stem}_template_"
        self.template = str(test_name.with_name(f"{self.prefix}{key}.sqlite3"))
        self.lock = Path(self.template + ".lock")

    def exists(self) -> bool:
        return os.path.exists(self.template)

    def build(self, migrate: Any) -> None:
        building = self.template + ".building"
        remove_sqlite_files(building)
        migrate(building)
        with self.connection.cursor() as cursor:
            cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        self.connection.close()
        os.replace(building, self.template)
        remove_sqlite_files(building)
        for old in Path(self.template).parent.glob(f"{self.prefix}*.sqlite3"):
            if str(old) != self.template:
                remove_sqlite_files(str(old))

    def copy_to(self, name: str) -> None:
        remove_sqlite_files(name)
        shutil.copyfile(self.template, name)


class PostgresTemplate:
    def __init__(self, connection: Any, key: str) -> None:
        self.connection = connection
        base = connection.settings_dict["TEST"]["NAME"] or "test_" + connection.settings_dict["NAME"]
        worker = os.environ.get("PYTEST_XDIST_WORKER")
        if worker and base.endswith(f"_{worker}"):
            base = base[: -len(worker) - 1]
        self.prefix = f"{base[:40]}_tpl_"
        self.template = f"{self.prefix}{key}"
        host = connection.settings_dict.get("HOST") or "local"
        port = connection.settings_dict.get("PORT") or "5432"
        self.lock = Path(tempfile.gettempdir()) / f"shopops-pg-{host}-{port}-{self.template}.lock"

    def databases(self, cursor: Any) -> set[str]:
        cursor.execute("SELECT datname FROM pg_database WHERE datname LIKE %s", [self.prefix + "%"])
        return {row[0] for row in cursor.fetchall()}

    def exists(self) -> bool:
        with self.connection._nodb_cursor() as cursor:
            return self.template in self.databases(cursor)

    def build(self, migrate: Any) -> None:
        quote = self.connection.ops.quote_name
        building = self.template + "_b"
        with self.connection._nodb_cursor() as cursor:
            cursor.execute(f"DROP DATABASE IF EXISTS {quote(building)}")
        migrate(building)
        self.connection.close()
        with self.connection._nodb_cursor() as cursor:
            cursor.execute(f"DROP DATABASE IF EXISTS {quote(self.template)}")  # `--create-db`: the old one
            cursor.execute(f"ALTER DATABASE {quote(building)} RENAME TO {quote(self.template)}")
            for old in self.databases(cursor) - {self.template}:
                # another run may be copying an old template right now: then it stays until next time
                with contextlib.suppress(Exception):
                    cursor.execute(f"DROP DATABASE IF EXISTS {quote(old)}")

    def copy_to(self, name: str) -> None:
        quote = self.connection.ops.quote_name
        self.connection.close()
        with self.connection._nodb_cursor() as cursor:
            cursor.execute(f"DROP DATABASE IF EXISTS {quote(name)}")
            cursor.execute(f"CREATE DATABASE {quote(name)} WITH TEMPLATE {quote(self.template)}")
            # a test database need not survive a crash: its commits (transactional tests, the live server's
            # requests, fixtures that commit) skip the wait for the WAL flush
            cursor.execute(f"ALTER DATABASE {quote(name)} SET synchronous_commit TO off")


def template_for(connection: Any, key: str) -> SqliteTemplate | PostgresTemplate | None:
    if connection.vendor == "sqlite":
        name = connection.settings_dict["TEST"]["NAME"]
        if not name or connection.creation.is_in_memory_db(name):
            return None
        return SqliteTemplate(connection, key)
    if connection.vendor == "postgresql":
        return PostgresTemplate(connection, key)
    return None


def setup_from_template(connection: Any, *, rebuild: bool, run_id: str) -> str | None:
    """Give `connection` its test database, copied from the template (built first when missing); returns
    the name to restore on teardown, or None when this backend has no template (the caller migrates)."""
    template = template_for(connection, migration_state_key())
    if template is None:
        return None
    old_name = connection.settings_dict["NAME"]
    test_name = connection.creation._get_test_db_name()
    test_settings = connection.settings_dict["TEST"]

    def migrate(name: str) -> None:
        # Django's own creation (migrate, post_migrate's roles, cache table) into the template's name
        test_settings["NAME"] = name
        try:
            connection.creation.create_test_db(verbosity=0, autoclobber=True, serialize=False)
        finally:
            test_settings["NAME"] = test_name
            connection.settings_dict["NAME"] = old_name
            connection.close()

    built_by = Path(f"{template.lock}.run")  # which run built the template: `--create-db` rebuilds it once
    with file_lock(template.lock):
        if not template.exists() or (rebuild and not (built_by.exists() and built_by.read_text() == run_id)):
            template.build(migrate)
            built_by.write_text(run_id)
        template.copy_to(test_name)
    from django.conf import settings

    connection.close()
    settings.DATABASES[connection.alias]["NAME"] = test_name
    connection.settings_dict["NAME"] = test_name
    return old_name


@pytest.fixture(scope="session")
def django_db_setup(
    request: pytest.FixtureRequest,
    django_test_environment: None,
    django_db_blocker: Any,
    django_db_use_migrations: bool,
    django_db_keepdb: bool,
    django_db_createdb: bool,
    django_db_modify_db_settings: None,
) -> Iterator[None]:
    """pytest-django's fixture of the same name, with the migrated database copied from a template."""
    from django.db import connections
    from django.test.utils import setup_databases, teardown_databases

    verbosity = request.config.option.verbose
    _aliases, serialized_aliases = _get_databases_for_setup(request.session.items)
    if (
        django_db_keepdb
        or not django_db_use_migrations
        or serialized_aliases
        or any(connection.settings_dict["TEST"].get("MIRROR") for connection in connections.all())
    ):
        # pytest-django's own path (keeps, skips or serialises the database): not what the suite runs
        if not django_db_use_migrations:
            _disable_migrations()
        with django_db_blocker.unblock():
            config = setup_databases(
                verbosity=verbosity,
                interactive=False,
                serialized_aliases=serialized_aliases,
                keepdb=django_db_keepdb and not django_db_createdb,
            )
        yield
        if not django_db_keepdb:
            with django_db_blocker.unblock():
                teardown_databases(config, verbosity=verbosity)
        return

    # the workers of one xdist run share its id; a run without xdist is its only process
    run_id = getattr(request.config, "workerinput", {}).get("testrunuid") or uuid.uuid4().hex
    created: list[tuple[Any, str]] = []
    with django_db_blocker.unblock():
        for connection in connections.all():
            old_name = setup_from_template(connection, rebuild=django_db_createdb, run_id=run_id)
            if old_name is None:  # a backend without templates: migrated here, as pytest-django does
                old_name = connection.settings_dict["NAME"]
                connection.creation.create_test_db(verbosity=verbosity, autoclobber=True, serialize=False)
            created.append((connection, old_name))
    yield
    with django_db_blocker.unblock():
        for connection, old_name in created:
            try:
                connection.creation.destroy_test_db(old_name, verbosity=0)
            except Exception as exc:  # noqa: BLE001 (pytest-django warns too)
                request.node.warn(
                    pytest.PytestWarning(f"Error when trying to teardown test databases: {exc!r}")
                )
