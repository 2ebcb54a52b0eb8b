#!/usr/bin/env bash
# The whole test command: lint, types, import contracts, migrations, then pytest on SQLite and PostgreSQL.
# Run through `make test` (which installs first); .ci/run runs exactly that.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.venv/bin:$PATH"
export DJANGO_SETTINGS_MODULE=shopops.settings
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}"

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo -n "$@"; else "$@"; fi; }

if [ "${1:-}" = "--fast" ]; then
  # the edit loop (`make test-fast`): SQLite only, no browser and no slow tests, no lint; `make test` runs them all
  shift
  echo "== tests on SQLite (fast: not slow, not browser)"
  exec pytest -n 2 --dist loadgroup -q -m "not slow and not browser" "$@"
fi

echo "== lint and types"
ruff check src bench conftest.py tests
ruff format --check src bench conftest.py tests
mypy
lint-imports
python -m django makemigrations --check --dry-run
[ "${1:-}" = "--lint-only" ] && exit 0

echo "== headless Chromium for the browser tests"
if [ ! -x /usr/bin/chromium ]; then
  as_root apt-get update -qq && as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi

echo "== PostgreSQL"
PG_URL="${PG_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/shopops}"
if ! pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then
  if command -v pg_ctlcluster >/dev/null && ls /etc/postgresql >/dev/null 2>&1; then
    as_root pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | sort -V | tail -n 1)" main start || true
    for _ in $(seq 1 30); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 1; done
  fi
fi
if ! pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then
  if [ "${CI:-}" = "true" ]; then echo "PostgreSQL is required in CI and is not reachable on 127.0.0.1:5432" >&2; exit 1; fi
  echo "warning: PostgreSQL not reachable; the PostgreSQL run is skipped outside CI" >&2
  PG_URL=""
fi

export SHOPOPS_REQUIRE_BROWSER=1
echo "== tests on SQLite"
pytest -n 2 --dist loadgroup -q "$@"
if [ -n "$PG_URL" ]; then
  echo "== tests on PostgreSQL"
  # a database_free test would only repeat the SQLite pass (see the marker in pyproject.toml)
  DATABASE_URL="$PG_URL" pytest -n 2 --dist loadgroup -q -m "not database_free" "$@"
fi
