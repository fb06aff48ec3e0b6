"""`/patterns`: log templates of the lines a query selects, with their counts per step.

Loki's pattern ingester mines templates as lines arrive; here `analysis.templates.TemplateMiner`
mines them over the window at query time, one miner per level (`detected_level`, else `level`),
as Loki keeps them apart by level too. Every variable part, a masked value (`<NUM>`, `<IP>`, ...)
or a wildcard, reads `<_>` as in Loki. Samples are `[unix seconds, lines]` per step: a line's
time is first cut to 10 s (the pattern ingester's resolution), then to the start of its step (a
multiple of the step), from a template's first step to its last with zeros between; templates
come most frequent first.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Mapping

import anyio.to_thread

from analysis.masking import PLACEHOLDERS
from analysis.templates import WILDCARD, TemplateMiner
from servers.loki_mcp.local.engine import entry_chunks
from servers.loki_mcp.local.pipeline import Pipeline
from servers.loki_mcp.local.records import LogStore, StoredEntry
from servers.loki_mcp.logql import LogQuery

__all__ = ["VARIABLE", "patterns"]

VARIABLE = "<_>"
_RESOLUTION_NS = 10 * 10**9
_VARIABLES = re.compile("|".join(re.escape(token) for token in sorted({*PLACEHOLDERS, WILDCARD})))


def loki_template(template: str) -> str:
    return _VARIABLES.sub(VARIABLE, template)


def _level(labels: Mapping[str, str]) -> str:
    return labels.get("detected_level") or labels.get("level") or "unknown"


async def patterns(
    store: LogStore, query: LogQuery, start_ns: int, end_ns: int, step_ns: int
) -> list[dict[str, object]]:
    streams = {s.id: s.labels for s in await store.select_streams(query.matchers, start_ns, end_ns)}
    if not streams:
        return []
    pipeline = Pipeline(query.pipeline)
    miners: dict[str, TemplateMiner] = defaultdict(TemplateMiner)
    counts: dict[tuple[str, str], dict[int, int]] = defaultdict(lambda: defaultdict(int))
    step_s = max(step_ns // 10**9, 1)

    def mine(chunk: list[tuple[int, StoredEntry]]) -> None:
        # On a worker thread (mining is CPU work); the miners are only touched here while it runs.
        for stream_id, entry in chunk:
            base = {**streams[stream_id], **entry.structured_metadata}
            parsed = pipeline.run(entry.line, base)
            if parsed is None:
                continue
            level = _level({**base, **parsed})
            match = miners[level].add(entry.line)
            bucket = entry.timestamp_ns // _RESOLUTION_NS * _RESOLUTION_NS // 10**9 // step_s * step_s
            counts[level, match.template_id][bucket] += 1

    entries = store.entries(list(streams), start_ns, end_ns, direction="forward", contains=pipeline.contains)
    async for chunk in entry_chunks(entries):
        await anyio.to_thread.run_sync(mine, chunk)
    found = []
    for level, miner in miners.items():
        for template in miner.templates():
            buckets = counts[level, template.id]
            first, last = min(buckets), max(buckets)
            samples = [[ts, buckets.get(ts, 0)] for ts in range(first, last + 1, step_s)]
            found.append((template.count, loki_template(template.template), level, samples))
    found.sort(key=lambda item: (-item[0], item[1]))
    return [{"pattern": text, "level": level, "samples": samples} for _, text, level, samples in found]
