"""Regular expressions written by callers (LogQL matchers and line filters, any filter).

Python's `re` backtracks: `^(a+)+$` over 28 characters takes seconds, and the time doubles with
each character, so one query could hold a server's event loop for ever. Every pattern a caller
writes is compiled here with RE2 (`google-re2`), which matches in time linear in the text, and
whose syntax is Go's, the one Loki and Prometheus use. RE2 has no backreferences, lookaround,
atomic groups or possessive quantifiers; a pattern that uses one is an InputError naming it.
"""

from __future__ import annotations

from typing import Protocol

import re2  # type: ignore[import-untyped]  # google-re2 ships no type information

from common.errors import InputError

__all__ = ["UserPattern", "compile_user_regex"]

# Constructs RE2 refuses, by the text its error names, and what they are called.
_UNSUPPORTED = (
    ("(?<=", "a lookbehind (?<=...)"),
    ("(?<!", "a negative lookbehind (?<!...)"),
    ("(?=", "a lookahead (?=...)"),
    ("(?!", "a negative lookahead (?!...)"),
    ("(?>", "an atomic group (?>...)"),
    ("++", "a possessive quantifier (++)"),
    ("*+", "a possessive quantifier (*+)"),
    ("?+", "a possessive quantifier (?+)"),
)
_SYNTAX = (
    "Regular expressions use RE2 (Go) syntax, as Loki and Prometheus do: it matches in linear time and has "
    "no backreferences, lookaround, atomic groups or possessive quantifiers"
)


class UserPattern(Protocol):
    """The part of a compiled RE2 pattern callers use (the same methods as `re.Pattern`)."""

    def search(self, text: str) -> object | None: ...

    def fullmatch(self, text: str) -> object | None: ...


def compile_user_regex(pattern: str, *, what: str, dot_matches_newline: bool = False) -> UserPattern:
    """`pattern` compiled with RE2, or InputError naming `what` (e.g. "the line filter") and the problem.

    `dot_matches_newline` is Go's `(?s)`, which Prometheus sets for label matchers.
    """
    options = re2.Options()
    # RE2 would also print each refused pattern to stderr; the InputError says it once.
    options.log_errors = False
    options.dot_nl = dot_matches_newline
    try:
        return re2.compile(pattern, options)  # type: ignore[no-any-return]
    except re2.error as exc:
        raise InputError(_message(pattern, what, exc)) from None


def _message(pattern: str, what: str, exc: Exception) -> str:
    detail = exc.args[0] if exc.args else str(exc)
    detail = detail.decode("utf-8", "replace") if isinstance(detail, bytes) else str(detail)
    construct = next((name for text, name in _UNSUPPORTED if detail.endswith(text) or f": {text}" in detail), None)
    if construct is None and detail.endswith("(?P") and "(?P=" in pattern:
        construct = "a named backreference (?P=name)"
    if construct is None and "invalid escape sequence: \\" in detail and detail[-1:].isdigit():
        construct = f"a backreference ({detail.rsplit(' ', 1)[-1]})"
    if construct is not None:
        return (
            f"The regular expression {pattern!r} of {what} uses {construct}, which RE2 does not support. "
            f"{_SYNTAX}; rewrite it without one."
        )
    return f"The regular expression {pattern!r} of {what} is not valid: {detail}. {_SYNTAX}."
