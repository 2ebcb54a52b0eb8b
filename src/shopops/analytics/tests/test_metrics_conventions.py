from typing import Any

import pytest

from shopops.analytics.metrics import conventions
from shopops.analytics.metrics.conventions import ConventionError, Conventions


def test_defaults_follow_shengyi_canmou() -> None:
    assert Conventions().as_dict() == {
        "conversion_basis": "visitor",
        "aov_basis": "buyer",
        "returning_lookback_days": 365,
        "refund_window_days": 30,
        "roi_basis": "revenue",
    }


def test_without_the_setting_the_defaults_apply(settings: Any) -> None:
    # given no ANALYTICS_CONVENTIONS
    if hasattr(settings, "ANALYTICS_CONVENTIONS"):
        del settings.ANALYTICS_CONVENTIONS
    # then
    assert conventions.from_settings() == Conventions()


def test_the_setting_overrides_only_what_it_names(settings: Any) -> None:
    # given the Shopify choices
    settings.ANALYTICS_CONVENTIONS = {"conversion_basis": "session", "returning_lookback_days": None}
    # when read
    found = conventions.from_settings()
    # then
    assert found == Conventions(conversion_basis="session", returning_lookback_days=None)
    assert conventions.resolve(None) == found
    assert conventions.resolve(Conventions()) == Conventions()


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"conversion_basis": "click"}, "conversion_basis must be one of visitor, session; got 'click'"),
        ({"aov_basis": "sku"}, "aov_basis must be one of buyer, order"),
        ({"roi_basis": "profit"}, "roi_basis must be one of revenue, gross_profit"),
        (
            {"returning_lookback_days": 0},
            "returning_lookback_days must be a whole number of days ≥ 1 or None",
        ),
        ({"returning_lookback_days": "365"}, "returning_lookback_days must be a whole number"),
        ({"refund_window_days": True}, "refund_window_days must be a whole number of days ≥ 1"),
        ({"lookback": 30}, "unknown ANALYTICS_CONVENTIONS keys ['lookback']"),
    ],
)
def test_bad_settings_are_refused_with_a_clear_message(
    settings: Any, values: dict[str, object], message: str
) -> None:
    # given a wrong setting
    settings.ANALYTICS_CONVENTIONS = values
    # when read, then refused naming the key and the allowed values
    with pytest.raises(ConventionError) as raised:
        conventions.from_settings()
    assert message in str(raised.value)


def test_a_setting_that_is_not_a_dict_is_refused(settings: Any) -> None:
    settings.ANALYTICS_CONVENTIONS = ["session"]
    with pytest.raises(ConventionError, match="must be a dict"):
        conventions.from_settings()
