"""The one rule for free-form JSON: what a component accepts where it did not define every field.

Approval arguments, timeline details, reports, webhook extras, A2A data parts and MCP tool
arguments hold JSON the component only keeps or passes on. Such a value must read back and
travel the way it came in, so it is refused at the edge, naming the dotted path of the first
offending field (`arguments.a.a.0`), when it

- nests containers more than `MAX_DEPTH` levels deep: pydantic stops serializing at 255 levels
  and a protobuf `Struct` (an A2A data part) at about 30, so a deeper value is stored and then
  fails every read of it;
- holds a number that is not finite (`NaN`, `Infinity`, `1e400`, which Python reads as inf) or
  an integer of more than `MAX_INTEGER_DIGITS` digits (Python refuses to print one past 4300;
  a protobuf number is a double);
- holds text with a NUL character or a lone surrogate (`\\ud800`), which neither PostgreSQL text
  nor UTF-8 can hold;
- is larger than `MAX_SIZE` characters of JSON, or holds a string over `MAX_STRING_CHARS`
  (checked by `FreeForm` fields; request bodies are already bounded in bytes).

`loads` parses request bodies under this rule; `check_json` applies it to a value already in
memory; `FreeForm` is the pydantic type of a free-form object field.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import AfterValidator, Field

from common.errors import InputError

__all__ = [
    "MAX_DEPTH",
    "MAX_INTEGER_DIGITS",
    "MAX_SIZE",
    "MAX_STRING_CHARS",
    "FreeForm",
    "JsonBoundsError",
    "check_json",
    "loads",
    "text_problem",
]

#: Most levels of objects and arrays in one value (the value itself is level 1). Alertmanager's
#: payload needs 4, a DiagnosticReport 6; an A2A data part of 20 levels is ~45 protobuf
#: levels, under the 64 at which the A2A SDK fails with an internal error.
MAX_DEPTH = 20
#: Most decimal digits of an integer: every 64-bit integer fits; longer ones are exact nowhere
#: but in Python, and past 4300 digits Python refuses to read or print them.
MAX_INTEGER_DIGITS = 20
#: Most characters of one string (key or value) in a free-form field.
MAX_STRING_CHARS = 100_000
#: Most characters of a free-form field written as JSON (about its size in bytes): twice the
#: default body limit, so a value a server wraps in a record of its own (an audit entry holding
#: an approval's arguments) stays within it.
MAX_SIZE = 2_000_000

#: A path segment longer than this is cut in messages (a key may be 100 000 characters).
_SHOWN_KEY_CHARS = 40


class JsonBoundsError(InputError):
    """A JSON value breaks the rule; `path` is the dotted path of the field ('' for the value itself).

    `not_json` is set when the text is not JSON at all (`NaN`, `Infinity`), as opposed to JSON
    that is out of bounds.
    """

    def __init__(self, path: str, reason: str, *, not_json: bool = False) -> None:
        self.path = path
        self.reason = reason
        self.not_json = not_json
        where = f"The field {path}" if path else "The value"
        super().__init__(f"{where} {reason}.")


@dataclass(frozen=True)
class _Refused:
    """Stands for a number `loads` read but may not keep, until `check_json` names its path."""

    reason: str
    not_json: bool = False


def text_problem(text: str) -> str | None:
    """Why PostgreSQL text and UTF-8 cannot hold `text` (a clause), or None when they can."""
    if "\x00" in text:
        return "contains a NUL character"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "contains a lone surrogate (not valid Unicode)"
    return None


def loads(body: bytes | str, *, max_depth: int = MAX_DEPTH) -> Any:
    """The JSON value of `body` if it obeys the rule (sizes aside); else JsonBoundsError naming the field.

    ValueError when `body` is not JSON at all (bad syntax, not UTF-8); a value nested past what
    Python's parser can follow is a JsonBoundsError for the whole value.
    """
    try:
        value = json.loads(body, parse_constant=_constant, parse_int=_integer, parse_float=_float)
    except RecursionError:
        raise JsonBoundsError("", _too_deep(max_depth)) from None
    check_json(value, max_depth=max_depth, max_string_chars=None, max_size=None)
    return value


def check_json(
    value: Any,
    *,
    max_depth: int = MAX_DEPTH,
    max_string_chars: int | None = MAX_STRING_CHARS,
    max_size: int | None = MAX_SIZE,
    path: str = "",
) -> None:
    """Raise JsonBoundsError naming the first field of `value` (document order) that breaks the rule.

    `path` prefixes the reported paths (the field `value` is in). The walk is iterative and stops
    at `max_depth`, so no value can exhaust the stack here.
    """
    size = 0
    stack: list[tuple[Any, tuple[str, ...], int]] = [(value, (), 1)]
    while stack:
        item, where, depth = stack.pop()
        problem: str | None = None
        if isinstance(item, dict | list | tuple):
            if depth > max_depth:
                raise JsonBoundsError(_dotted(path, where), _too_deep(max_depth))
            size += 2 + len(item)
            if isinstance(item, dict):
                for key in item:
                    if isinstance(key, str):
                        problem = text_problem(key) or _long(key, max_string_chars)
                        size += len(key) + 3
                    if problem is not None:
                        raise JsonBoundsError(_dotted(path, (*where, str(key))), f"has a key that {problem}")
                children = [(child, (*where, str(key)), depth + 1) for key, child in item.items()]
            else:
                children = [(child, (*where, str(index)), depth + 1) for index, child in enumerate(item)]
            stack.extend(reversed(children))
        elif isinstance(item, str):
            problem = text_problem(item) or _long(item, max_string_chars)
            size += len(item) + 2
        elif isinstance(item, _Refused):
            raise JsonBoundsError(_dotted(path, where), item.reason, not_json=item.not_json)
        elif isinstance(item, float):
            problem = None if math.isfinite(item) else "is not a finite number; send a number within ±1.8e308"
            size += 24
        elif isinstance(item, int) and not isinstance(item, bool):
            if abs(item) >= 10**MAX_INTEGER_DIGITS:
                problem = _long_integer_reason(item.bit_length() * 0.30103)
            size += 20
        else:
            size += 5  # null, true, false
        if problem is not None:
            raise JsonBoundsError(_dotted(path, where), problem)
        if max_size is not None and size > max_size:
            raise JsonBoundsError(
                path, f"is larger than {max_size} characters of JSON; send less, or a reference to it"
            )


def _free_form(value: dict[str, Any]) -> dict[str, Any]:
    try:
        check_json(value)
    except JsonBoundsError as exc:
        # pydantic names the field itself; the path inside it is the message's to tell.
        inside = f"at {exc.path}: " if exc.path else ""
        raise ValueError(f"{inside}the value {exc.reason}") from None
    return value


#: A free-form JSON object field: kept and passed on as given, within the rule of this module.
FreeForm = Annotated[
    dict[str, Any],
    AfterValidator(_free_form),
    Field(
        description=f"Free-form JSON object: at most {MAX_DEPTH} levels deep, finite numbers, integers of at "
        f"most {MAX_INTEGER_DIGITS} digits, text without NUL or lone surrogates, at most {MAX_SIZE} characters."
    ),
]


def _constant(name: str) -> _Refused:
    return _Refused(f"is {name}, which is not a JSON number; send a finite number or null", not_json=True)


def _integer(text: str) -> int | _Refused:
    digits = len(text.lstrip("-"))
    if digits > MAX_INTEGER_DIGITS:
        return _Refused(_long_integer_reason(digits))
    return int(text)


def _float(text: str) -> float | _Refused:
    value = float(text)
    if not math.isfinite(value):
        return _Refused(f"is {text[:_SHOWN_KEY_CHARS]}, out of the range of a double; send a number within ±1.8e308")
    return value


def _long_integer_reason(digits: float) -> str:
    return (
        f"is an integer of about {int(digits)} digits; at most {MAX_INTEGER_DIGITS} are accepted (send it as a string)"
    )


def _too_deep(max_depth: int) -> str:
    return f"nests objects or arrays more than {max_depth} levels deep; flatten it"


def _long(text: str, limit: int | None) -> str | None:
    if limit is None or len(text) <= limit:
        return None
    return f"is a string of {len(text)} characters; at most {limit} are accepted"


def _dotted(path: str, parts: tuple[str, ...]) -> str:
    """`path` and `parts` joined by dots, each part shown safely: cut when long, unencodable characters escaped."""
    shown = [path] if path else []
    for part in parts:
        text = part if len(part) <= _SHOWN_KEY_CHARS else part[:_SHOWN_KEY_CHARS] + "…"
        shown.append(text.replace("\x00", "\\x00").encode("utf-8", "backslashreplace").decode("utf-8"))
    return ".".join(shown)
