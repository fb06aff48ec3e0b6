"""The model stage, when a model is configured (`SRE_MODEL`): a narrative, and answers to follow-ups.

The deterministic report stands on its own; a model only adds to it:

- `narrate()`: one model call, no tools, that writes a short summary of the report for the
  on-call engineer, citing evidence ids; it sees the report and nothing else;
- `follow_up()`: an `LlmAgent` that answers a further question in the same conversation, with the
  last report in its instruction and the **read-only** tools of the three MCP servers (write
  tools are filtered out: actions go through approvals, never through a model's say-so). The
  tools are called with triage's own tokens, fetched per request (`header_provider`).

The report quotes text anyone can write (alert annotations and labels, log lines, change
summaries): it reaches the model as data (OWASP LLM01, `common.untrusted`), JSON between boundary
lines drawn afresh for every model call, after the rule that data is never instructions, with the
report's `flags` naming what read like an instruction. The follow-up's prompt is an instruction
provider, so ADK does not read the report's braces as session-state placeholders.
"""

from __future__ import annotations

from collections.abc import Mapping
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

__all__ = ["follow_up", "mcp_toolsets", "narrate"]

_NARRATOR = """You summarise a diagnostic report for the engineer on call.
Write 3 to 6 sentences: what is failing and since when, the most likely cause with its confidence,
what else was considered, and what the suggested actions are (each needs an approval).
Use only facts from the report below and cite its evidence ids in brackets, like [e3].
Never invent queries, numbers or actions that are not in the report."""

_FOLLOW_UP = """You answer follow-up questions about the investigation below, for an SRE.
Ground every answer in the report or in what the tools return now; say which query you ran.
You may call read-only tools of prometheus-mcp, loki-mcp and controlplane-mcp. You cannot change
anything: restarts, rollbacks and scaling need an approval through the control plane."""


def _prompt(task: str, report: Mapping[str, Any]) -> str:
    """The task, the rule about data, then the report between fresh boundaries: the data comes last."""
    begin, data, end = fenced(report)
    rules = DATA_RULES.format(begin=begin, end=end)
    return f"{task}\n\n{rules}\n\nThe report:\n{begin}\n{data}\n{end}"


async def narrate(model: BaseLlm | str, report: Mapping[str, Any]) -> str | None:
    """The model's summary of `report`, None when it said nothing."""
    llm = LLMRegistry.new_llm(model) if isinstance(model, str) else model
    request = LlmRequest(
        model=llm.model,
        contents=[genai.Content(role="user", parts=[genai.Part(text="Summarise the report.")])],
        config=genai.GenerateContentConfig(system_instruction=_prompt(_NARRATOR, report)),
    )
    texts: list[str] = []
    async for response in llm.generate_content_async(request):
        if response.partial or response.content is None:
            continue
        texts += [part.text for part in response.content.parts or [] if part.text and not part.thought]
    return "\n".join(texts).strip() or None


def follow_up(model: BaseLlm | str, report: Mapping[str, Any], toolsets: list[McpToolset]) -> LlmAgent:
    def instruction(context: ReadonlyContext) -> str:
        return _prompt(_FOLLOW_UP, report)

    return LlmAgent(name="triage_follow_up", model=model, instruction=instruction, tools=list(toolsets))


def _read_only(tool: BaseTool, readonly_context: ReadonlyContext | None = None) -> bool:
    if not isinstance(tool, McpTool):
        return False
    annotations = tool.raw_mcp_tool.annotations
    return bool(annotations is not None and annotations.read_only_hint)


def mcp_toolsets(urls: Mapping[str, str], tokens: TokenSource) -> list[McpToolset]:
    """One toolset per server URL, read-only tools only, each call with triage's token for that server."""

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
