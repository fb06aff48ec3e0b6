"""The tool parameters every MCP server shares, described once and briefly, and read once.

A model reads each tool's schema in every conversation; what these parameters have in common
(time forms, how paging and limits work) is said once, in each server's instructions
(`common.mcp.tools.CONVENTIONS`), not in every tool.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from common.errors import InputError
from common.timerange import TimeArgument, parse_duration

__all__ = ["Backend", "Cursor", "End", "Limit", "Start", "Step", "parse_step"]

# `backend` is explained once, in the server's instructions (which name the backends), `cursor` in `CONVENTIONS`.
Backend = Annotated[str | None, Field()]
# A window's ends need no words: their defaults ('now-1h', 'now') show the form.
Start = Annotated[TimeArgument, Field()]
End = Annotated[TimeArgument, Field()]
# Default and maximum are the server's; a larger limit is lowered and says so in limits_applied.
Limit = Annotated[int | None, Field(ge=1)]
Cursor = Annotated[str | None, Field()]
Step = Annotated[str | float | None, Field(description="e.g. '30s', or seconds; default: about 240 points.")]


def parse_step(step: str | float | None) -> float | None:
    """Seconds of a `Step` argument, None when none was given."""
    if step is None:
        return None
    seconds = parse_duration(step)
    if seconds <= 0:
        raise InputError(f"Invalid step {step!r}: it must be positive, such as '30s' or '5m'.")
    return seconds
