import base64
import importlib
import io

import pytest
from cryptography.fernet import Fernet
from django.core.exceptions import FieldError
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.db.migrations.loader import MigrationLoader
from django.test import Client, override_settings
from django.urls import reverse

from shopops.catalog.tests.factories import create_shop
from shopops.core import crypto
from shopops.core.pii import mask
from shopops.customers.models import Customer
from shopops.customers.services import email_hash, nick_hash
from shopops.orders.models import Order
from shopops.orders.tests.test_queries import make_order

KEY_A = Fernet.generate_key().decode()
KEY_B = Fernet.generate_key().decode()


def raw(table: str, column: str) -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {column} FROM {table} ORDER BY id")  # noqa: S608 - test names only
        return [row[0] for row in cursor.fetchall()]


def fernet_decrypt(key: str, stored: str) -> str:
    # independent of core.crypto: split the stored form by hand and decrypt with the cryptography library
    prefix, kid, token = stored.split(":", 2)
    assert (prefix, len(kid)) == ("fe1", 8)
    return Fernet(key.encode()).decrypt(token.encode()).decode()


@pytest.fixture
def keys_a():
    with override_settings(FIELD_KEYS=[KEY_A]):
        yield


def test_columns_hold_tokens_only_and_the_orm_reads_clear_text(db, keys_a):
    # given
    customer = Customer.objects.create(name="张三", phone="13800131234", email="zhang@example.com")
    order = make_order(shop=create_shop(code="crypto-1"), buyer_nick="小明", buyer_email="m@example.com")
    # then the database holds Fernet tokens of key A, nothing readable
    stored = {column: raw("customers_customer", column)[0] for column in ("name", "phone", "email")}
    assert {column: fernet_decrypt(KEY_A, value) for column, value in stored.items()} == {
        "name": "张三",
        "phone": "13800131234",
        "email": "zhang@example.com",
    }
    assert not any("张三" in value or "1380013" in value or "example" in value for value in stored.values())
    order_columns = ("buyer_nick", "buyer_email", "receiver_name", "receiver_phone", "receiver_address")
    assert [fernet_decrypt(KEY_A, raw("orders_order", column)[0]) for column in order_columns] == [
        "小明",
        "m@example.com",
        "张三",
        "13800131234",
        "浙江省杭州市西湖区文三路100号",
    ]
    # and the same value encrypts differently each time (random IV)
    again = Customer.objects.create(name="张三")
    assert raw("customers_customer", "name")[1] != stored["name"]
    # when read back through the ORM
    customer.refresh_from_db()
    order.refresh_from_db()
    assert (customer.name, customer.phone, customer.email, customer.phone_last4) == (
        "张三",
        "13800131234",
        "zhang@example.com",
        "1234",
    )
    assert (order.receiver_name, order.buyer_nick) == ("张三", "小明")
    assert Customer.objects.filter(pk=again.pk).values_list("name", flat=True).get() == "张三"
    # the searchable companions are kept by the field: phone last four, e-mail and nick hashes
    assert Customer.objects.get(email_hash=email_hash(" Zhang@Example.com")) == customer
    assert Order.objects.get(buyer_nick_hash=nick_hash("小明")) == order
    # masking works on the decrypted value
    assert (
        str(mask(Customer.PII_FIELDS["phone"], customer.phone)),
        str(mask(Customer.PII_FIELDS["name"], customer.name)),
    ) == (
        "138****1234",
        "张**",
    )


def test_update_and_bulk_update_encrypt_too(db, keys_a):
    first = Customer.objects.create(name="甲")
    second = Customer.objects.create(name="乙")
    Customer.objects.filter(pk=first.pk).update(name="丙")
    second.name = "丁"
    Customer.objects.bulk_update([second], ["name"])
    Customer.objects.bulk_create([Customer(name="戊", phone="13900135678")])
    assert [fernet_decrypt(KEY_A, value) for value in raw("customers_customer", "name")] == ["丙", "丁", "戊"]
    assert list(Customer.objects.order_by("pk").values_list("name", "phone_last4")) == [
        ("丙", ""),
        ("丁", ""),
        ("戊", "5678"),
    ]


def test_empty_values_stay_queryable_and_value_lookups_are_refused(db, keys_a):
    Customer.objects.create(name="张三")
    Customer.objects.create(name="")
    assert raw("customers_customer", "name")[1] == ""
    assert Customer.objects.filter(name="").count() == 1
    assert Customer.objects.exclude(name="").count() == 1
    with pytest.raises(crypto.FieldDecryptionError, match="摘要字段"):
        list(Customer.objects.filter(name="张三"))
    with pytest.raises(FieldError):
        list(Customer.objects.filter(name__icontains="张"))
    with pytest.raises(FieldError):
        list(Order.objects.filter(receiver_phone__endswith="1234"))


