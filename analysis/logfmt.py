"""logfmt: `key=value key2="quoted value"` lines, as Go's logfmt and Loki's `| logfmt` read them."""

from __future__ import annotations

import json
import re

__all__ = ["is_logfmt", "logfmt_value", "parse_logfmt", "unquote"]

_VALUE = r'(?:"[^"\\]*(?:\\.[^"\\]*)*"|[^\s"]*)'
_LINE = re.compile(rf"\s*(?:[^\s=\"]+={_VALUE}\s+)*[^\s=\"]+={_VALUE}\s*")
_PAIR = re.compile(rf"(?P<key>[^\s=\"]+)=(?P<value>{_VALUE})")


def is_logfmt(line: str) -> bool:
    """True when the whole line is key=value pairs, at least two of them (one could be prose)."""
    return _LINE.fullmatch(line) is not None and len(_PAIR.findall(line)) >= 2


def parse_logfmt(line: str) -> dict[str, str]:
    """The pairs of `line`, values unquoted; a key given twice keeps its last value.

    Pairs are read left to right, so a `k=v` inside another key's quoted value is not taken for a
    pair. Text that is not a pair is skipped, as Loki's parser does.
    """
    return {key: unquote(value) for key, value in _PAIR.findall(line)}


def logfmt_value(line: str, keys: tuple[str, ...]) -> str | None:
    """The value of the first of `keys` that `line` has, unquoted; None when it has none of them.

    Cheaper than `parse_logfmt` for one field: only that value is unquoted (the hot path of
    mining logfmt messages).
    """
    raw = dict(_PAIR.findall(line))
    for key in keys:
        if key in raw:
            return unquote(raw[key])
    return None


def unquote(value: str) -> str:
    if not value.startswith('"'):
        return value
    if "\\" not in value:
        return value[1:-1]  # no escapes: the common case, without a JSON decode
    try:
        text = json.loads(value)
    except ValueError:
        return value[1:-1]
    return text if isinstance(text, str) else value[1:-1]
