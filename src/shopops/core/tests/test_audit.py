import pytest
from django.contrib.auth.models import Group
from django.contrib.contenttypes.models import ContentType
from django.db import IntegrityError, connection, transaction

from shopops.core import audit
from shopops.core.context import origin
from shopops.core.models import AppendOnlyError, AuditEntry

pytestmark = pytest.mark.django_db


def test_snapshot_keeps_concrete_fields_by_attname_and_leaves_out_excluded_ones(make_user) -> None:
    # given a user (whose model excludes password and last_login from the audit)
    user = make_user(None, username="lilei", phone="13812341234")
    # when snapshotted
    data = audit.snapshot(user)
    # then secrets are left out and values are plain JSON types
    assert "password" not in data
    assert "last_login" not in data
    assert data["username"] == "lilei"
    assert data["phone"] == "13812341234"
    assert data["id"] == user.pk
    assert data["date_joined"] == user.date_joined.isoformat()


def test_snapshot_of_nothing_is_empty() -> None:
    assert audit.snapshot(None) == {}


def test_diff_lists_only_changed_keys_as_before_after_pairs() -> None:
    # given two snapshots
    before = {"name": "旧", "price": "1.00", "same": 1}
    after = {"name": "新", "price": "1.00", "same": 1, "added": True}
    # when diffed
    changes = audit.diff(before, after)
    # then unchanged keys are dropped
    assert changes == {"name": ["旧", "新"], "added": [None, True]}


def test_record_stores_actor_object_changes_and_origin(make_user) -> None:
    # given a group renamed by an operator through the API
    actor = make_user("admin", username="boss")
    group = Group.objects.create(name="临时组")
    before = audit.snapshot(group)
    group.name = "大促组"
    group.save()
    # when the change is recorded
    with origin("api", ip="10.0.0.8", request_id="abc123"):
        entry = audit.record(
            actor=actor, action="group.renamed", instance=group, before=before, reason="双11"
        )
    # then the entry holds who, what, where and the field diff
    stored = AuditEntry.objects.get(pk=entry.pk)
    assert stored.actor_id == actor.pk
    assert stored.actor_name == "boss"
    assert stored.action == "group.renamed"
    assert stored.content_type == ContentType.objects.get_for_model(Group)
    assert stored.object_id == str(group.pk)
    assert stored.object_repr == "大促组"
    assert stored.changes == {"name": ["临时组", "大促组"]}
    assert stored.reason == "双11"
    assert (stored.source, stored.ip, stored.request_id) == ("api", "10.0.0.8", "abc123")
    assert list(audit.history(group)) == [stored]


def test_record_without_a_user_names_the_system_actor() -> None:
    # given a change made by a job
    group = Group.objects.create(name="任务组")
    # when recorded with a non-user actor
    entry = audit.record(actor="job:close_unpaid", action="group.created", instance=group, before={})
    # then the actor is kept by name only
    assert entry.actor_id is None
    assert entry.actor_name == "job:close_unpaid"
    assert entry.source == "system"
    assert entry.changes == {"id": [None, group.pk], "name": [None, "任务组"]}


def _entry() -> AuditEntry:
    return audit.record(actor=None, action="thing.happened", changes={"x": [1, 2]})


def test_saving_an_existing_entry_again_is_refused() -> None:
    # given a recorded entry
    entry = _entry()
    entry.action = "thing.rewritten"
    # when saved again
    # then it is refused
    with pytest.raises(AppendOnlyError):
        entry.save()
    assert AuditEntry.objects.get(pk=entry.pk).action == "thing.happened"


def test_deleting_an_entry_through_the_orm_is_refused() -> None:
    # given a recorded entry
    entry = _entry()
    # when deleted
    with pytest.raises(AppendOnlyError):
        entry.delete()
    # then it is still there
    assert AuditEntry.objects.filter(pk=entry.pk).count() == 1


def test_bulk_deleting_entries_through_the_orm_is_refused() -> None:
    # given a recorded entry
    entry = _entry()
    # when deleted in bulk
    with pytest.raises(AppendOnlyError):
        AuditEntry.objects.filter(pk=entry.pk).delete()
    # then it is still there
    assert AuditEntry.objects.filter(pk=entry.pk).count() == 1


def test_bulk_updating_entries_through_the_orm_is_refused() -> None:
    # given a recorded entry
    entry = _entry()
    # when updated in bulk
    with pytest.raises(AppendOnlyError):
        AuditEntry.objects.filter(pk=entry.pk).update(action="thing.rewritten")
    # then it is unchanged
    assert AuditEntry.objects.get(pk=entry.pk).action == "thing.happened"


def test_raw_sql_update_is_refused_by_the_database_trigger() -> None:
    # given a recorded entry
    entry = _entry()
    # when someone bypasses the ORM
    with (
        pytest.raises(IntegrityError, match="append-only"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute("UPDATE core_auditentry SET action = %s WHERE id = %s", ["thing.rewritten", entry.pk])
    # then the database kept the original
    assert AuditEntry.objects.get(pk=entry.pk).action == "thing.happened"
