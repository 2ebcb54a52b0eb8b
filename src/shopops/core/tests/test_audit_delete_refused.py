import pytest
from django.core.management import call_command
from django.db import IntegrityError, connection, transaction

from shopops.core import audit
from shopops.core.models import AuditEntry


def _entry() -> AuditEntry:
    return audit.record(actor=None, action="thing.happened", changes={"field": ["a", "b"]})


def test_raw_sql_delete_of_one_entry_is_refused_by_the_database_trigger(db):
    # given a recorded entry
    entry = _entry()
    # when someone bypasses the ORM to delete it
    with (
        pytest.raises(IntegrityError, match="append-only"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute("DELETE FROM core_auditentry WHERE id = %s", [entry.pk])
    # then it is still there
    assert AuditEntry.objects.filter(pk=entry.pk).count() == 1


def test_raw_sql_delete_of_the_whole_table_is_refused(db):
    # given two recorded entries
    _entry()
    _entry()
    # when the whole table is deleted with a statement, not flushed
    with (
        pytest.raises(IntegrityError, match="append-only"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute("DELETE FROM core_auditentry")
    # then both are still there
    assert AuditEntry.objects.count() == 2


@pytest.mark.django_db(transaction=True)
def test_flushing_the_whole_database_still_empties_the_audit_table():
    # given a recorded entry outside any test transaction
    _entry()
    # when the database is flushed, as the test runner does after a transactional test
    call_command("flush", interactive=False, verbosity=0, inhibit_post_migrate=True)
    # then the table is empty and single deletes are refused again afterwards
    assert AuditEntry.objects.count() == 0
    entry = _entry()
    with (
        pytest.raises(IntegrityError, match="append-only"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute("DELETE FROM core_auditentry WHERE id = %s", [entry.pk])
