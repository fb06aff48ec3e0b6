"""The bases of every tool result: a model with a short text rendering, and the fields of a bounded one."""

from __future__ import annotations

from pydantic import BaseModel, Field

__all__ = ["BoundedResult", "ToolResult"]


class ToolResult(BaseModel):
    """Base of structured tool results."""

    def render_text(self) -> str:
        """A short human- and model-readable rendering of the result."""
        raise NotImplementedError


class BoundedResult(ToolResult):
    """Fields shared by every result that can be cut short."""

    # Undescribed in the schemas: every result has them, and each server's instructions say once what they mean.
    returned: int
    #: How many items matched before limits (a lower bound where a result says so).
    total: int
    truncated: bool
    #: Passed as `cursor`, it gets the next page.
    next_cursor: str | None = None
    #: Every clamp or cut applied to this call.
    limits_applied: list[str] = Field(default_factory=list)
    #: Warnings from the backend.
    warnings: list[str] = Field(default_factory=list)

    def _footer(self) -> str:
        lines = []
        if self.truncated:
            more = (
                f" Next page: cursor={self.next_cursor}." if self.next_cursor else " Narrow the query to see the rest."
            )
            # Some backends cut an answer without saying how much matched (a Loki log query).
            of = f" of {self.total}" if self.total > self.returned else "; more match"
            lines.append(f"Showing {self.returned}{of}.{more}")
        lines += [f"Limit: {note}" for note in self.limits_applied]
        lines += [f"Backend warning: {w}" for w in self.warnings]
        return "\n".join(lines)
