"""How every MCP server in the project declares and guards its tools.

A tool is a plain async function with typed, described parameters that returns a
`ToolResult` model. `build_tools` turns such functions into MCP tools that
- publish strict input schemas (`additionalProperties: false`) and a structured output schema,
- return the model as structured content plus a short text rendering,
- turn `SreError`s into tool errors a model can act on, with secrets redacted, and any other
  exception into a generic error carrying a trace id (the details go to the log only); each
  error names its kind for programs (`common.mcp.tool_errors`).

`ToolGate` is the server middleware that rejects calls to unknown tools and prompts, and calls
whose arguments break the published schema or `common.json_bounds` (-32602, naming the tool,
prompt or argument) before anything runs, and records tool metrics.
"""

from __future__ import annotations

import functools
import inspect
import logging
import time
from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, ClassVar, TypeVar

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError as SchemaError
from mcp.server.context import CallNext, HandlerResult, ServerRequestContext
from mcp.server.mcpserver.exceptions import ToolError
from mcp.server.mcpserver.tools.base import Tool
from mcp.shared.exceptions import MCPError
from mcp_types import INVALID_PARAMS, CallToolResult, TextContent, ToolAnnotations
from pydantic import BeforeValidator

from common.contracts.results import BoundedResult, ToolResult
from common.errors import SreError
from common.json_bounds import JsonBoundsError, check_json
from common.logging import bind_trace_id, current_trace_id, new_trace_id
from common.mcp.tool_errors import ToolErrorDetail, tool_error_result
from common.mcp.tool_schema import compact_schema, output_outline
from common.metrics import ServerMetrics
from common.redaction import redact
from common.settings import decode_json_text

__all__ = [
    "CONVENTIONS",
    "GroupNames",
    "ToolGate",
    "ToolGroup",
    "ToolSpec",
    "build_tools",
    "enabled",
    "structured_tool",
    "tool",
    "tool_scopes",
]

logger = logging.getLogger(__name__)

F = TypeVar("F", bound=Callable[..., Any])
_MARK = "__sre_tool__"


#: What every tool's arguments and bounded results have in common, for each server's instructions:
#: said once there, not in every tool's schema.
CONVENTIONS = (
    "Times: 'now', 'now-1h', RFC 3339 or unix seconds. Results are bounded: `returned` of `total` (a lower "
    "bound where a result says so), `truncated`; pass `next_cursor` as `cursor` for the next page; "
    "`limits_applied` lists every clamp, `warnings` the backend's."
)


@dataclass(frozen=True)
class ToolSpec:
    fn: Callable[..., Awaitable[ToolResult]]
    #: For people (a host's tool list, its confirmation prompt); None where the name says it all, since the
    #: title too is in every model's context and a host shows the name without one.
    title: str | None
    #: The OAuth scope a caller over HTTP needs for this tool, beyond the endpoint's own.
    scope: str | None = None
    read_only: bool = True
    destructive: bool = False
    idempotent: bool = True
    # Backends are outside systems whose data changes between calls.
    open_world: bool = True
    #: The tool group a user can turn off (`<SERVER>_DISABLED_GROUPS`), to spend less of a model's context.
    group: str = ""


@dataclass(frozen=True)
class _Mark:
    title: str | None
    scope: str | None
    read_only: bool
    destructive: bool
    idempotent: bool
    open_world: bool


def tool(
    title: str | None = None,
    *,
    scope: str | None = None,
    read_only: bool = True,
    destructive: bool = False,
    idempotent: bool = True,
    open_world: bool = True,
) -> Callable[[F], F]:
    """Marks a method of a `ToolGroup` as one MCP tool (its name, docstring and signature are the tool's)."""

    def mark(fn: F) -> F:
        setattr(fn, _MARK, _Mark(title, scope, read_only, destructive, idempotent, open_world))
        return fn

    return mark


