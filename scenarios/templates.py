"""Log line templates: their placeholders, checked when a scenario loads and filled when it is generated.

A placeholder is `{name}` or `{name:args}` where `name` is lower-case letters; any other brace is
literal text (so JSON and Go-style `map[string]interface{}` survive). The placeholders:

    {int:A-B}        an integer in [A, B]                          {int:5-40}
    {float:A-B}      a decimal in [A, B], with the bounds' decimals  {float:0.5-2.75}
                     (at least 2)
    {choice:a|b|c}   one of the options                            {choice:GET|POST}
    {uuid}           a random (version 4 shaped) UUID
    {ip}             a private IPv4 address (10.0.0.0/8)
    {hex:N}          N hexadecimal digits, 1 <= N <= 64             {hex:16}

`format_line` turns a rendered template into the line stored: for `logfmt` and `plain` the
template is the line. For `json` the line is a JSON object: a template that renders to a JSON
object is kept as it is; one written as logfmt pairs (`level=error msg="..." status=500`) becomes
an object of those pairs, in order, with numbers as numbers; anything else becomes
`{"level": ..., "msg": <the text>}`, the level taken from a leading ERROR/WARN/INFO/DEBUG/FATAL
word (any case), `info` otherwise.
"""

from __future__ import annotations

import json
import random
import re
from dataclasses import dataclass
from typing import Literal

__all__ = ["PLACEHOLDERS", "LogFormat", "Template", "format_line", "parse_template"]

LogFormat = Literal["json", "logfmt", "plain"]
PLACEHOLDERS = ("int", "float", "choice", "uuid", "ip", "hex")

_PLACEHOLDER = re.compile(r"\{([a-z]+)(?::([^{}]*))?\}")
_INT_RANGE = re.compile(r"^(-?\d+)-(-?\d+)$")
_FLOAT_RANGE = re.compile(r"^(-?\d+(?:\.\d+)?)-(-?\d+(?:\.\d+)?)$")
_LOGFMT_PAIR = re.compile(r'\s*([A-Za-z_][A-Za-z0-9_.-]*)=("(?:[^"\\]|\\.)*"|[^\s"]*)')
_NUMBER = re.compile(r"^-?(0|[1-9]\d*)(\.\d+)?$")
_LEVEL_WORD = re.compile(r"^\W*(error|err|warn|warning|info|debug|fatal|critical)\b", re.IGNORECASE)
_LEVELS = {"err": "error", "warning": "warn", "critical": "fatal"}


@dataclass(frozen=True)
class _Slot:
    kind: str
    low: float = 0
    high: float = 0
    decimals: int = 0
    options: tuple[str, ...] = ()


@dataclass(frozen=True)
class Template:
    """A parsed template: literal text between filled slots."""

    parts: tuple[str | _Slot, ...]

    def render(self, rng: random.Random) -> str:
        return "".join(part if isinstance(part, str) else _fill(part, rng) for part in self.parts)


def parse_template(text: str) -> Template:
    """Parse `text`; ValueError names the first unknown or malformed placeholder."""
    parts: list[str | _Slot] = []
    position = 0
    for match in _PLACEHOLDER.finditer(text):
        parts.append(text[position : match.start()])
        parts.append(_slot(match.group(0), match.group(1), match.group(2)))
        position = match.end()
    parts.append(text[position:])
    return Template(tuple(part for part in parts if part != ""))


def _slot(whole: str, kind: str, args: str | None) -> _Slot:
    if kind not in PLACEHOLDERS:
        known = ", ".join("{" + name + "}" for name in PLACEHOLDERS)
        raise ValueError(f"unknown placeholder {whole}; the placeholders are {known}")
    if kind in ("uuid", "ip"):
        if args is not None:
            raise ValueError(f"placeholder {whole} takes no arguments: write {{{kind}}}")
        return _Slot(kind)
    if args is None:
        raise ValueError(f"placeholder {whole} needs arguments, e.g. {_EXAMPLES[kind]}")
    if kind == "int":
        match = _INT_RANGE.match(args)
        if match is None or int(match.group(1)) > int(match.group(2)):
            raise ValueError(f"placeholder {whole} needs a range A-B with A <= B, e.g. {{int:5-40}}")
        return _Slot(kind, int(match.group(1)), int(match.group(2)))
    if kind == "float":
        match = _FLOAT_RANGE.match(args)
        if match is None or float(match.group(1)) > float(match.group(2)):
            raise ValueError(f"placeholder {whole} needs a range A-B with A <= B, e.g. {{float:0.5-2.5}}")
        decimals = max(2, *(len(bound.partition(".")[2]) for bound in match.groups()))
        return _Slot(kind, float(match.group(1)), float(match.group(2)), decimals)
    if kind == "choice":
        return _Slot(kind, options=tuple(args.split("|")))
    if not args.isdigit() or not 1 <= int(args) <= 64:
        raise ValueError(f"placeholder {whole} needs a digit count from 1 to 64, e.g. {{hex:16}}")
    return _Slot(kind, decimals=int(args))


_EXAMPLES = {"int": "{int:5-40}", "float": "{float:0.5-2.5}", "choice": "{choice:GET|POST}", "hex": "{hex:16}"}


def _fill(slot: _Slot, rng: random.Random) -> str:
    if slot.kind == "int":
        return str(rng.randint(int(slot.low), int(slot.high)))
    if slot.kind == "float":
        return f"{rng.uniform(slot.low, slot.high):.{slot.decimals}f}"
    if slot.kind == "choice":
        return rng.choice(slot.options)
    if slot.kind == "uuid":
        digits = f"{rng.getrandbits(128):032x}"
        variant = "89ab"[rng.getrandbits(2)]
        return f"{digits[:8]}-{digits[8:12]}-4{digits[13:16]}-{variant}{digits[17:20]}-{digits[20:]}"
    if slot.kind == "ip":
        return f"10.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"
    return f"{rng.getrandbits(4 * slot.decimals):0{slot.decimals}x}"


def format_line(text: str, log_format: LogFormat) -> str:
    """The stored line for a rendered template (see the module docstring)."""
    if log_format != "json":
        return text
    stripped = text.strip()
    if stripped.startswith("{"):
        try:
            value = json.loads(stripped)
        except ValueError:
            value = None
        if isinstance(value, dict):
            return json.dumps(value, separators=(",", ":"))
    pairs = _logfmt_pairs(stripped)
    if pairs is not None:
        return json.dumps(pairs, separators=(",", ":"))
    match = _LEVEL_WORD.match(stripped)
    level = "info" if match is None else match.group(1).lower()
    return json.dumps({"level": _LEVELS.get(level, level), "msg": text}, separators=(",", ":"))


def _logfmt_pairs(text: str) -> dict[str, object] | None:
    pairs: dict[str, object] = {}
    position = 0
    while position < len(text):
        match = _LOGFMT_PAIR.match(text, position)
        if match is None or match.end() == position:
            return None
        key, raw = match.groups()
        if raw.startswith('"'):
            pairs[key] = json.loads(raw) if _is_json_string(raw) else raw[1:-1]
        elif _NUMBER.match(raw):
            pairs[key] = float(raw) if "." in raw else int(raw)
        else:
            pairs[key] = raw
        position = match.end()
    return pairs or None


def _is_json_string(raw: str) -> bool:
    try:
        json.loads(raw)
    except ValueError:
        return False
    return True
