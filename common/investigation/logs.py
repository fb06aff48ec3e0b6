"""Logs: error templates of each resource in scope that rose at the onset (loki-mcp).

`read_log_rises` compares the error patterns (`loki_error_patterns`) of the time since the
onset (between MIN_LOG_WINDOW and MAX_LOG_WINDOW) with the window just before it, and notes which
dependencies a risen template mentions. A resource without logs has no patterns, which is no
failure; any other refusal (one of the investigation's own query, say) is noted as degrading the
report, never read as "no logs".
"""

from __future__ import annotations

import re

from analysis.ranking import LogRise
from common.contracts.loki import LokiMcp
from common.errors import BackendError
from common.investigation.evidence import EvidenceLog
from common.investigation.scope import ResolvedScope, Resource, label_matchers
from common.investigation.sources import LOKI, for_each
from common.investigation.window import Window
from common.mcp.toolbox import Toolbox
from common.timerange import iso

__all__ = ["read_log_rises"]

#: Longest log window compared with its baseline, seconds.
MAX_LOG_WINDOW = 3600.0
MIN_LOG_WINDOW = 600.0


async def read_log_rises(
    toolbox: Toolbox, scope: ResolvedScope, window: Window, onset: float | None, evidence: EvidenceLog
) -> list[LogRise]:
    """Error templates of the primary and its dependencies that rose at the onset."""
    since_onset = window.end - onset if onset is not None else MIN_LOG_WINDOW
    length = min(MAX_LOG_WINDOW, max(MIN_LOG_WINDOW, since_onset))
    start = window.end - length
    dependencies = [d.name for d in scope.dependencies]
    loki = LokiMcp(toolbox)
    rises: list[LogRise] = []

    async def read(resource: Resource) -> None:
        selector = _stream_selector(resource, scope.series_namespace(resource))
        try:
            answer = await loki.error_patterns(
                selector,
                start=iso(start),
                end=iso(window.end),
                baseline_start=iso(start - length),
                baseline_end=iso(start),
                limit=5,
            )
        except BackendError as exc:
            # A resource without logs answers with no patterns; a refusal of the investigation's own query
            # (`invalid_argument`) is a failure to report, not a sign that there are no logs.
            if exc.kind != "not_found":
                evidence.failed(LOKI, f"error patterns of {resource.name}", exc)
            return
        for pattern in answer.patterns[:3]:
            text = " ".join([pattern.template, *pattern.examples[:2]])
            mentions = tuple(d for d in dependencies if re.search(rf"(?<![\w-]){re.escape(d)}(?![\w-])", text))
            rate = f"{pattern.baseline_per_minute:g} -> {pattern.current_per_minute:g}/min"
            evidence_id = evidence.add(
                "loki",
                selector,
                f"{'new' if pattern.new else 'rising'} error in {resource.name} logs ({rate}): "
                f"{pattern.template[:300]}",
                start=start - length,
                end=window.end,
                data={
                    "template": pattern.template,
                    "examples": pattern.examples[:2],
                    "first_seen": pattern.first_seen,
                    "score": pattern.score,
                    "mentions": list(mentions),
                },
            )
            rises.append(
                LogRise(
                    evidence_id=evidence_id,
                    resource=resource.name,
                    template=pattern.template,
                    new=pattern.new,
                    score=pattern.score,
                    mentions=mentions,
                )
            )

    await for_each([scope.primary, *scope.dependencies], read)
    return rises


def _stream_selector(resource: Resource, namespace: str | None) -> str:
    matchers = label_matchers(resource, namespace)
    return "{" + ",".join(f'{k}="{_escape(v)}"' for k, v in matchers.items()) + "}"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"')
