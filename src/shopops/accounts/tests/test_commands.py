import re
import sys

import pytest
from django.core.management import CommandError, call_command

from shopops.accounts import services
from shopops.accounts.management.commands import serve, worker
from shopops.accounts.models import ApiToken, User
from shopops.accounts.roles import ROLES, matrix_markdown, role_group_name
from shopops.core.models import AuditEntry

pytestmark = pytest.mark.django_db


def _run(capsys: pytest.CaptureFixture[str], *args: str, **options: object) -> str:
    call_command(*args, **options)
    return capsys.readouterr().out


@pytest.fixture
def private_var(settings, tmp_path):
    settings.VAR_DIR = tmp_path
    settings.STATIC_ROOT = tmp_path / "static"
    return tmp_path


def test_roles_doc_prints_the_generated_matrix(capsys) -> None:
    # when the matrix is asked for
    out = _run(capsys, "roles", "--doc")
    # then it is exactly what roles.py generates
    assert out == matrix_markdown()


def test_roles_doc_write_writes_docs_roles_md(settings, tmp_path, capsys) -> None:
    # given a project directory
    settings.PROJECT_DIR = tmp_path
    # when the document is written
    out = _run(capsys, "roles", "--doc", "--write")
    # then docs/roles.md holds the matrix
    assert (tmp_path / "docs" / "roles.md").read_text(encoding="utf-8") == matrix_markdown()
    assert out == f"wrote {tmp_path / 'docs' / 'roles.md'}\n"


def test_roles_sync_reports_every_role(capsys) -> None:
    # when groups are synced from the command line
    out = _run(capsys, "roles", "--sync")
    # then one line per role names its group
    assert [line.split()[:2] for line in out.splitlines()] == [
        [role, role_group_name(role)] for role in ROLES
    ]


def test_token_create_prints_the_secret_once_and_list_never_shows_it(make_user, capsys) -> None:
    # given a user
    make_user("operations", username="erp-bot")
    # when a token is created, then listed
    created = _run(capsys, "token", "create", "erp-bot", "--name", "ERP", "--expires", "30")
    listed = _run(capsys, "token", "list", "erp-bot")
    # then the secret printed at creation authenticates, and the listing does not contain it
    secret = created.splitlines()[-1]
    token = services.authenticate_token(secret)
    assert token is not None
    assert token.name == "ERP"
    assert secret not in listed
    assert re.search(rf"^\s*{token.pk}\s+ERP\s+{token.prefix}\s+active\s", listed, re.MULTILINE)
    entry = AuditEntry.objects.get(action="api_token.created")
    assert (entry.source, entry.actor_id) == ("cli", None)
    assert entry.actor_name.startswith("cli")


def test_token_create_with_zero_days_never_expires(make_user, capsys) -> None:
    make_user("operations", username="erp-bot")
    _run(capsys, "token", "create", "erp-bot", "--expires", "0")
    assert ApiToken.objects.get().expires_at is None


def test_token_revoke_stops_the_token(make_user, capsys) -> None:
    # given a token
    user = make_user("operations", username="erp-bot")
    issued = services.create_token(user=user, name="erp", expires_in_days=30, actor=user)
    # when revoked from the command line
    out = _run(capsys, "token", "revoke", str(issued.token.pk))
    # then it no longer authenticates and shows as revoked
    assert services.authenticate_token(issued.secret) is None
    assert out == f"token #{issued.token.pk} “erp” of erp-bot revoked\n"
    assert " revoked " in _run(capsys, "token", "list", "erp-bot")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["token", "create", "nobody"], "用户 nobody 不存在"),
        (["token", "list", "nobody"], "用户 nobody 不存在"),
        (["token", "revoke", "999999"], "令牌 #999999 不存在"),
        (["token", "create", "erp-bot", "--expires", "9999"], "有效期须在 1 到 3650 天之间"),
    ],
)
def test_token_command_errors_are_reported_not_raised(make_user, args: list[str], message: str) -> None:
    make_user("operations", username="erp-bot")
    with pytest.raises(CommandError, match=message):
        call_command(*args)


