"""Every app's segment conditions keep the contract the builder and the rule engine rely on."""

from __future__ import annotations

import pytest

from shopops.segments import queries

pytestmark = pytest.mark.django_db


def test_every_installed_condition_is_usable_by_the_builder_and_the_engine() -> None:
    # given the conditions of every installed app (segments, loyalty, care …)
    conditions = queries.available_conditions()
    assert {"rfm_class", "points_balance", "member_level", "marketing_consent"} <= set(conditions)
    # then each has a known kind, labelled operators and a list of choices, and the builder lists it
    for key, condition in conditions.items():
        assert condition["kind"] in {"number", "choice", "text"}, key
        assert isinstance(condition.get("choices", []), list), key
        labels = queries.CHOICE_OPERATOR_LABELS if condition["kind"] == "choice" else queries.OPERATOR_LABELS
        assert set(condition["operators"]) <= set(labels), key
        assert callable(condition["q"]), key
    assert [item["key"] for item in queries.condition_catalogue()] == list(conditions)
