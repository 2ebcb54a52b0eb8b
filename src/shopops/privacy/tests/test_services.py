import datetime as dt
import io
import json
import zipfile
from collections import defaultdict
from decimal import Decimal

import pytest
import time_machine
from django.db import connection
from django.utils import timezone
from python_calamine import CalamineWorkbook

from shopops.aftersales.models import AfterSaleCase, CaseKind
from shopops.aftersales.tests.factories import apply
from shopops.analytics import pipeline
from shopops.analytics.metrics import compute
from shopops.core.crypto import decrypt
from shopops.core.errors import Conflict, InvalidInput, NotFound
from shopops.core.models import AuditEntry
from shopops.customers.models import Customer, CustomerAccount
from shopops.customers.services import phone_hash
from shopops.orders.models import Order, OrderLine, OrderStatus
from shopops.privacy import services
from shopops.privacy.models import Erasure, RequestKind, RequestStatus
from shopops.privacy.tests.factories import (
    PHONE,
    create_customer,
    create_person,
    create_request,
    give_order,
    verified,
)

pytestmark = pytest.mark.django_db


def transaction_figures() -> dict[str, object]:
    """Order count, GMV, refunds and per shop/day sums, by plain Python over the order rows."""
    rows = list(
        Order.objects.values(
            "pk",
            "external_id",
            "shop_id",
            "paid_at",
            "paid_amount",
            "refunded_amount",
            "is_valid",
            "customer_id",
            "placed_at",
        )
    )
    per_shop_day: dict[tuple[int, str], Decimal] = defaultdict(Decimal)
    for row in rows:
        if row["is_valid"] and row["paid_at"]:
            per_shop_day[(row["shop_id"], timezone.localtime(row["paid_at"]).date().isoformat())] += row[
                "paid_amount"
            ]
    lines = sorted(
        OrderLine.objects.values_list("order_id", "line_no", "sku_id", "merchant_code", "quantity", "amount")
    )
    return {
        "orders": len(rows),
        "gmv": sum((row["paid_amount"] for row in rows if row["is_valid"]), Decimal(0)),
        "refunds": sum((row["refunded_amount"] for row in rows), Decimal(0)),
        "case_refunds": sum((case.refunded_amount for case in AfterSaleCase.objects.all()), Decimal(0)),
        "per_shop_day": dict(per_shop_day),
        "records": sorted(
            (row["pk"], row["external_id"], row["customer_id"], row["placed_at"]) for row in rows
        ),
        "lines": lines,
        "buyers": len({row["customer_id"] for row in rows if row["customer_id"]}),
    }


def raw_rows(sql: str, params: list[object]) -> list[tuple[object, ...]]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return list(cursor.fetchall())


def test_deletion_anonymises_the_person_and_keeps_every_transaction_figure():
    # given a customer with orders in two shops, a refunded case and a parcel, and another customer
    person = create_person()
    other = create_customer(phone="13900001111", name="李四", email="lisi@example.com")
    give_order(other, person.shops[0], paid_at=timezone.now() - dt.timedelta(days=5), price="88.00")
    before = transaction_figures()
    assert before["orders"] == 4
    assert before["refunds"] == Decimal("30.00")
    request = verified(create_request(person.customer, kind=RequestKind.DELETE))
    # when the deletion is completed
    done = services.complete_request(actor=None, request_id=request.pk)
    # then every transaction figure is the same, computed the same way
    assert transaction_figures() == before
    assert done.status == RequestStatus.COMPLETED
    assert done.requester == "张**"
    assert done.requester_contact == ""
    # and the personal values are gone from the database rows themselves
    customer_row = raw_rows(
        "SELECT name, phone, phone_hash, phone_last4, email, email_hash, birthday "
        "FROM customers_customer WHERE id = %s",
        [person.customer.pk],
    )
    assert customer_row == [("", "", "", "", "", "", None)]
    buyer_ids = [
        row[0]
        for row in raw_rows(
            "SELECT buyer_id FROM customers_customeraccount WHERE customer_id = %s", [person.customer.pk]
        )
    ]
    assert len(buyer_ids) == 1
    assert buyer_ids[0].startswith("anon-")
    assert "zhang" not in buyer_ids[0]
    order_rows = raw_rows(
        "SELECT buyer_id, buyer_nick, buyer_nick_hash, buyer_email, receiver_name, receiver_phone, "
        "receiver_phone_hash, receiver_phone_last4, receiver_province, receiver_city, receiver_district, "
        "receiver_address, receiver_postcode, receiver_hash, buyer_message FROM orders_order "
        "WHERE customer_id = %s",
        [person.customer.pk],
    )
    assert len(order_rows) == 3
    for row in order_rows:
        assert str(row[0]).startswith("anon-")
        # the receiver name is encrypted at rest: the column holds a token, which decrypts to 已删除
        assert decrypt(str(row[4])) == "已删除"
        assert row[1:4] + row[5:] == ("", "", "", "", "", "", "浙江省", "杭州市", "", "", "", "", "")
    case_row = raw_rows(
        "SELECT description, decision_note FROM aftersales_aftersalecase WHERE id = %s", [person.case.pk]
    )
    assert case_row == [("（已删除）", "已电话 138****5678 沟通")]
    assert raw_rows("SELECT note FROM fulfillment_shipment WHERE id = %s", [person.shipment.pk]) == [
        ("收件人：已删除 138****5678",)
    ]
    assert raw_rows(
        "SELECT description FROM fulfillment_trackingevent WHERE shipment_id = %s", [person.shipment.pk]
    ) == [("已签收，签收人：已删除",)]
    # and the other customer is untouched
    other.refresh_from_db()
    assert (other.name, other.phone, other.phone_hash) == ("李四", "13900001111", phone_hash("13900001111"))
    assert Order.objects.get(customer=other).receiver_name == "李四"
    # and the person can no longer be found by phone, and the erasure is recorded and audited
    assert not Customer.objects.filter(phone_hash=phone_hash(PHONE)).exists()
    erasure = Erasure.objects.get(customer=person.customer)
    assert erasure.reason == "request"
    assert erasure.request_id == request.pk
    assert erasure.rows_changed == 1 + 1 + 3 + 1 + 2
    assert (
        AuditEntry.objects.filter(action="customer.anonymised", object_id=str(person.customer.pk)).count()
        == 1
    )