class ToolGroup:
    """A group of a server's tools that a user can turn off as one (`<SERVER>_DISABLED_GROUPS`)."""

    #: The group's name in that setting.
    group: ClassVar[str]
    #: The scope each tool of the group needs, unless its `tool` mark names another.
    scope: ClassVar[str | None] = None

    def specs(self) -> list[ToolSpec]:
        """The group's tools, in the order the class defines them."""
        specs = []
        for name, member in vars(type(self)).items():
            mark = getattr(member, _MARK, None)
            if isinstance(mark, _Mark):
                specs.append(
                    ToolSpec(
                        getattr(self, name),
                        mark.title,
                        mark.scope or self.scope,
                        read_only=mark.read_only,
                        destructive=mark.destructive,
                        idempotent=mark.idempotent,
                        open_world=mark.open_world,
                        group=self.group,
                    )
                )
        return specs


def _names(value: Any) -> Any:
    # As OAuth writes scopes: one string, names separated by spaces (commas are forgiven).
    return tuple(value.replace(",", " ").split()) if isinstance(value, str) else value


#: Settings type of a server's disabled tool groups: `"analysis metadata"` in the environment.
GroupNames = BeforeValidator(_names)


def enabled(specs: Sequence[ToolSpec], disabled_groups: Collection[str]) -> list[ToolSpec]:
    """The specs whose group the user has not disabled."""
    return [spec for spec in specs if spec.group not in disabled_groups]


def tool_scopes(specs: Sequence[ToolSpec]) -> dict[str, str]:
    return {spec.fn.__name__: spec.scope for spec in specs if spec.scope is not None}


def build_tools(specs: Sequence[ToolSpec]) -> list[Tool]:
    tools = []
    for spec in specs:
        tool = Tool.from_function(
            structured_tool(spec.fn),
            name=spec.fn.__name__,
            title=spec.title,
            description=inspect.cleandoc(spec.fn.__doc__ or ""),
            # The title is the tool's own; an open world is what the specification assumes unsaid, and
            # it gives idempotence a meaning only for tools that write.
            annotations=ToolAnnotations(
                read_only_hint=spec.read_only,
                destructive_hint=spec.destructive,
                idempotent_hint=None if spec.read_only else spec.idempotent,
                open_world_hint=None if spec.open_world else False,
            ),
        )
        tool.parameters = compact_schema({**tool.parameters, "additionalProperties": False})
        if tool.fn_metadata.output_schema is not None:
            tool.fn_metadata.output_schema = output_outline(
                compact_schema(tool.fn_metadata.output_schema), conventional=BoundedResult.model_fields
            )
        tools.append(tool)
    return tools


def structured_tool(fn: Callable[..., Awaitable[ToolResult]]) -> Callable[..., Awaitable[CallToolResult]]:
    """`fn` as an MCP tool function: its result as structured content plus its text, its errors as error results."""
    signature = inspect.signature(fn, eval_str=True)
    model = signature.return_annotation
    returns = Annotated[CallToolResult, model]

    @functools.wraps(fn)
    async def call(**kwargs: Any) -> CallToolResult:
        try:
            result = await fn(**kwargs)
        except ToolError:
            raise
        except SreError as exc:
            detail = ToolErrorDetail(kind=exc.kind, message=redact(str(exc)))
            # %r keeps a caller's text on one line.
            logger.info("Tool %s failed (%s): %r", fn.__name__, detail.kind, detail.message)
            return tool_error_result(fn.__name__, detail)
        except Exception:
            trace_id = current_trace_id() or new_trace_id()
            logger.exception("Tool %s failed unexpectedly (trace id %s)", fn.__name__, trace_id)
            message = f"The tool failed unexpectedly; the server log has the details under trace id {trace_id}."
            return tool_error_result(fn.__name__, ToolErrorDetail(kind="internal", message=message, trace_id=trace_id))
        return CallToolResult(
            content=[TextContent(type="text", text=result.render_text())],
            structured_content=result.model_dump(mode="json"),
        )

    call.__signature__ = signature.replace(return_annotation=returns)  # type: ignore[attr-defined]
    call.__annotations__ = {**fn.__annotations__, "return": returns}
    return call


