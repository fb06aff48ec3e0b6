"""Selectors built from tool parameters: values quoted, regex matchers checked as RE2 and bounded."""

from __future__ import annotations

import pytest

from common.errors import InputError, LimitExceeded
from servers.prometheus_mcp.promql import MAX_REGEX_LENGTH, matches, selector

POD = "=~checkout-[bcdfghjklmnpqrstvwxz2456789]{1,10}-[bcdfghjklmnpqrstvwxz2456789]{5}"


def test_a_value_written_as_a_regex_becomes_a_regex_matcher() -> None:
    assert selector("up", {"pod": "=~web-.+", "namespace": "prod"}) == 'up{namespace="prod",pod=~"web-.+"}'
    # Quoted as any value: the regex cannot end the string.
    assert selector(None, {"pod": '=~a"}or vector(1)'}) == '{pod=~"a\\"}or vector(1)"}'


@pytest.mark.parametrize(
    ("pattern", "problem"),
    [("(a)\\1", "backreference"), ("web-(?=x)", "lookahead"), ("web-[", "missing closing ]")],
)
def test_a_regex_prometheus_could_not_run_is_refused_naming_the_label(pattern: str, problem: str) -> None:
    with pytest.raises(InputError, match="regex matcher of pod") as raised:
        selector("up", {"pod": f"=~{pattern}"})
    assert problem in str(raised.value).lower() or "re2" in str(raised.value).lower()


def test_a_regex_is_bounded_and_must_select_something_without_a_metric() -> None:
    with pytest.raises(LimitExceeded, match=str(MAX_REGEX_LENGTH)):
        selector("up", {"pod": "=~" + "a" * (MAX_REGEX_LENGTH + 1)})
    with pytest.raises(InputError, match="matching every series is refused"):
        selector(None, {"pod": "=~.*"})
    assert selector(None, {"pod": "=~.+"}) == '{pod=~".+"}'


def test_label_sets_are_matched_as_prometheus_matches_them() -> None:
    labels = {"pod": "checkout-7d9f8b6c5-x2x4z", "namespace": "prod"}
    assert matches({"pod": POD, "namespace": "prod"}, labels)
    assert not matches({"pod": POD, "namespace": "dev"}, labels)
    # Anchored at both ends, as Prometheus anchors it.
    assert not matches({"pod": "=~checkout"}, labels)
    assert not matches({"pod": POD}, {"pod": "checkout-api-7d9f8b6c5-x2x4z"})
    # A label the set lacks is the empty value.
    assert matches({"team": "=~|payments"}, labels)
