from __future__ import annotations

import time

import pytest

from common.errors import InputError
from common.regex import compile_user_regex


def test_catastrophic_backtracking_pattern_runs_in_linear_time() -> None:
    pattern = compile_user_regex("^(a+)+$", what="the line filter |~")
    started = time.monotonic()
    assert pattern.search("a" * 5000 + "!") is None
    assert pattern.search("a" * 5000) is not None
    # Python's `re` takes seconds at 27 characters; RE2 takes microseconds at 5000.
    assert time.monotonic() - started < 0.5


@pytest.mark.parametrize(
    ("pattern", "construct"),
    [
        (r"(a)\1", r"a backreference (\1)"),
        ("(?P<x>a)(?P=x)", "a named backreference"),
        ("(?=a)", "a lookahead"),
        ("(?!a)", "a negative lookahead"),
        ("(?<=a)b", "a lookbehind"),
        ("(?<!a)b", "a negative lookbehind"),
        ("(?>a)", "an atomic group"),
        ("a++", "a possessive quantifier"),
    ],
)
def test_constructs_re2_lacks_are_input_errors_naming_them(pattern: str, construct: str) -> None:
    with pytest.raises(InputError) as caught:
        compile_user_regex(pattern, what="the label matcher pod=~")
    message = str(caught.value)
    assert f"{pattern!r} of the label matcher pod=~ uses {construct}" in message
    assert "RE2" in message


def test_a_malformed_pattern_says_what_is_wrong() -> None:
    with pytest.raises(InputError, match=r"'\(unclosed' of the line filter \|~ is not valid: missing \)"):
        compile_user_regex("(unclosed", what="the line filter |~")


def test_dot_matches_newline_only_when_asked_as_prometheus_does_for_label_matchers() -> None:
    assert compile_user_regex("a.b", what="x").fullmatch("a\nb") is None
    assert compile_user_regex("a.b", what="x", dot_matches_newline=True).fullmatch("a\nb") is not None
