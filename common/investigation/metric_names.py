"""The metric names each resource's series carry, per label scheme, read once per investigation: `MetricNames`.

One `prometheus_list_labels` of `__name__` per (resource, scheme) over the window, with the
scheme's matchers for the resource (`identity.tool_matchers`, the selection `identity.matchers`
writes into a signal's query). A deployment labels its series in a few of the dozen schemes the
profiles know, so each scheme is first listed once for the resources of the scope that share a
namespace (its label matching any of their names: a superset of each one's series); a scheme with
no metric for any of them needs no listing per resource. Two readers use the answer:

- `metrics.read_signals` asks a catalogue signal only when the resource has one of the metrics the
  signal selects with `$selector` (`Signal.metric_names`). The profiles offer several label schemes
  and instrumentations per signal, and nine in ten of the queries they write select no series for
  a given resource; a listing per scheme answers all of them (on the bundled suite, about 190
  range queries per investigation became about 20);
- `anomalies.scan_anomalies` scans the resource's metrics outside the catalogue.

A listing that failed or was cut short (more names than MAX_PAGES pages) is `None`: the signal
reader then asks every signal as before, so the listing only ever saves queries, never loses a
signal. A failure is noted in the evidence log ("metric names of X"); after a failed listing of
the whole scope, each resource is listed on its own.
"""

from __future__ import annotations

import anyio

from common.contracts.calls import ToolCaller
from common.contracts.prometheus import PrometheusMcp
from common.investigation.evidence import EvidenceLog
from common.investigation.identity import MAX_PATTERN, SCHEMES, alternations, quote_meta, tool_matchers
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
        self._in_scope: dict[tuple[str, tuple[tuple[str, str], ...]], bool] = {}
        self._scope_locks: dict[tuple[str, tuple[tuple[str, str], ...]], anyio.Lock] = {}

    def matchers(self, resource: Resource, scheme: str) -> dict[str, str]:
        """The matchers selecting `resource`'s series in `scheme` (as prometheus-mcp's tools take them)."""
        return tool_matchers(resource, scheme, self._scope.series_namespace(resource))

    async def of(self, resource: Resource, scheme: str) -> frozenset[str] | None:
        """The metric names of `resource`'s series in `scheme`; None if they could not all be listed."""
        if self._covered(resource) and not await self._used(resource, scheme):
            return frozenset()
        key = (resource.namespace or "", resource.name, scheme)
        async with self._locks.setdefault(key, anyio.Lock()):
            if key not in self._listed:
                self._listed[key] = await self._list(self.matchers(resource, scheme), resource.name)
        return self._listed[key]

    def _covered(self, resource: Resource) -> bool:
        """Whether `resource` is one of the scope's, which `_used` lists together."""
        return any(r is resource for r in self._scope.investigated)

    async def _used(self, resource: Resource, scheme: str) -> bool:
        """Whether any resource of the scope selected as `resource` is in `scheme` (same namespace matchers) has a
        series in it; True when that cannot be said."""
        key = self._namespaced(resource, scheme)
        async with self._scope_locks.setdefault(key, anyio.Lock()):
            if key not in self._in_scope:
                label = SCHEMES[scheme].label
                together = [r for r in self._scope.investigated if self._namespaced(r, scheme) == key]
                groups = alternations([self._pattern(r, scheme) for r in together])
                namespace = dict(key[1])
                # A single name's pattern past prometheus-mcp's bound cannot be asked together: list one by one.
                self._in_scope[key] = any(len(group) > MAX_PATTERN for group in groups) or any(
                    names is None or names
                    for names in [await self._list({label: f"=~{g}", **namespace}, "the scope") for g in groups]
                )
        return self._in_scope[key]

    def _namespaced(self, resource: Resource, scheme: str) -> tuple[str, tuple[tuple[str, str], ...]]:
        """`scheme` and the matchers besides its label that select `resource` (its namespace's)."""
        label = SCHEMES[scheme].label
        return scheme, tuple(sorted((k, v) for k, v in self.matchers(resource, scheme).items() if k != label))

    def _pattern(self, resource: Resource, scheme: str) -> str:
        """The RE2 pattern of `resource`'s name in `scheme`'s label (its regex, or its value matched literally)."""
        value = self.matchers(resource, scheme)[SCHEMES[scheme].label]
        return value.removeprefix("=~") if value.startswith("=~") else quote_meta(value)

    async def _list(self, selected: dict[str, str], what: str) -> frozenset[str] | None:
        names: set[str] = set()
        cursor = None
        for _ in range(MAX_PAGES):
            page = await noted(
                self._prometheus.list_labels(
                    "__name__",
                    matchers=selected,
                    start=iso(self._window.start),
                    end=iso(self._window.end),
                    cursor=cursor,
                ),
                self._evidence,
                f"metric names of {what}",
            )
            if page is None:
                return None
            names.update(page.values)
            cursor = page.next_cursor
            if cursor is None:
                return frozenset(names)
        return None
