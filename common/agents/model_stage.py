"""The model stage of a pipeline agent, when a model is configured (`SRE_MODEL`): a narrative, and follow-ups.

The agent's deterministic result stands on its own; a model only adds to it:

- `narrate()`: one model call, no tools, that writes a short summary of the result for the
  on-call engineer; it sees the result and nothing else;
- `follow_up()`: an `LlmAgent` that answers a further question in the same conversation, with the
  last result in its instruction and the **read-only** tools of the agent's MCP servers
  (`mcp_toolsets`; write tools are filtered out: actions go through approvals, never through a
  model's say-so). The tools are called with the agent's own tokens, fetched per request
  (`header_provider`).

What each call is asked to do is the agent's (`Prompts`). A result quotes text anyone can write
(alert annotations and labels, log lines, change summaries): it reaches the model as data (OWASP
LLM01, `common.untrusted`), JSON between boundary lines drawn afresh for every model call, after
the rule that data is never instructions. The follow-up's prompt is an instruction provider, so
ADK does not read the result's braces as session-state placeholders.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from google.adk.agents import LlmAgent
from google.adk.agents.readonly_context import ReadonlyContext
from google.adk.models import BaseLlm
from google.adk.models.llm_request import LlmRequest
from google.adk.models.registry import LLMRegistry
from google.adk.tools.base_tool import BaseTool
from google.adk.tools.mcp_tool import McpToolset, StreamableHTTPConnectionParams
from google.adk.tools.mcp_tool.mcp_tool import McpTool
from google.genai import types as genai

from common.auth import TokenSource
from common.untrusted import DATA_RULES, fenced

__all__ = ["Prompts", "follow_up", "mcp_toolsets", "narrate"]


@dataclass(frozen=True)
class Prompts:
    """What the model is asked to do with an agent's result: summarise it, and answer questions about it."""

    narrator: str = """You summarise the result below for the engineer on call, in 3 to 6 sentences.
Use only facts from the result; never invent queries, numbers or actions that are not in it."""
    follow_up: str = """You answer follow-up questions about the result below, for an SRE.
Ground every answer in the result or in what the tools return now; say which query you ran.
The tools are read-only: you cannot change anything."""


def _prompt(task: str, result: Mapping[str, Any]) -> str:
    """The task, the rule about data, then the result between fresh boundaries: the data comes last."""
    begin, data, end = fenced(result)
    rules = DATA_RULES.format(begin=begin, end=end)
    return f"{task}\n\n{rules}\n\nThe report:\n{begin}\n{data}\n{end}"


async def narrate(model: BaseLlm | str, task: str, result: Mapping[str, Any]) -> str | None:
    """The model's summary of `result`, None when it said nothing."""
    llm = LLMRegistry.new_llm(model) if isinstance(model, str) else model
    request = LlmRequest(
        model=llm.model,
        contents=[genai.Content(role="user", parts=[genai.Part(text="Summarise the report.")])],
        config=genai.GenerateContentConfig(system_instruction=_prompt(task, result)),
    )
    texts: list[str] = []
    async for response in llm.generate_content_async(request):
        if response.partial or response.content is None:
            continue
        texts += [part.text for part in response.content.parts or [] if part.text and not part.thought]
    return "\n".join(texts).strip() or None


def follow_up(
    model: BaseLlm | str, task: str, result: Mapping[str, Any], toolsets: list[McpToolset], *, name: str
) -> LlmAgent:
    """The LLM agent answering a follow-up about `result`; `name` is the pipeline agent's."""

    def instruction(context: ReadonlyContext) -> str:
        return _prompt(task, result)

    return LlmAgent(name=f"{name}_follow_up", model=model, instruction=instruction, tools=list(toolsets))


def _read_only(tool: BaseTool, readonly_context: ReadonlyContext | None = None) -> bool:
    if not isinstance(tool, McpTool):
        return False
    annotations = tool.raw_mcp_tool.annotations
    return bool(annotations is not None and annotations.read_only_hint)


def mcp_toolsets(urls: Mapping[str, str], tokens: TokenSource) -> list[McpToolset]:
    """One toolset per server URL, read-only tools only, each call with the agent's token for that server."""

    def headers_for(url: str) -> Any:
        async def provide(context: ReadonlyContext) -> dict[str, str]:
            return {"Authorization": f"Bearer {await tokens.token(url)}"}

        return provide

    return [
        McpToolset(
            connection_params=StreamableHTTPConnectionParams(url=url, timeout=10.0),
            tool_filter=_read_only,
            header_provider=headers_for(url),
        )
        for url in urls.values()
    ]
