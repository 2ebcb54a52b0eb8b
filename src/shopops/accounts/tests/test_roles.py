from pathlib import Path

import pytest
from django.contrib.auth.models import Group

from shopops.accounts.roles import ROLES, matrix_markdown, permissions_for, role_group_name, sync_roles

REPOSITORY = Path(__file__).resolve().parents[4]


def _granted(group: Group) -> set[str]:
    return {
        f"{app_label}.{codename}"
        for app_label, codename in group.permissions.values_list("content_type__app_label", "codename")
    }


def test_docs_roles_md_is_generated_from_the_roles() -> None:
    # given the committed document
    committed = (REPOSITORY / "docs" / "roles.md").read_text(encoding="utf-8")
    # when compared with what the code generates
    # then they match (run `shopops roles --doc --write` after changing roles.py)
    assert committed == matrix_markdown()


@pytest.mark.django_db
def test_migrate_seeds_every_role_group_with_exactly_its_permissions() -> None:
    # given the test database, built by migrate (no sync called here)
    # when the groups are read
    groups = {role: Group.objects.get(name=role_group_name(role)) for role in ROLES}
    # then each holds exactly the permissions of its role
    assert {role: _granted(group) for role, group in groups.items()} == {
        role: permissions_for(role) for role in ROLES
    }


@pytest.mark.django_db
def test_sync_roles_restores_drifted_groups_and_is_idempotent() -> None:
    # given a group whose permissions were edited by hand
    operations = Group.objects.get(name=role_group_name("operations"))
    operations.permissions.clear()
    # when synced twice
    first = sync_roles()
    group_ids = {role: group.pk for role, group in first.items()}
    second = sync_roles()
    # then permissions follow the roles again and no group is duplicated
    assert _granted(Group.objects.get(pk=operations.pk)) == permissions_for("operations")
    assert {role: group.pk for role, group in second.items()} == group_ids
    assert Group.objects.filter(name__in=[role_group_name(role) for role in ROLES]).count() == len(ROLES)


def test_history_tables_are_view_only_for_every_role() -> None:
    # given the roles
    # when their permissions are listed
    writable = {
        perm
        for role in ROLES
        for perm in permissions_for(role)
        if perm.split(".")[1].split("_", 1)[1] in {"pricehistory", "listingevent", "auditentry"}
        and not perm.split(".")[1].startswith("view_")
    }
    # then nobody may write history
    assert writable == set()


def test_only_admin_sees_full_personal_data_and_customer_service_reveals_it() -> None:
    assert {role for role in ROLES if "core.view_pii" in permissions_for(role)} == {"admin"}
    assert {role for role in ROLES if "core.reveal_pii" in permissions_for(role)} == {
        "admin",
        "customer_service",
    }
