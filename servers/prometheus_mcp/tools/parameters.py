"""The arguments several prometheus-mcp tools take, described once."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

__all__ = ["Matchers", "Metric"]

Metric = Annotated[str | None, Field(description="Exact metric name.")]
Matchers = Annotated[
    dict[str, str],
    Field(description='Label matchers, e.g. {"service": "checkout"}; "=~re" is a regex: {"pod": "=~web-.+"}.'),
]
