"""A tool group: its marked methods are its tools, in order, with the group's name and scope."""

from __future__ import annotations

from common.contracts.results import ToolResult
from common.mcp.tools import ToolGroup, tool


class Answer(ToolResult):
    def render_text(self) -> str:
        return "answer"


class Things(ToolGroup):
    group = "things"
    scope = "things:read"

    @tool("Read a thing")
    async def things_read(self) -> Answer:
        """Read."""
        return Answer()

    async def helper(self) -> Answer:
        return Answer()

    @tool("Write a thing", scope="things:write", read_only=False, destructive=True, idempotent=False)
    async def things_write(self) -> Answer:
        """Write."""
        return Answer()


def test_the_marked_methods_are_the_tools_in_order_with_the_group_and_its_scope_unless_marked_otherwise() -> None:
    specs = Things().specs()

    assert [(s.fn.__name__, s.title, s.group, s.scope) for s in specs] == [
        ("things_read", "Read a thing", "things", "things:read"),
        ("things_write", "Write a thing", "things", "things:write"),
    ]
    assert (specs[0].read_only, specs[1].read_only, specs[1].destructive, specs[1].idempotent) == (
        True,
        False,
        True,
        False,
    )
