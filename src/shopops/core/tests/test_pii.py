import logging

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission

from shopops.core import pii
from shopops.core.pii import MaskingLogFilter, PIIKind


@pytest.mark.parametrize(
    ("kind", "value", "expected"),
    [
        (PIIKind.NAME, "张三", "张**"),
        (PIIKind.NAME, "欧阳娜娜", "欧**"),
        (PIIKind.PHONE, "13812341234", "138****1234"),
        (PIIKind.PHONE, "'13812341234", "138****1234"),
        (PIIKind.PHONE, "+86 138 1234 1234", "138****1234"),
        (PIIKind.PHONE, "13812345678-1234", "138****5678-****"),
        (PIIKind.PHONE, "0915-1234579", "0915*****79"),
        (PIIKind.PHONE, "010-12345678", "010******78"),
        (PIIKind.ID_NUMBER, "110101199003071234", "1" + "*" * 15 + "34"),
        (PIIKind.ID_NUMBER, "11010119900307123X", "1" + "*" * 15 + "3X"),
        (PIIKind.ADDRESS, "北京市海淀区中关村大街1号", "北京市海淀区******"),
        (
            PIIKind.ADDRESS,
            "浙江省 杭州市 西湖区 文三路478号华星时代广场(310000)",
            "浙江省 杭州市 西湖区 ******",
        ),
        (PIIKind.ADDRESS, "广东省深圳市南山区科技园南区1栋", "广东省深圳市南山区******"),
        (PIIKind.ADDRESS, "内蒙古自治区呼和浩特市新城区新华大街1号", "内蒙古自治区呼和浩特市新城区******"),
        (PIIKind.ADDRESS, "上海市浦东新区张江路88号", "上海市浦东新区******"),
        (PIIKind.EMAIL, "dave@x.com", "d***@x.com"),
        (PIIKind.BANK_CARD, "6222 0212 3456 7890 123", "****0123"),
    ],
)
def test_mask_follows_the_documented_conventions(kind: PIIKind, value: str, expected: str) -> None:
    # given a personal value of a kind
    # when it is masked
    masked = pii.mask(kind, value)
    # then it matches DOMAIN.md §4
    assert masked == expected


@pytest.mark.parametrize("value", [None, ""])
def test_mask_keeps_empty_values(value: str | None) -> None:
    # given no value
    # when masked
    # then nothing is invented
    assert pii.mask(PIIKind.PHONE, value) == value


def test_masked_mobile_never_contains_the_middle_digits() -> None:
    # given a mobile number whose middle digits are unique
    value = "13856789012"
    # when masked
    masked = pii.mask(PIIKind.PHONE, value)
    # then the middle four digits are gone
    assert "5678" not in masked


@pytest.mark.django_db
def test_masked_dict_masks_only_for_users_without_view_pii(make_user) -> None:
    # given a user row and two operators, one allowed to see personal data
    user_model = get_user_model()
    row = {"username": "zhangsan", "phone": "13812341234", "email": "dave@x.com", "real_name": "张三"}
    plain_operator = make_user("operations")
    trusted_operator = make_user("admin")
    # when the row leaves the system for each of them
    masked = pii.masked_dict(plain_operator, user_model, row)
    unmasked = pii.masked_dict(trusted_operator, user_model, row)
    # then only the trusted one sees the real values
    assert masked == {
        "username": "zhangsan",
        "phone": "138****1234",
        "email": "d***@x.com",
        "real_name": "张**",
    }
    assert unmasked == row


@pytest.mark.django_db
def test_shown_masks_one_field_unless_permitted(make_user) -> None:
    # given a user record with a phone, and a viewer without then with core.view_pii
    subject = make_user(None, phone="13912345678")
    viewer = make_user(None)
    # when the phone is shown
    before_grant = pii.shown(viewer, subject, "phone")
    viewer.user_permissions.add(Permission.objects.get(codename="view_pii", content_type__app_label="core"))
    viewer = get_user_model().objects.get(pk=viewer.pk)
    after_grant = pii.shown(viewer, subject, "phone")
    # then masking depends on the permission alone
    assert before_grant == "139****5678"
    assert after_grant == "13912345678"


def test_scrub_text_masks_phones_ids_and_emails() -> None:
    # given free text holding personal data
    text = "联系 13812345678，证件 11010119900307123X，邮箱 li.lei@example.com，订单 2876543210987654321"
    # when scrubbed
    scrubbed = pii.scrub_text(text)
    # then personal data is masked and the long order number is left alone
    assert (
        scrubbed
        == "联系 138****5678，证件 1***************3X，邮箱 l***@example.com，订单 2876543210987654321"
    )


def test_log_filter_scrubs_records_before_handlers_see_them(caplog: pytest.LogCaptureFixture) -> None:
    # given a logger carrying the masking filter
    logger = logging.getLogger("shopops.tests.pii")
    masking = MaskingLogFilter()
    logger.addFilter(masking)
    try:
        # when a message with personal data is logged through %-formatting
        with caplog.at_level(logging.INFO, logger="shopops.tests.pii"):
            logger.info("买家 %s 手机 %s 邮箱 %s", "张三", "13812345678", "dave@x.com")
    finally:
        logger.removeFilter(masking)
    # then the captured record holds only masked values
    assert [record.getMessage() for record in caplog.records] == [
        "买家 张三 手机 138****5678 邮箱 d***@x.com"
    ]


def test_logging_configuration_puts_the_masking_filter_on_the_console_handler() -> None:
    # given the logging configured from settings
    console = [
        handler
        for handler in logging.getLogger().handlers
        if type(handler) is logging.StreamHandler
        and any(isinstance(f, MaskingLogFilter) for f in handler.filters)
    ]
    record = logging.LogRecord("shopops", logging.INFO, __file__, 1, "手机 %s", ("13812345678",), None)
    # when the console handler filters a record
    passed = console[0].filter(record)
    # then the record goes out masked
    assert len(console) == 1
    assert passed
    assert record.getMessage() == "手机 138****5678"