def test_rotation_re_encrypts_every_column_and_the_old_key_can_go(db):
    # given data written with key A
    with override_settings(FIELD_KEYS=[KEY_A]):
        for number in range(5):
            Customer.objects.create(name=f"客户{number}", phone=f"1380013000{number}", email="")
        make_order(shop=create_shop(code="crypto-2"), buyer_nick="小明")
    kid_a, kid_b = crypto.key_id(KEY_A), crypto.key_id(KEY_B)
    # when B is put first and A kept to decrypt
    with override_settings(FIELD_KEYS=[KEY_B, KEY_A]):
        before = io.StringIO()
        call_command("keys", "status", stdout=before)
        assert f"customers_customer.name\t0\t{kid_a}=5\t0\t0\t0" in before.getvalue()
        assert "customers_customer.email\t0\t0\t0\t0\t5" in before.getvalue()
        # new writes use B while A is still there
        Customer.objects.create(name="新客户")
        rotated = io.StringIO()
        call_command("keys", "rotate", "--batch-size", "2", stdout=rotated)
        again = io.StringIO()
        call_command("keys", "rotate", stdout=again)
        after = io.StringIO()
        call_command("keys", "status", stdout=after)
    # then every value was re-encrypted once, in batches of two, and a second run has nothing to do
    assert "customers_customer.name\t5 re-encrypted" in rotated.getvalue()
    assert "customers_customer.phone\t5 re-encrypted" in rotated.getvalue()
    assert "orders_order.buyer_nick\t1 re-encrypted" in rotated.getvalue()
    assert "rotated: 0 value(s)" in again.getvalue()
    assert "customers_customer.name\t6\t0\t0\t0\t0" in after.getvalue()
    assert "every encrypted value uses the current key" in after.getvalue()
    names = raw("customers_customer", "name")
    assert {value.split(":")[1] for value in names} == {kid_b}
    assert [fernet_decrypt(KEY_B, value) for value in names] == [*[f"客户{n}" for n in range(5)], "新客户"]
    # and with A removed everything still reads
    with override_settings(FIELD_KEYS=[KEY_B]):
        assert list(Customer.objects.order_by("pk").values_list("name", flat=True))[:2] == ["客户0", "客户1"]
        assert Order.objects.get().buyer_nick == "小明"


def test_a_missing_key_is_a_clear_error_never_garbage(db):
    with override_settings(FIELD_KEYS=[KEY_A]):
        customer = Customer.objects.create(name="张三")
    with override_settings(FIELD_KEYS=[KEY_B]):
        with pytest.raises(crypto.FieldDecryptionError, match=crypto.key_id(KEY_A)):
            Customer.objects.get(pk=customer.pk)
        status = io.StringIO()
        with pytest.raises(CommandError, match="not in SHOPOPS_FIELD_KEYS"):
            call_command("keys", "status", stdout=status)
        assert f"customers_customer.name\t0\t0\t{crypto.key_id(KEY_A)}=1\t0\t0" in status.getvalue()
        with pytest.raises(CommandError, match="rotation stopped"):
            call_command("keys", "rotate", stdout=io.StringIO())


def test_a_key_with_the_right_id_but_altered_token_is_refused(db, keys_a):
    customer = Customer.objects.create(name="张三")
    stored = raw("customers_customer", "name")[0]
    head, token = stored.rsplit(":", 1)
    data = bytearray(base64.urlsafe_b64decode(token))
    data[-40] ^= 1  # one bit of the ciphertext
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE customers_customer SET name = %s WHERE id = %s",
            [f"{head}:{base64.urlsafe_b64encode(bytes(data)).decode()}", customer.pk],
        )
    with pytest.raises(crypto.FieldDecryptionError, match="无法用密钥"):
        Customer.objects.get(pk=customer.pk)


def test_malformed_keys_are_refused_at_start():
    with (
        override_settings(FIELD_KEYS=["not-a-key"]),
        pytest.raises(crypto.FieldKeyError, match="第 1 个密钥无效"),
    ):
        crypto.keyring()
    with override_settings(FIELD_KEYS=[KEY_A, "short"]), pytest.raises(crypto.FieldKeyError, match="第 2 个"):
        crypto.keyring()


def test_embedded_mode_generates_one_key_file(tmp_path):
    with override_settings(FIELD_KEYS=None, VAR_DIR=tmp_path):
        first = crypto.keyring().current_id
        crypto.keyring.cache_clear()
        assert crypto.keyring().current_id == first
        assert (tmp_path / "field_keys").stat().st_mode & 0o777 == 0o600
        assert crypto.key_id((tmp_path / "field_keys").read_text().strip()) == first


