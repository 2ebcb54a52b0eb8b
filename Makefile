# Short names for what people type. `make help` lists them.
UV_VERSION := 0.13.8
TOOLS := var/tools
UV := $(TOOLS)/bin/uv
export UV_PYTHON_DOWNLOADS := never

.PHONY: help install run test test-fast lint bench screenshots

help: ## this list
	@grep -E '^[a-z-]+:.*##' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

$(UV):
	python3 -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

install: $(UV) ## install every dependency from uv.lock into .venv
	$(UV) sync --frozen --python 3.11

run: install ## install, migrate, load demo data, print the admin login and serve on http://127.0.0.1:8000
	.venv/bin/shopops setup
	.venv/bin/shopops serve

test: install ## install, then lint, type-check and run the whole test suite on SQLite and PostgreSQL
	bash scripts/test.sh

test-fast: install ## the edit loop: pytest on SQLite without the browser and slow tests, no lint (about the SQLite pass; one app: `pytest src/shopops/APP/tests`)
	bash scripts/test.sh --fast

lint: install ## ruff, mypy, import contracts, migrations check
	bash scripts/test.sh --lint-only

screenshots: install ## the gallery of the main pages in 简体中文 and English (docs/screenshots/), from a fresh demo
	.venv/bin/python scripts/screenshots.py

bench: install ## run every benchmark (see bench/README.md)
	.venv/bin/python -m bench.bench_import_products
	.venv/bin/python -m bench.bench_reservations
	.venv/bin/python -m bench.bench_import_orders
	.venv/bin/python -m bench.bench_analytics_intake
	.venv/bin/python -m bench.bench_analytics
	.venv/bin/python -m bench.bench_datacenter_pages
