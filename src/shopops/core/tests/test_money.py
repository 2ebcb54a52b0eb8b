from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shopops.core.errors import InvalidInput
from shopops.core.money import format_cny, split_pro_rata, to_money


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("¥1,299.00", Decimal("1299.00")),
        ("￥1，299", Decimal("1299.00")),
        ("12元", Decimal("12.00")),
        (" 0.5 ", Decimal("0.50")),
        ("-3.10", Decimal("-3.10")),
        ("19.995", Decimal("20.00")),
        (7, Decimal("7.00")),
        (Decimal("8.1"), Decimal("8.10")),
        (0.1, Decimal("0.10")),
    ],
)
def test_to_money_parses_the_formats_merchants_write(value: object, expected: Decimal) -> None:
    # given a money value as found in exports and forms
    # when parsed
    amount = to_money(value)
    # then it is an exact two-place Decimal
    assert amount == expected
    assert amount.as_tuple().exponent == -2


@pytest.mark.parametrize("value", ["abc", "", "1.2.3", "NaN", "Infinity", None, True, [1], "1e20"])
def test_to_money_refuses_invalid_values_with_the_field_named(value: object) -> None:
    # given something that is not an amount
    # when parsed
    with pytest.raises(InvalidInput) as refused:
        to_money(value, field="sale_price")
    # then the error names the field
    assert refused.value.code == "invalid"
    assert list(refused.value.fields) == ["sale_price"]


def test_split_pro_rata_gives_the_last_line_the_remainder() -> None:
    # given 10.00 off an order of three equal lines
    total = Decimal("10.00")
    # when split
    shares = split_pro_rata(total, [Decimal(1), Decimal(1), Decimal(1)])
    # then the first lines get their rounded share and the last takes what remains
    assert shares == [Decimal("3.33"), Decimal("3.33"), Decimal("3.34")]


def test_split_pro_rata_with_zero_weights_puts_everything_on_the_last_line() -> None:
    # given lines that all weigh nothing
    # when split
    shares = split_pro_rata(Decimal("5.00"), [Decimal(0), Decimal(0)])
    # then the whole amount stays on one line
    assert shares == [Decimal("0.00"), Decimal("5.00")]


def test_split_pro_rata_of_no_lines_is_empty() -> None:
    assert split_pro_rata(Decimal("5.00"), []) == []


def test_format_cny() -> None:
    assert format_cny(Decimal("1299.5")) == "¥1,299.50"
    assert format_cny(None) == "-"


cents = st.integers(min_value=0, max_value=10**9)
weights = st.lists(st.integers(min_value=0, max_value=10**7), min_size=1, max_size=20)


def _round_half_up(value: Fraction) -> int:
    floor = value.numerator // value.denominator
    return floor + 1 if value - floor >= Fraction(1, 2) else floor


@given(total_cents=cents, weight_cents=weights)
def test_split_pro_rata_sums_exactly_and_matches_rational_shares(
    total_cents: int, weight_cents: list[int]
) -> None:
    # given an amount and line weights, both in cents
    total = Decimal(total_cents) / 100
    line_weights = [Decimal(weight) / 100 for weight in weight_cents]
    weight_sum = sum(weight_cents)
    # when split
    shares = split_pro_rata(total, line_weights)
    # then every line but the last gets its exact rational share rounded half up, and the last the remainder
    expected_heads = [
        _round_half_up(Fraction(total_cents * weight, weight_sum)) if weight_sum else 0
        for weight in weight_cents[:-1]
    ]
    expected = [*expected_heads, total_cents - sum(expected_heads)]
    assert [int(share * 100) for share in shares] == expected
    assert sum(shares, Decimal(0)) == total
    assert all(share.as_tuple().exponent == -2 for share in shares)


def test_round_half_up_reference_agrees_with_decimal() -> None:
    assert _round_half_up(Fraction(5, 2)) == int(Decimal("2.5").to_integral_value(ROUND_HALF_UP))
    assert _round_half_up(Fraction(7, 3)) == 2