class ToolGate:
    """Server middleware: schema checks before a tool runs, a trace id and metrics around it."""

    def __init__(self, tools: Sequence[Tool], metrics: ServerMetrics | None = None) -> None:
        self._validators = {tool.name: Draft202012Validator(tool.parameters) for tool in tools}
        self._metrics = metrics

    async def __call__(self, ctx: ServerRequestContext[Any, Any], call_next: CallNext) -> HandlerResult:
        if ctx.method == "prompts/get":
            try:
                return await call_next(ctx)
            except ValueError as exc:
                # MCPServer reports an unknown prompt (or arguments it cannot render) as a ValueError,
                # which the session transport sends as error code 0; the specification says -32602.
                raise MCPError(INVALID_PARAMS, str(exc)) from None
        if ctx.method != "tools/call":
            return await call_next(ctx)
        params = ctx.params or {}
        name = params.get("name")
        validator = self._validators.get(name) if isinstance(name, str) else None
        if validator is None or not isinstance(name, str):
            self._record("-", "unknown", 0.0)
            # -32602, as the MCP specification's own example answers it: `tools/call` exists, its
            # `name` parameter is what is wrong (-32601 would say the method itself is unknown).
            raise MCPError(INVALID_PARAMS, f"Unknown tool {name!r}. Call tools/list for the tools this server offers.")
        arguments = params.get("arguments") or {}
        problem = _first_problem(validator, arguments)
        if problem is not None:
            self._record(name, "invalid", 0.0)
            raise MCPError(INVALID_PARAMS, f"Invalid arguments for {name}: {problem}")
        started = time.perf_counter()
        with bind_trace_id():
            result = await call_next(ctx)
        failed = bool(getattr(result, "is_error", False))
        self._record(name, "tool_error" if failed else "ok", time.perf_counter() - started)
        return result

    def _record(self, tool: str, outcome: str, seconds: float) -> None:
        if self._metrics is not None:
            self._metrics.record_tool(tool, outcome, seconds)


def _first_problem(validator: Draft202012Validator, arguments: Any) -> str | None:
    if not isinstance(arguments, Mapping):
        return "arguments must be an object."
    # Some clients (Claude Desktop among them) send lists and objects as JSON text; MCPServer
    # decodes those before validating, so the gate accepts them too.
    try:
        decoded = {key: _decoded(str(key), value) for key, value in arguments.items()}
        # Sizes are the request body limit's; the rest is what every component refuses (row 39).
        check_json(decoded, max_string_chars=None, max_size=None)
    except JsonBoundsError as exc:
        return str(exc)
    errors: list[SchemaError] = sorted(validator.iter_errors(decoded), key=lambda e: list(e.absolute_path))
    if not errors:
        return None
    error = errors[0]
    where = ".".join(str(part) for part in error.absolute_path)
    if error.validator == "additionalProperties":
        # The schema that refused the field: the tool's own, or a nested object's (a `body`).
        schema = error.schema if isinstance(error.schema, Mapping) else {}
        allowed = ", ".join(sorted(schema.get("properties", {}))) or "none"
        inside = f" in {where}" if where else ""
        return f"{error.message}{inside}. Allowed {'fields' if where else 'arguments'}: {allowed}."
    return f"{where or 'arguments'}: {error.message}."


def _decoded(name: str, value: Any) -> Any:
    """`value` as `decode_json_text` decodes it; JSON text Python cannot read is refused naming the argument."""
    try:
        return decode_json_text(value)
    except (ValueError, RecursionError):  # an integer past 4300 digits, nesting past the stack
        raise JsonBoundsError(name, "is JSON text nested too deep or holding an integer too long to read") from None