def test_deletion_keeps_the_datacenter_figures(settings, tmp_path):
    # given a customer's orders synced into the analytics warehouse
    settings.ANALYTICS_DIR = tmp_path / "analytics"
    person = create_person()
    start, end = (timezone.localdate() - dt.timedelta(days=60), timezone.localdate())
    pipeline.rebuild()
    overview_before = compute.overview(start, end).as_dict()
    customers_before = compute.customers(start, end).as_dict()
    assert any(kpi["value"] for kpi in overview_before["kpis"] if kpi["code"] == "paid_amount")
    # when the person is anonymised and the warehouse rebuilt from the database
    services.anonymise_customer(actor=None, customer=person.customer, reason="request")
    pipeline.rebuild()
    # then the 数据中心 overview and customer figures are identical
    assert compute.overview(start, end).as_dict() == overview_before
    assert compute.customers(start, end).as_dict() == customers_before


def test_anonymisation_is_idempotent():
    # given an anonymised customer
    person = create_person()
    first = services.anonymise_customer(actor=None, customer=person.customer, reason="request")
    assert first > 0
    snapshot = list(
        Order.objects.filter(customer=person.customer).order_by("pk").values_list("buyer_id", "receiver_name")
    )
    # when it is anonymised again
    second = services.anonymise_customer(actor=None, customer=person.customer, reason="request")
    # then nothing changes (the tokens stay the ones given the first time)
    assert second == 0
    assert (
        list(
            Order.objects.filter(customer=person.customer)
            .order_by("pk")
            .values_list("buyer_id", "receiver_name")
        )
        == snapshot
    )
    assert Erasure.objects.get(customer=person.customer).rows_changed == first
    assert AuditEntry.objects.filter(action="customer.anonymised").count() == 1


def test_deletion_is_refused_while_an_after_sales_case_is_open():
    # given a customer whose second order has a case waiting for review
    person = create_person()
    apply(person.orders[1], kind=CaseKind.REFUND_ONLY, requested_amount=Decimal("10.00"))
    request = verified(create_request(person.customer, kind=RequestKind.DELETE))
    # when the deletion is completed
    with pytest.raises(Conflict) as refused:
        services.complete_request(actor=None, request_id=request.pk)
    # then it is refused in Chinese and nothing changed
    assert refused.value.message == "客户还有1 个售后单尚未处理完，处理完后才能删除个人信息"
    request.refresh_from_db()
    person.customer.refresh_from_db()
    assert request.status == RequestStatus.PROCESSING
    assert person.customer.phone == PHONE
    assert not Erasure.objects.exists()


