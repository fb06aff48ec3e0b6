"""Variable masking of log lines: the values that differ between lines of one template.

`mask(line)` replaces every value it recognises with a typed placeholder, so that
"connection refused to 10.0.0.1:5432" and "connection refused to 10.0.0.2:5432" both read
"connection refused to <IP>". One configuration serves every source (no per-source tuning):

    <URL>       scheme://..., up to the next space or quote
    <EMAIL>     local@domain.tld
    <STR>       "double" or 'single' quoted strings; a JSON key (`"key":`) is kept as it is
    <PATH>      /a/b/c, ./a, ../a, ~/a, C:\\x\\y, \\\\server\\share
    <TS>        ISO 8601 dates and date-times (T or space, fraction, Z or offset), hh:mm:ss[.f],
                and the Common Log Format's 22/Nov/2026:10:00:00 +0000
    <UUID>      8-4-4-4-12 hex
    <IP>        IPv4 (with /prefix or :port); IPv6 full, ::-compressed, or [addr]:port
    <HEX>       0x..., and ids of 8 or more hex digits holding at least one digit and one letter
    <DURATION>  12ms, 3.5s, 1h30m, 2min, 250us
    <NUM>       integers and decimals (1,234.5, 1e9, 1.2.3), bare or with a unit (10KB, 3.2GiB, 99%)

URLs, e-mail addresses and Windows paths are replaced first (each only when the line holds
`://`, `@` or a backslash); everything else in one left-to-right pass where a value must start a
word: it follows the start of the line or a character other than a letter, a digit or a dot. So
identifiers such as `http2`, `v1.2.3` or `sha256` are left alone (they are more often part of a
template than a value), while `port=8080`, `host:8080` and `req_42` are masked.
"""

from __future__ import annotations

import re

__all__ = ["PLACEHOLDERS", "mask"]

_HEX = "[0-9a-fA-F]"
_H4 = f"{_HEX}{{1,4}}"
_H4S = f"{_H4}(?::{_H4})*"
_END = r"(?![A-Za-z0-9_])"
_UNITS = "(?:ns|us|µs|ms|min|sec|s|m|h|d)"
_DQ = r'"[^"\\\n]*(?:\\.[^"\\\n]*)*"'  # unrolled loop: each character is looked at once

# Values that start with a digit, a hex letter, `[` or `:`. Each branch opens with a cheap
# lookahead so that a number costs a few failed checks rather than a full attempt per branch.
_VALUE = "|".join(
    [
        r"(?=\d{4}-\d\d-|\d\d:\d\d:|\d\d/[A-Z])(?P<TS>"
        r"\d{4}-\d\d-\d\d(?:[T ]\d\d:\d\d(?::\d\d(?:[.,]\d+)?)?)?(?:Z|[+-]\d\d:?\d\d)?(?![0-9])"
        r"|\d\d:\d\d:\d\d(?:[.,]\d+)?(?:Z|[+-]\d\d:?\d\d)?(?![0-9])"
        r"|\d\d/[A-Z][a-z]{2}/\d{4}:\d\d:\d\d:\d\d(?: [+-]\d{4})?)",
        rf"(?={_HEX}{{8}}-)(?P<UUID>{_HEX}{{8}}-{_HEX}{{4}}-{_HEX}{{4}}-{_HEX}{{4}}-{_HEX}{{12}}{_END})",
        r"(?P<IP>(?:\d{1,3}\.){3}\d{1,3}(?:/\d{1,2}|:\d{1,5})?(?![0-9])"
        rf"|\[{_HEX}*:[0-9a-fA-F:.]*\](?::\d{{1,5}})?"
        rf"|(?={_HEX}{{0,4}}:)(?:(?:{_H4}:){{7}}{_H4}{_END}"
        rf"|(?=[0-9a-fA-F:]*::)(?:{_H4S})?::(?:{_H4S})?(?![A-Za-z0-9_:])))",
        rf"(?P<HEX>0[xX]{_HEX}+{_END}|(?={_HEX}{{8}})(?=[0-9]*[a-fA-F])(?=[a-fA-F]*[0-9]){_HEX}+{_END})",
        # Durations and plain numbers share their digits; the suffix decides which it is.
        rf"\d+(?:[.,]\d+)*(?:(?P<DURATION>{_UNITS}(?:\d+(?:\.\d+)?{_UNITS})*{_END})"
        rf"|(?P<NUM>(?:[eE][-+]?\d+)?(?:%|[A-Za-z]{{1,4}}(?:/s)?)?{_END}))",
    ]
)

# The pattern opens with one delimiter character from a plain character class: that lets `re`
# skip to candidate positions in C instead of trying every branch at every character, which is
# what makes masking cost a few microseconds a line. Callers prefix the line with a space.
_PATTERN = re.compile(
    r"[^A-Za-z0-9.](?:"
    rf"(?P<KEY>{_DQ}(?=\s*:))|(?P<DQ>{_DQ})"
    r"|(?P<SQ>'[^'\\\n]*(?:\\.[^'\\\n]*)*'(?![A-Za-z0-9]))"
    r"|(?P<PATH>(?:\.{1,2}|~)?(?:/[A-Za-z0-9_.@%+~,=-]+)+/?)"
    rf"|(?=[0-9]|[a-fA-F]{{1,12}}[0-9:-]|[\[:])(?:{_VALUE})"
    ")"
)
_URL = re.compile(r"(?<![A-Za-z0-9+.-])[A-Za-z][A-Za-z0-9+.-]{0,15}://[^\s\"'<>]+")
_EMAIL = re.compile(r"(?<![A-Za-z0-9._%+-])[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")
_WINDOWS_PATH = re.compile(r"(?<![A-Za-z0-9])(?:[A-Za-z]:|\\\\[A-Za-z0-9_.$-]+)\\[^\s\"'<>|*?]*")

_PLACEHOLDER_OF_GROUP = {
    "DQ": "<STR>",
    "SQ": "<STR>",
    "PATH": "<PATH>",
    "TS": "<TS>",
    "UUID": "<UUID>",
    "IP": "<IP>",
    "HEX": "<HEX>",
    "DURATION": "<DURATION>",
    "NUM": "<NUM>",
}

PLACEHOLDERS: frozenset[str] = frozenset([*_PLACEHOLDER_OF_GROUP.values(), "<URL>", "<EMAIL>"])
"""Every placeholder `mask` can produce."""


def _replace(match: re.Match[str]) -> str:
    group = match.lastgroup
    if group == "KEY":
        return match.group()
    # The match starts with the delimiter before the value, which stays.
    return match.group()[0] + _PLACEHOLDER_OF_GROUP[group or ""]


def mask(line: str) -> str:
    """`line` with every recognised value replaced by its placeholder (see the module docstring)."""
    if "://" in line:
        line = _URL.sub("<URL>", line)
    if "@" in line:
        line = _EMAIL.sub("<EMAIL>", line)
    if "\\" in line:
        line = _WINDOWS_PATH.sub("<PATH>", line)
    return _PATTERN.sub(_replace, " " + line)[1:]
