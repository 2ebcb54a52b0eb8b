"""Customer import: Chinese headers, per-row errors, skip-bad-rows or refuse, idempotent re-import."""

import io

import pytest

from shopops.core import tabular
from shopops.core.models import AuditEntry
from shopops.customers.imports import IMPORT_KINDS, import_customers
from shopops.customers.models import Customer, CustomerAccount, CustomerNote
from shopops.customers.services import phone_hash, platform_buyer_id

GOOD = (
    "姓名,手机号,邮箱,平台,买家账号,生日,备注\n"
    "王芳,13812345678,wang@example.com,天猫,tb_wangfang,1990-05-20,老客户\n"
    "王芳,13812345678,,京东,13812345678,,\n"  # the same person on JD: matched by phone, one more identity
    "刘洋,,,拼多多,pdd_liu,1985/11/3,\n"
)
BAD_ROWS = (
    "姓名,手机号,邮箱,平台,买家账号,生日,备注\n"
    "张三,13900001111,,淘宝,tb_zhang,,\n"
    "坏号,138****1234,,,,,\n"  # a masked number identifies nobody
    "无平台,,,,someone,,\n"  # a buyer id without its platform
    "坏日期,13900002222,not-an-email,抖音,dy_x,1990-13-40,\n"
)


def run(text, **options):
    return import_customers(
        source=io.BytesIO(text.encode()), filename="members.csv", actor="cli:test", **options
    )


@pytest.mark.django_db
def test_import_creates_profiles_and_is_idempotent():
    first = run(GOOD)
    assert (first.created, first.updated, first.unchanged, first.errors) == (2, 1, 0, [])
    wang = Customer.objects.get(phone_hash=phone_hash("13812345678"))
    assert (wang.name, wang.email, str(wang.birthday)) == ("王芳", "wang@example.com", "1990-05-20")
    assert set(wang.accounts.values_list("platform", "kind", "buyer_id")) == {
        ("tmall", "taobao", "tb_wangfang"),
        ("jd", "jd", platform_buyer_id("13812345678")),
    }
    assert list(CustomerNote.objects.values_list("text", flat=True)) == ["老客户"]
    liu = CustomerAccount.objects.get(platform="pdd", buyer_id="pdd_liu").customer
    assert str(liu.birthday) == "1985-11-03"
    # the same file again changes nothing
    again = run(GOOD)
    assert (again.created, again.updated, again.unchanged) == (0, 0, 3)
    assert (Customer.objects.count(), CustomerAccount.objects.count(), CustomerNote.objects.count()) == (
        2,
        3,
        1,
    )
    assert AuditEntry.objects.filter(action="customers.imported").count() == 1  # nothing kept the second time
    # a changed cell updates the profile it matches (by buyer id), audited
    changed = run("平台,买家账号,邮箱\n拼多多,pdd_liu,liu@example.com\n")
    assert (changed.updated, Customer.objects.get(pk=liu.pk).email) == (1, "liu@example.com")
    assert AuditEntry.objects.filter(action="customer.updated", object_id=str(liu.pk)).exists()


@pytest.mark.django_db
def test_bad_rows_refuse_the_file_or_are_skipped():
    refused = run(BAD_ROWS)
    assert refused.is_refused
    assert Customer.objects.count() == 0
    problems = {(error.row, error.column) for error in refused.errors}
    assert problems == {(3, "手机号"), (4, "平台"), (5, "邮箱"), (5, "生日")}
    assert any("隐私号" in error.message for error in refused.errors)
    skipped = run(BAD_ROWS, mode=tabular.Mode.SKIP_BAD_ROWS)
    assert (skipped.created, skipped.skipped) == (1, 3)
    assert list(Customer.objects.values_list("name", flat=True)) == ["张三"]


@pytest.mark.django_db
def test_a_file_without_an_identifying_column_is_refused():
    with pytest.raises(tabular.ImportRefused):
        run("姓名,邮箱\n王芳,wang@example.com\n")


def test_the_import_kind_is_registered():
    assert IMPORT_KINDS == {"customers": import_customers}