def test_deletion_is_refused_while_an_order_is_unshipped():
    person = create_person()
    give_order(
        person.customer, person.shops[0], paid_at=timezone.now(), price="10.00", status=OrderStatus.PAID
    )
    with pytest.raises(Conflict, match="1 个订单尚未发货完成"):
        services.anonymise_customer(actor=None, customer=person.customer, reason="request")


def test_export_holds_each_apps_section_in_json_and_xlsx():
    # given a copy request of a customer with orders, a case and a parcel
    person = create_person()
    request = verified(create_request(person.customer, kind=RequestKind.ACCESS))
    # when it is completed and downloaded
    services.complete_request(actor=None, request_id=request.pk)
    handle, name = services.open_export(actor=None, request_id=request.pk)
    with handle:
        content = handle.read()
    # then the zip has the JSON and the workbook with a section per app, in readable labels
    assert name == f"personal-data-{request.pk}.zip"
    bundle = zipfile.ZipFile(io.BytesIO(content))
    assert sorted(bundle.namelist()) == ["personal-data.json", "personal-data.xlsx"]
    sections = json.loads(bundle.read("personal-data.json"))
    assert list(sections)[:2] == ["客户", "平台身份"]
    assert {"订单", "订单明细", "售后单", "发货单", "物流轨迹"} <= set(sections)
    assert sections["客户"] == [
        {
            "姓名/昵称": "张三",
            "手机号": PHONE,
            "邮箱": "zhangsan@example.com",
            "生日": "1990-05-17",
            "黑名单": "否",
            "首单时间": sections["客户"][0]["首单时间"],
            "最近下单": sections["客户"][0]["最近下单"],
            "创建时间": sections["客户"][0]["创建时间"],
        }
    ]
    assert sorted(row["平台订单号"] for row in sections["订单"]) == sorted(
        order.external_id for order in person.orders
    )
    assert {row["订单状态"] for row in sections["订单"]} == {"交易成功"}
    assert sections["售后单"][0]["类型"] == "仅退款"
    assert sections["物流轨迹"][0]["描述"] == "已签收，签收人：张三"
    workbook = CalamineWorkbook.from_filelike(io.BytesIO(bundle.read("personal-data.xlsx")))
    assert set(workbook.sheet_names) == set(sections)
    header, *rows = workbook.get_sheet_by_name("订单").to_python()
    numbers = sorted(row[header.index("平台订单号")] for row in rows)
    assert numbers == sorted(order.external_id for order in person.orders)
    # and the download is audited
    assert (
        AuditEntry.objects.filter(
            action="personal_data_request.export_downloaded", object_id=str(request.pk)
        ).count()
        == 1
    )


def test_correction_changes_the_profile_and_the_audit_keeps_no_values():
    # given a correction request for a new phone number and name
    person = create_person()
    request = verified(
        create_request(
            person.customer, kind=RequestKind.CORRECT, corrections={"phone": "13700002222", "name": "张三丰"}
        )
    )
    # when it is completed
    done = services.complete_request(actor=None, request_id=request.pk)
    # then the profile and its phone hash follow, and the request keeps only the field names
    person.customer.refresh_from_db()
    assert (person.customer.name, person.customer.phone) == ("张三丰", "13700002222")
    assert person.customer.phone_hash == phone_hash("13700002222")
    assert done.corrections == {"phone": "", "name": ""}
    assert done.result == "已更正 2 项"
    entries = AuditEntry.objects.filter(object_id__in=[str(person.customer.pk), str(request.pk)])
    assert entries.filter(action="customer.corrected").count() == 1
    for entry in entries:
        assert "13700002222" not in json.dumps(entry.changes, ensure_ascii=False)
        assert "张三丰" not in json.dumps(entry.changes, ensure_ascii=False)


def test_a_correction_without_values_or_of_other_fields_is_refused():
    person = create_person()
    with pytest.raises(InvalidInput) as empty:
        create_request(person.customer, kind=RequestKind.CORRECT, corrections={})
    assert empty.value.fields == {"corrections": "至少填写一项"}
    with pytest.raises(InvalidInput) as other:
        create_request(person.customer, kind=RequestKind.CORRECT, corrections={"is_blacklisted": "0"})
    assert other.value.fields == {"is_blacklisted": "不可更正"}


