"""The metric names each resource's series carry, per label scheme, read once per investigation: `MetricNames`.

One `prometheus_list_labels` of `__name__` per (resource, scheme) over the window, with the
scheme's matchers for the resource (`identity.tool_matchers`, the selection `identity.matchers`
writes into a signal's query). Two readers use the answer:

- `metrics.read_signals` asks a catalogue signal only when the resource has one of the metrics the
  signal selects with `$selector` (`Signal.metric_names`). The profiles offer several label schemes
  and instrumentations per signal, and nine in ten of the queries they write select no series for
  a given resource; a listing per scheme answers all of them (on the bundled suite, about 190
  range queries per investigation became about 20);
- `anomalies.scan_anomalies` scans the resource's metrics outside the catalogue.

A listing that failed or was cut short (more names than MAX_PAGES pages) is `None`: the signal
reader then asks every signal as before, so the listing only ever saves queries, never loses a
signal. A failure is noted once in the evidence log ("metric names of X").
"""

from __future__ import annotations

import anyio

from common.contracts.calls import ToolCaller
from common.contracts.prometheus import PrometheusMcp
from common.investigation.evidence import EvidenceLog
from common.investigation.identity import tool_matchers
from common.investigation.scope import ResolvedScope, Resource
from common.investigation.sources import noted
from common.investigation.window import Window
from common.timerange import iso

__all__ = ["MAX_PAGES", "MetricNames"]

#: Pages of names (the server's page size, 1000 by default) read per listing, at most: a bound, not a need.
MAX_PAGES = 5


class MetricNames:
    """Each (resource, scheme)'s metric names over `window`, listed once (`of`), noted in `evidence` if it failed."""

    def __init__(self, toolbox: ToolCaller, scope: ResolvedScope, window: Window, evidence: EvidenceLog) -> None:
        self._prometheus = PrometheusMcp(toolbox)
        self._scope = scope
        self._window = window
        self._evidence = evidence
        self._listed: dict[tuple[str, str, str], frozenset[str] | None] = {}
        self._locks: dict[tuple[str, str, str], anyio.Lock] = {}

    def matchers(self, resource: Resource, scheme: str) -> dict[str, str]:
        """The matchers selecting `resource`'s series in `scheme` (as prometheus-mcp's tools take them)."""
        return tool_matchers(resource, scheme, self._scope.series_namespace(resource))

    async def of(self, resource: Resource, scheme: str) -> frozenset[str] | None:
        """The metric names of `resource`'s series in `scheme`; None if they could not all be listed."""
        key = (resource.namespace or "", resource.name, scheme)
        async with self._locks.setdefault(key, anyio.Lock()):
            if key not in self._listed:
                self._listed[key] = await self._list(resource, scheme)
        return self._listed[key]

    async def _list(self, resource: Resource, scheme: str) -> frozenset[str] | None:
        names: set[str] = set()
        cursor = None
        for _ in range(MAX_PAGES):
            page = await noted(
                self._prometheus.list_labels(
                    "__name__",
                    matchers=self.matchers(resource, scheme),
                    start=iso(self._window.start),
                    end=iso(self._window.end),
                    cursor=cursor,
                ),
                self._evidence,
                f"metric names of {resource.name}",
            )
            if page is None:
                return None
            names.update(page.values)
            cursor = page.next_cursor
            if cursor is None:
                return frozenset(names)
        return None
