import re

import pytest

from shopops.core.pii import PIIKind, mask, mask_address

# address → (masked, the street-level words that must not survive)
ADDRESSES = [
    # mainland China: province / city / district stay
    ("北京市海淀区中关村大街1号", "北京市海淀区******", ["中关村", "大街", "1号"]),
    (
        "浙江省 杭州市 西湖区 文三路478号华星时代广场(310000)",
        "浙江省 杭州市 西湖区 ******",
        ["文三路", "478"],
    ),
    ("内蒙古自治区呼和浩特市新城区新华大街1号", "内蒙古自治区呼和浩特市新城区******", ["新华大街"]),
    ("文三路478号", "******", ["文三", "478"]),
    # Hong Kong and Taiwan, simplified and traditional characters
    ("香港特別行政區九龍油尖旺區彌敦道100號", "香港特別行政區九龍油尖旺區******", ["彌敦道", "100"]),
    ("台湾省台北市大安区忠孝东路四段1号", "台湾省台北市大安区******", ["忠孝", "四段"]),
    ("臺北市大安區忠孝東路四段1號", "臺北市大安區******", ["忠孝", "四段"]),
    # United States
    ("123 Elm Street, Springfield, IL 62704, USA", "******, Springfield, IL, USA", ["123", "Elm", "62704"]),
    (
        "500 Market St, Apt 4B, San Francisco, CA 94105, United States",
        "******, San Francisco, CA, United States",
        ["500", "Market", "4B", "94105"],
    ),
    ("123 Elm Street Springfield IL", "******", ["123", "Elm"]),
    ("123 Elm Street", "******", ["123", "Elm"]),
    # United Kingdom
    (
        "Flat 2, 10 Downing Street, London SW1A 2AA, United Kingdom",
        "******, London, United Kingdom",
        ["Flat", "10", "Downing", "SW1A", "2AA"],
    ),
    # Germany
    ("Hauptstraße 5, 10115 Berlin, Deutschland", "******, Berlin, Deutschland", ["Haupt", "5", "10115"]),
    (
        "c/o Müller, Lindenallee 12a, 50968 Köln, Germany",
        "******, Köln, Germany",
        ["Müller", "Linden", "12a", "50968"],
    ),
    # Hong Kong in English
    (
        "Flat A, 10/F, 88 Nathan Road, Tsim Sha Tsui, Kowloon, Hong Kong",
        "******, Tsim Sha Tsui, Kowloon, Hong Kong",
        ["Flat", "10/F", "88", "Nathan"],
    ),
]


@pytest.mark.parametrize(("address", "expected", "street_words"), ADDRESSES)
def test_address_masking_keeps_only_the_region_by_the_address_structure(address, expected, street_words):
    # given an address as a platform gives it
    # when it is masked for someone without core.view_pii
    masked = mask(PIIKind.ADDRESS, address)
    # then only the region-level parts are left, and no street word or number survives
    assert masked == expected
    for word in street_words:
        assert word not in masked


@pytest.mark.parametrize(("address", "expected", "street_words"), ADDRESSES)
def test_masked_address_never_keeps_a_digit(address, expected, street_words):
    assert not re.search(r"\d", mask_address(address))