def test_workflow_steps_follow_the_order_and_each_is_audited():
    # given a new request, received 3 days ago
    person = create_person()
    received = timezone.now() - dt.timedelta(days=3)
    request = create_request(person.customer, kind=RequestKind.ACCESS, received_at=received)
    assert request.due_at == received + dt.timedelta(days=15)
    # when it is completed before the identity is verified, it is refused
    with pytest.raises(Conflict, match="请求当前为“已受理”，不能改为“已完成”"):
        services.complete_request(actor=None, request_id=request.pk)
    # and a rejection needs a reason
    with pytest.raises(InvalidInput):
        services.reject_request(actor=None, request_id=request.pk, reason=" ")
    services.start_verification(actor=None, request_id=request.pk)
    services.reject_request(actor=None, request_id=request.pk, reason="无法核验身份")
    with pytest.raises(Conflict):
        services.start_verification(actor=None, request_id=request.pk)
    # then each step left an audit entry
    actions = list(
        AuditEntry.objects.filter(object_id=str(request.pk), content_type__model="personaldatarequest")
        .order_by("pk")
        .values_list("action", flat=True)
    )
    assert actions == [
        "personal_data_request.received",
        "personal_data_request.verifying",
        "personal_data_request.rejected",
    ]


def test_due_days_follow_the_setting(settings):
    settings.PRIVACY_REQUEST_DUE_DAYS = 10
    person = create_person()
    request = create_request(person.customer, kind=RequestKind.ACCESS)
    assert request.due_at - request.received_at == dt.timedelta(days=10)


def test_the_customer_is_found_by_phone_buyer_id_or_profile():
    person = create_person()
    account = CustomerAccount.objects.get(customer=person.customer)
    assert services.find_customer(phone="+86 138 1234 5678") == person.customer
    assert services.find_customer(buyer_id=account.buyer_id) == person.customer
    assert services.find_customer(customer_id=person.customer.pk) == person.customer
    with pytest.raises(NotFound):
        services.find_customer(phone="13999999999")
    with pytest.raises(InvalidInput):
        services.find_customer(phone="138****5678")


def test_retention_anonymises_customers_inactive_beyond_the_period(settings):
    # given a customer who last ordered 3 years and 2 days ago and one who ordered last month
    start = dt.datetime(2023, 3, 1, 10, 0, tzinfo=dt.UTC)
    with time_machine.travel(start, tick=False):
        old = create_person().customer
    with time_machine.travel(start + dt.timedelta(days=3 * 365 + 2 - 30), tick=False):
        recent = create_customer(phone="13600003333", name="王五")
        give_order(recent, Order.objects.first().shop, paid_at=timezone.now(), price="9.90")
    with time_machine.travel(start + dt.timedelta(days=3 * 365 + 2), tick=False):
        # when the retention rule runs dry, then for real
        dry = services.apply_retention(actor=None, dry_run=True)
        assert (dry.due, dry.anonymised) == (1, 0)
        assert Customer.objects.get(pk=old.pk).phone == PHONE
        result = services.apply_retention(actor="job")
        # then only the inactive customer is anonymised, once
        assert (result.due, result.anonymised, result.skipped) == (1, 1, 0)
        assert Customer.objects.get(pk=old.pk).phone == ""
        assert Customer.objects.get(pk=recent.pk).phone == "13600003333"
        assert Erasure.objects.get(customer=old).reason == "retention"
        assert services.apply_retention(actor="job").due == 0
    # and a shorter period set in the settings takes the recent customer too
    settings.PRIVACY_RETENTION_DAYS = 10
    with time_machine.travel(start + dt.timedelta(days=3 * 365 + 2), tick=False):
        assert services.apply_retention(actor="job", dry_run=True).due == 1


def test_the_command_and_the_nightly_job_apply_the_retention_rule(settings):
    # given a customer whose last order is older than a 5-day retention period
    from io import StringIO

    from django.core.management import call_command

    from shopops.privacy import tasks

    person = create_person()
    settings.PRIVACY_RETENTION_DAYS = 5
    # when the command runs dry
    out = StringIO()
    call_command("retention", "--dry-run", stdout=out)
    # then it counts without changing anything
    assert out.getvalue().strip() == "retention 5 days: 1 customer(s) due (dry run, nothing changed)"
    assert Customer.objects.get(pk=person.customer.pk).phone == PHONE
    # and the nightly job anonymises the customer
    tasks.apply_retention.call_local()
    assert Customer.objects.get(pk=person.customer.pk).phone == ""
    assert Erasure.objects.get(customer=person.customer).reason == "retention"


def test_a_merge_moves_the_requests_to_the_kept_profile():
    from shopops.privacy.customer_merge import merged

    person = create_person()
    duplicate = create_customer(phone="13500004444", name="张三")
    row = create_request(duplicate, kind=RequestKind.ACCESS)
    merged(duplicate, person.customer)
    row.refresh_from_db()
    assert row.customer == person.customer
