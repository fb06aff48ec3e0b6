"""A tool's contract (its server, name and result model) and the typed call an agent makes through it.

`ToolContract.call` sends the arguments that are set (None means "the tool's default", which a
tool states by leaving the argument out) and reads the answer with the result model; the call is
`typed`, so the toolbox skips the MCP SDK's own check of the answer against the tool's JSON schema
(the model is the check, paid once). Failures are
the toolbox's: `ToolCallError` with the server's kind when the server refused the call,
`BackendError` when it could not be asked; an answer that does not fit the model is the server
failing its contract (`BackendFailed`), so a reader never works from half a result.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

from pydantic import ValidationError

from common.contracts.results import ToolResult
from common.errors import BackendFailed

__all__ = ["ToolCaller", "ToolContract"]

R = TypeVar("R", bound=ToolResult)

#: Characters of a validation error kept in the message: enough to name the fields.
_MAX_PROBLEM = 300


class ToolCaller(Protocol):
    """What calls a tool on a named server and gives its structured result (`common.mcp.toolbox.Toolbox`);
    `typed`: the caller reads the result with the tool's result model, which checks it."""

    async def call(
        self, server: str, tool: str, arguments: Mapping[str, Any], *, typed: bool = False
    ) -> dict[str, Any]: ...


@dataclass(frozen=True)
class ToolContract(Generic[R]):
    server: str
    name: str
    result: type[R]

    async def call(self, caller: ToolCaller, **arguments: Any) -> R:
        sent = {k: v for k, v in arguments.items() if v is not None}
        answer = await caller.call(self.server, self.name, sent, typed=True)
        try:
            return self.result.model_validate(answer)
        except ValidationError as exc:
            problem = str(exc).replace("\n", " ")[:_MAX_PROBLEM]
            raise BackendFailed(
                f"{self.server}.{self.name} answered a result that does not fit its contract: {problem}",
                backend=self.server,
            ) from None
