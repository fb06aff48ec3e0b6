"""The `analysis` group: a log file or pasted text analysed without any Loki."""

from __future__ import annotations

import functools
from typing import Annotated, Literal

import anyio.to_thread
from pydantic import Field

from common.contracts.loki import AnalyzeLogsResult
from common.mcp.bounds import clamp_limit
from common.mcp.tool_parameters import Limit
from common.mcp.tools import ToolGroup, tool
from servers.loki_mcp.analyze import LogAnalyzer
from servers.loki_mcp.settings import Limits
from servers.loki_mcp.tools.shown import shown

__all__ = ["AnalysisTools"]


class AnalysisTools(ToolGroup):
    group = "analysis"

    def __init__(self, limits: Limits, analyzer: LogAnalyzer) -> None:
        self.limits = limits
        self.analyzer = analyzer

    @tool("Analyse a log file or text", open_world=False)
    async def loki_analyze_logs(
        self,
        text: Annotated[str | None, Field(description="Log text to analyse (uploaded content).")] = None,
        path: Annotated[
            str | None, Field(description="A log file on the server, inside a directory the server allows.")
        ] = None,
        format: Annotated[
            Literal["auto", "jsonl", "logfmt", "csv", "plain"],
            Field(description="The log format; 'auto' detects JSON lines, logfmt, CSV or plain text."),
        ] = "auto",
        limit: Limit = None,
    ) -> AnalyzeLogsResult:
        """Analyse a log file or pasted log text without any Loki: templates, error clusters, anomalous windows.

        Give exactly one of `text` or `path`. Formats are detected; timestamps are read from the lines
        when present, and windows whose volume departs from the usual are reported.
        """
        notes: list[str] = []
        cap = clamp_limit(limit, self.limits.max_list_items, "templates", notes, default=20)
        render = functools.partial(shown, max_chars=self.limits.max_line_chars)
        # Mining up to LOKI_MCP_MAX_UPLOAD_BYTES of text is CPU work: off the event loop, which keeps serving.
        return await anyio.to_thread.run_sync(
            functools.partial(
                self.analyzer.analyze, text=text, path=path, fmt=format, limit=cap, notes=notes, render=render
            )
        )
