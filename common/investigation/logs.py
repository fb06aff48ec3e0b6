"""Logs: error templates of each resource in scope that rose at the onset (loki-mcp).

`read_log_rises` compares the error patterns (`loki_error_patterns`) of the time since the
onset (between MIN_LOG_WINDOW and MAX_LOG_WINDOW) with the window just before it, and notes which
dependencies a risen template mentions. A resource without logs has no patterns, which is no
failure; any other refusal (one of the investigation's own query, say) is noted as degrading the
report, never read as "no logs".

A resource's streams are found by the identity rules (`identity.SCHEMES`): Promtail, Alloy and the
OpenTelemetry Collector label them `service`, `service_name`, `app`, `job`, `pod`, `container`...
Loki is asked which of those labels its streams have and which values (`loki_list_labels`, once per
label per investigation), and each resource is read in the first scheme that selects some of its
streams (`service` when Loki cannot say, as before).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import anyio

from analysis.ranking import LogRise
from common.contracts.loki import LokiMcp
from common.errors import BackendError
from common.investigation.evidence import EvidenceLog
from common.investigation.identity import SCHEMES, LabelScheme, matchers, schemes, selects
from common.investigation.scope import ResolvedScope, Resource
from common.investigation.sources import LOKI, for_each
from common.investigation.window import Window
from common.mcp.toolbox import Toolbox
from common.timerange import iso

__all__ = ["read_log_rises"]

#: Longest log window compared with its baseline, seconds.
MAX_LOG_WINDOW = 3600.0
MIN_LOG_WINDOW = 600.0
#: Values of one stream label read, at most, to find which name a resource's streams carry.
MAX_LABEL_VALUES = 1000


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
    streams = _StreamLabels(loki, schemes(scope.aliases), start=iso(start - length), end=iso(window.end))

    async def read(resource: Resource) -> None:
        scheme = await streams.scheme_of(resource)
        selector = _stream_selector(resource, scheme, scope.series_namespace(resource))
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


def _stream_selector(resource: Resource, scheme: LabelScheme, namespace: str | None) -> str:
    return "{" + matchers(resource, scheme, namespace) + "}"


class _StreamLabels:
    """Loki's stream labels and their values over the window read, asked once per investigation."""

    def __init__(self, loki: LokiMcp, schemes: Sequence[LabelScheme], *, start: str, end: str) -> None:
        self._loki, self._schemes, self._start, self._end = loki, schemes, start, end
        self._names: set[str] | None = None
        self._values: dict[str, list[str]] = {}
        self._lock = anyio.Lock()

    async def scheme_of(self, resource: Resource) -> LabelScheme:
        """The first scheme whose label's values select some of the resource's streams; `service` when none
        does or Loki cannot say (its error patterns then answer as before: found, or not)."""
        async with self._lock:
            if self._names is None:
                self._names = set(await self._list())
            for scheme in self._schemes:
                if scheme.label not in self._names:
                    continue
                if scheme.label not in self._values:
                    self._values[scheme.label] = await self._list(scheme.label)
                if any(selects(resource, scheme, value) for value in self._values[scheme.label]):
                    return scheme
        return SCHEMES["service"]

    async def _list(self, label: str | None = None) -> list[str]:
        try:
            answer = await self._loki.list_labels(label, start=self._start, end=self._end, limit=MAX_LABEL_VALUES)
        except BackendError:
            return []  # the error patterns' own call says what failed
        return answer.values
