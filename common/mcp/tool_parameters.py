"""The tool parameters every MCP server shares, described once and briefly.

A model reads each tool's schema in every conversation; what these parameters have in common
(time forms, how paging and limits work) is said once, in each server's instructions
(`common.mcp.tools.CONVENTIONS`), not in every tool.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from common.timerange import TimeArgument

__all__ = ["Backend", "Cursor", "End", "Limit", "Start"]

# `backend` is explained once, in the server's instructions (which name the backends), `cursor` in `CONVENTIONS`.
Backend = Annotated[str | None, Field()]
# A window's ends need no words: their defaults ('now-1h', 'now') show the form.
Start = Annotated[TimeArgument, Field()]
End = Annotated[TimeArgument, Field()]
# Default and maximum are the server's; a larger limit is lowered and says so in limits_applied.
Limit = Annotated[int | None, Field(ge=1)]
Cursor = Annotated[str | None, Field()]
