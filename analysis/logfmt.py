"""logfmt: `key=value key2="quoted value"` lines, as Go's logfmt and Loki's `| logfmt` read them."""

from __future__ import annotations

import json
import re

__all__ = ["is_logfmt", "parse_logfmt", "unquote"]

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
    return {found["key"]: unquote(found["value"]) for found in _PAIR.finditer(line)}


def unquote(value: str) -> str:
    if not value.startswith('"'):
        return value
    try:
        text = json.loads(value)
    except ValueError:
        return value[1:-1]
    return text if isinstance(text, str) else value[1:-1]
