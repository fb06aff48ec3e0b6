"""Tokens of LogQL: the lexer, Go string literals, durations and byte sizes.

Strings are Go's: "..." with Go escapes (`\\n`, `\\x41`, `\\u00e9`, octal) or `...` raw. A number
directly followed by a unit is a duration (`5m`, `1h30m`) or a byte size (`10KB`, `1.5MiB`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from common.errors import InputError
from common.timerange import LATEST_NS

__all__ = ["Token", "parse_bytes", "parse_duration_ns", "syntax_error", "tokenize", "unquote"]

_DURATION_UNITS = {"ns": 1, "us": 1_000, "µs": 1_000, "ms": 1_000_000, "s": 10**9, "m": 60 * 10**9}
_DURATION_UNITS |= {"h": 3600 * 10**9, "d": 86400 * 10**9, "w": 7 * 86400 * 10**9, "y": 365 * 86400 * 10**9}
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h|d|w|y)")
_BYTE_UNITS = {"b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12, "pb": 10**15, "eb": 10**18}
_BYTE_UNITS |= {"kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40, "pib": 2**50, "eib": 2**60}
_TOKEN = re.compile(
    r"(?P<space>\s+|\#[^\n]*)"
    r"|(?P<DURATION>(?:\d+(?:\.\d+)?(?:ns|us|µs|ms|s|m|h|d|w|y))+(?![A-Za-z0-9_]))"
    r"|(?P<BYTES>\d+(?:\.\d+)?(?:[KMGTPEkmgtpe]i?[Bb]|[Bb])(?![A-Za-z0-9_]))"
    r"|(?P<NUMBER>\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)"
    r"|(?P<IDENTIFIER>[A-Za-z_][A-Za-z0-9_]*)"
    r'|(?P<STRING>"(?:[^"\\\n]|\\.)*"|`[^`]*`)'
    r"|(?P<SYMBOL>\|=|\|~|\|>|!=|!~|!>|=~|==|>=|<=|[{}()\[\],=|><+\-*/%^])"
)
_GO_ESCAPES = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v", "\\": "\\", '"': '"'}
_ESCAPE = re.compile(r"\\(?:([abfnrtv\\\"])|x([0-9a-fA-F]{2})|u([0-9a-fA-F]{4})|U([0-9a-fA-F]{8})|([0-7]{3})|(.?))")


@dataclass(frozen=True)
class Token:
    kind: str
    text: str
    pos: int

    def is_(self, *texts: str) -> bool:
        return self.kind in ("SYMBOL", "IDENTIFIER") and self.text in texts


def tokenize(query: str) -> list[Token]:
    tokens, pos = [], 0
    while pos < len(query):
        found = _TOKEN.match(query, pos)
        if found is None:
            raise syntax_error(query, pos, f"syntax error: unexpected character {query[pos]!r}")
        if found.lastgroup != "space":
            tokens.append(Token(found.lastgroup or "", found.group(), pos))
        pos = found.end()
    tokens.append(Token("EOF", "", len(query)))
    return tokens


def syntax_error(query: str, pos: int, message: str) -> InputError:
    """Loki's wording: `parse error at line L, col C: ...`, both counted from 1."""
    line = query.count("\n", 0, pos) + 1
    col = pos - (query.rfind("\n", 0, pos) + 1) + 1
    return InputError(f"parse error at line {line}, col {col}: {message}")


def unquote(token: Token, query: str) -> str:
    body = token.text[1:-1]
    if token.text.startswith("`"):
        return body

    def replace(found: re.Match[str]) -> str:
        simple, hex2, hex4, hex8, octal, bad = found.groups()
        if simple:
            return _GO_ESCAPES[simple]
        if octal:
            return chr(int(octal, 8))
        code = hex2 or hex4 or hex8
        if code:
            return chr(int(code, 16))
        raise syntax_error(query, token.pos, f"invalid escape sequence \\{bad} in {token.text}")

    return _ESCAPE.sub(replace, body)


_LONGEST = "2562047h47m16s (about 292 years)"


def parse_duration_ns(text: str) -> int:
    """A Prometheus/Go duration (`5m`, `1h30m`, `250ms`) in nanoseconds; ValueError if it is not one."""
    parts = _DURATION_PART.findall(text)
    if not parts or "".join(number + unit for number, unit in parts) != text:
        raise ValueError(f"{text!r} is not a duration")
    ns = sum(float(number) * _DURATION_UNITS[unit] for number, unit in parts)
    if ns > LATEST_NS:
        # Go's durations are int64 nanoseconds, as Loki's: a longer one does not exist.
        raise ValueError(f"duration out of range: {text} is longer than the longest duration, {_LONGEST}")
    return round(ns)


def parse_bytes(text: str) -> float:
    """A byte size (`10KB`, `1.5MiB`, `42B`) in bytes; ValueError if it is not one."""
    found = re.fullmatch(r"(\d+(?:\.\d+)?)\s*([A-Za-z]*)", text.strip())
    unit = (found.group(2) if found else "").lower() or "b"
    if found is None or unit not in _BYTE_UNITS:
        raise ValueError(f"{text!r} is not a byte size")
    return float(found.group(1)) * _BYTE_UNITS[unit]
