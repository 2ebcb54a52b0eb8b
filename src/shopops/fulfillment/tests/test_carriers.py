import pytest

from shopops.fulfillment import services
from shopops.fulfillment.models import Carrier

pytestmark = pytest.mark.django_db


def test_twelve_carriers_are_seeded_with_their_aggregator_codes():
    assert list(Carrier.objects.order_by("code").values_list("code", "kuaidi100_code", "kdniao_code")) == [
        ("DBL", "debangkuaidi", "DBL"),
        ("EMS", "ems", "EMS"),
        ("HTKY", "huitongkuaidi", "HTKY"),
        ("JD", "jd", "JD"),
        ("JTSD", "jtexpress", "JTSD"),
        ("SF", "shunfeng", "SF"),
        ("STO", "shentong", "STO"),
        ("YD", "yunda", "YD"),
        ("YTO", "yuantong", "YTO"),
        ("YZPY", "youzhengguonei", "YZPY"),
        ("ZJS", "zhaijisong", "ZJS"),
        ("ZTO", "zhongtong", "ZTO"),
    ]


@pytest.mark.parametrize(
    ("written", "code"),
    [
        ("顺丰速运", "SF"),
        ("顺丰", "SF"),
        ("ＳＦ", "SF"),
        ("shunfeng", "SF"),
        ("中通快递", "ZTO"),
        ("yto", "YTO"),
        ("圆通", "YTO"),
        ("韵达速递", "YD"),
        ("J&T Express", "JTSD"),
        ("极兔", "JTSD"),
        ("京东配送", "JD"),
        ("邮政快递包裹", "YZPY"),
        ("百世汇通", "HTKY"),
        ("顺丰速运（标快）", "SF"),
    ],
)
def test_find_carrier_by_any_name_platforms_write(written, code):
    assert services.find_carrier(written).code == code


def test_unknown_carrier_is_none_or_refused():
    assert services.find_carrier("火星快递") is None
    assert services.find_carrier("") is None
    with pytest.raises(services.UnknownCarrier):
        services.resolve_carrier("火星快递")
    with pytest.raises(services.UnknownCarrier):
        services.resolve_carrier("9" * 30)


@pytest.mark.parametrize(
    ("code", "number", "warnings"),
    [
        ("SF", "SF1234567890123", []),
        ("SF", "SF123456789012", ["运单号 SF123456789012 不符合顺丰速运的常见格式（^SF\\d{13}$）"]),
        ("ZTO", "75312345678901", []),
        ("ZTO", "95312345678901", ["运单号 95312345678901 不符合中通快递的常见格式（^7[3-68]\\d{12}$）"]),
        ("YD", "312345678901234", []),
        ("JD", "JDVA12345678901", []),
        ("STO", "773012345678901", []),
        (
            "STO",
            "77 30",
            ["运单号 77 30 含有字母、数字和 - 以外的字符", "运单号 77 30 长度为 5 位，不像常见的运单号"],
        ),
        ("SF", "", ["运单号为空"]),
    ],
)
def test_tracking_number_warnings(code, number, warnings):
    assert services.validate_tracking_number(Carrier.objects.get(code=code), number) == warnings