def test_migration_helpers_encrypt_clear_rows_in_batches_and_reverse(db, keys_a):
    # given rows written in clear, as before the migration
    Customer.objects.create(name="x")
    Customer.objects.create(name="x")
    Customer.objects.create(name="")
    with connection.cursor() as cursor:
        cursor.execute("UPDATE customers_customer SET name = 'clear-' || id WHERE name <> ''")
    ids = list(Customer.objects.order_by("pk").values_list("pk", flat=True))
    field = Customer._meta.get_field("name")
    assert crypto.column_status(Customer, field).plain == 2
    # when
    assert crypto.encrypt_column(Customer, field, batch_size=1) == 2
    # then
    assert [fernet_decrypt(KEY_A, value) for value in raw("customers_customer", "name")[:2]] == [
        f"clear-{ids[0]}",
        f"clear-{ids[1]}",
    ]
    status = crypto.column_status(Customer, field)
    assert (status.by_key, status.plain, status.empty) == ({crypto.key_id(KEY_A): 2}, 0, 1)
    # and reversed
    assert crypto.decrypt_column(Customer, field, batch_size=1) == 2
    assert raw("customers_customer", "name") == [f"clear-{ids[0]}", f"clear-{ids[1]}", ""]


def test_admin_list_does_not_sort_by_encrypted_columns(db, keys_a, make_user):
    Customer.objects.create(name="张三", phone="13800131234")
    client = Client()
    client.force_login(make_user("admin"))
    page = client.get(reverse("admin:customers_customer_changelist")).content.decode()
    assert "张三" in page
    assert "?o=1" in page  # the id column sorts
    assert "?o=2" not in page  # the name column does not
    assert "?o=3" not in page


CUSTOMERS_MIGRATION = importlib.import_module("shopops.customers.migrations.0004_encrypt_personal_fields")
ORDERS_MIGRATION = importlib.import_module("shopops.orders.migrations.0005_encrypt_personal_fields")


def test_the_migrations_encrypt_clear_rows_fill_the_search_columns_and_reverse(db, keys_a):
    # given a customer and an order as they were stored before the migrations: in clear, no companions
    customer = Customer.objects.create(name="x")
    order = make_order(shop=create_shop(code="crypto-3"))
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE customers_customer SET name = '张三', phone = '13800131234', email = 'Z@example.com', "
            "phone_last4 = '', email_hash = '' WHERE id = %s",
            [customer.pk],
        )
        cursor.execute(
            "UPDATE orders_order SET buyer_nick = '小明', receiver_name = '李四', receiver_phone = '13900135678', "
            "receiver_address = '文三路1号', buyer_email = '', buyer_nick_hash = '' WHERE id = %s",
            [order.pk],
        )
    # when the migrations' data steps run
    editor = connection.schema_editor()  # only its connection is used: no DDL
    state = MigrationLoader(connection).project_state(("customers", "0004_encrypt_personal_fields"))
    CUSTOMERS_MIGRATION.encrypt_fields(state.apps, editor)
    CUSTOMERS_MIGRATION.fill_search_columns(state.apps, editor)
    state = MigrationLoader(connection).project_state(("orders", "0005_encrypt_personal_fields"))
    ORDERS_MIGRATION.encrypt_fields(state.apps, editor)
    ORDERS_MIGRATION.fill_buyer_nick_hash(state.apps, editor)
    # then the columns hold tokens of the current key, and the search columns are filled
    assert [
        fernet_decrypt(KEY_A, raw("customers_customer", column)[0]) for column in ("name", "phone", "email")
    ] == [
        "张三",
        "13800131234",
        "Z@example.com",
    ]
    order_columns = ("buyer_nick", "receiver_name", "receiver_phone", "receiver_address")
    assert [fernet_decrypt(KEY_A, raw("orders_order", column)[0]) for column in order_columns] == [
        "小明",
        "李四",
        "13900135678",
        "文三路1号",
    ]
    assert raw("orders_order", "buyer_email") == [""]
    assert Customer.objects.get(phone_last4="1234", email_hash=email_hash("z@example.com")) == customer
    assert Order.objects.get(buyer_nick_hash=nick_hash("小明")) == order
    # when reversed
    CUSTOMERS_MIGRATION.decrypt_fields(state.apps, editor)
    ORDERS_MIGRATION.decrypt_fields(state.apps, editor)
    assert [raw("customers_customer", column)[0] for column in ("name", "phone", "email")] == [
        "张三",
        "13800131234",
        "Z@example.com",
    ]
    assert [raw("orders_order", column)[0] for column in order_columns] == [
        "小明",
        "李四",
        "13900135678",
        "文三路1号",
    ]
