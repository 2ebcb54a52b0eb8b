"""The demo command on an empty database: reproducible per seed, prints its logins, loads each app in order,
skips itself once data exists. (test_demo.py shares one loaded demo between its tests.)"""

import datetime as dt

import pytest
from django.core.management import call_command
from django.db.models import Count, Max

from shopops.accounts.models import User
from shopops.catalog.demo_data import PRODUCT_COUNT, demo_fingerprint, load_demo
from shopops.catalog.models import Product, Sku
from shopops.core.management.commands.demo import demo_steps

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("clock")]
# Prices are scheduled and promoted around today: every test runs late on a leap day, so "tomorrow" is 1 March.
CLOCKS = [dt.datetime(2028, 2, 29, 23, 45, tzinfo=dt.timezone(dt.timedelta(hours=8)))]

DEMO_PASSWORD = "demo-Passw0rd-for-tests"


def test_demo_is_reproducible_for_a_seed_and_differs_across_seeds(roles) -> None:
    # given a demo built with seed 7
    load_demo(seed=7, password=DEMO_PASSWORD)
    first = demo_fingerprint()
    # when rebuilt with the same seed, then with another
    load_demo(seed=7, reset=True, password=DEMO_PASSWORD)
    second = demo_fingerprint()
    load_demo(seed=8, reset=True, password=DEMO_PASSWORD)
    third = demo_fingerprint()
    # then the same seed gives identical codes and prices
    assert first == second
    assert first != third
    assert Product.objects.count() == PRODUCT_COUNT
    assert Sku.objects.aggregate(highest=Max("id"))["highest"] is not None


def test_demo_command_prints_the_users_and_their_password(roles, settings, tmp_path, capsys) -> None:
    # given an empty catalog and a private var directory
    settings.VAR_DIR = tmp_path
    # when the command runs twice
    call_command("demo", "--seed", "3")
    first = capsys.readouterr().out
    call_command("demo")
    second = capsys.readouterr().out
    # then the first run loads and prints the demo password, the second changes nothing
    password = (tmp_path / "demo-login.txt").read_text().strip()
    assert "demo data loaded (seed 3)" in first
    assert f"password: {password}" in first
    assert User.objects.get(username="finance").check_password(password)
    assert oct((tmp_path / "demo-login.txt").stat().st_mode & 0o777) == "0o600"
    assert "catalog not empty" in second
    assert Product.objects.count() == PRODUCT_COUNT
    assert Product.objects.values("merchant_code").annotate(n=Count("id")).filter(n__gt=1).count() == 0


def test_demo_pipeline_loads_each_app_in_installed_apps_order_and_resets_in_reverse() -> None:
    # given the apps that ship a demo_data module
    # when the demo command discovers them
    labels = [step.label for step in demo_steps()]
    # then the lower layers come first, so inventory builds on the catalog and purchasing on inventory
    assert labels == [
        "catalog",
        "inventory",
        "purchasing",
        "customers",
        "orders",
        "fulfillment",
        "aftersales",
        "loyalty",
        "segments",
        "care",
        "privacy",
        "analytics",
    ]


def test_demo_only_if_empty_skips_everything_once_any_app_has_data(roles, settings, tmp_path, capsys) -> None:
    # given a catalog that is not empty
    settings.VAR_DIR = tmp_path
    load_demo(seed=1, password=DEMO_PASSWORD)
    users_before = User.objects.count()
    # when the command runs with --only-if-empty
    call_command("demo", "--only-if-empty")
    out = capsys.readouterr().out
    # then nothing is added, not even stock or users
    assert out == "catalog not empty: demo skipped\n"
    assert User.objects.count() == users_before
    assert Product.objects.count() == PRODUCT_COUNT
    assert not (tmp_path / "demo-login.txt").exists()