def test_setup_creates_admin_with_a_private_password_file_and_keeps_it(private_var, capsys) -> None:
    # given an installation without an admin
    # when setup runs twice
    first = _run(capsys, "setup", "--no-demo")
    second = _run(capsys, "setup", "--no-demo")
    # then the admin superuser exists, its password is printed both times and stored with mode 600
    login_file = private_var / "admin-login.txt"
    password = re.search(r"password: (\S+)", login_file.read_text()).group(1)
    admin = User.objects.get(username="admin")
    assert admin.is_superuser
    assert admin.is_staff
    assert admin.check_password(password)
    assert oct(login_file.stat().st_mode & 0o777) == "0o600"
    for out in (first, second):
        assert "username: admin" in out
        assert f"password: {password}" in out
        assert "URL:      http://127.0.0.1:8000/admin/" in out
    assert "created superuser admin" in first
    assert "kept superuser admin" in second
    assert (private_var / "static" / "admin").is_dir()


def test_setup_does_not_print_a_password_that_no_longer_works(private_var, capsys) -> None:
    # given an admin whose password was changed after setup
    _run(capsys, "setup", "--no-demo")
    admin = User.objects.get(username="admin")
    admin.set_password("changed-by-the-owner-1")
    admin.save()
    # when setup runs again
    out = _run(capsys, "setup", "--no-demo")
    # then the stale password is not shown
    assert "password: (not stored; set it with `shopops changepassword admin`)" in out


def test_setup_loads_the_demo_into_an_empty_catalog_only(private_var, capsys) -> None:
    # when setup runs on an empty catalog, then again
    first = _run(capsys, "setup")
    second = _run(capsys, "setup")
    # then the demo is loaded once, its users exist, and the admin keeps its superuser password
    assert "demo data loaded (seed 42)" in first
    assert "catalog not empty: demo skipped" in second
    assert User.objects.filter(username__in=list(ROLES)).count() == len(ROLES)
    assert User.objects.get(username="admin").is_superuser


def test_serve_runs_granian_as_wsgi_with_static_and_media_mounted(settings, tmp_path) -> None:
    # given where static files and uploads live
    settings.STATIC_ROOT = tmp_path / "static"
    settings.MEDIA_ROOT = tmp_path / "media"
    # when the server command line is built
    command = serve.granian_command(host="0.0.0.0", port=8080, workers=2, threads=8)
    # then granian serves the WSGI app and both folders
    assert command[:3] == [sys.executable, "-m", "granian"]
    assert command[-1] == "shopops.wsgi:application"
    options = command[3:-1]

    def values(flag: str) -> list[str]:
        return [options[index + 1] for index, option in enumerate(options) if option == flag]

    assert values("--interface") == ["wsgi"]
    assert values("--host") == ["0.0.0.0"]
    assert values("--port") == ["8080"]
    assert values("--workers") == ["2"]
    assert values("--blocking-threads") == ["8"]
    routes = values("--static-path-route")
    mounts = values("--static-path-mount")
    assert routes == ["/static", "/media"]
    assert mounts == [str(tmp_path / "static"), str(tmp_path / "media")]


def test_serve_sees_no_pending_migrations_on_a_migrated_database() -> None:
    assert serve.pending_migrations() == 0
    assert serve.display_host("0.0.0.0") == "127.0.0.1"


def test_worker_starts_the_huey_consumer(monkeypatch, capsys) -> None:
    # given the consumer replaced at the process edge
    started = {}
    monkeypatch.setattr(worker, "call_command", lambda name, **options: started.update(name=name, **options))
    # when the worker command runs
    out = _run(capsys, "worker", "--workers", "3")
    # then run_huey is started with the chosen workers
    assert started == {"name": "run_huey", "workers": 3, "worker_type": "thread"}
    assert out.startswith("worker: 3 thread(s), queue: ")
