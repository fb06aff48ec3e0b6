"""The arguments several loki-mcp tools take, described once."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

__all__ = ["Query"]

Query = Annotated[
    str,
    Field(description='LogQL log query, e.g. {service="checkout"} |= "error" or {app="web"} | json | status >= 500.'),
]
