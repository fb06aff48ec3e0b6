"""The readers' shared calls: a source that fails degrades the report instead of stopping it, and
calls run a few at a time."""

from __future__ import annotations

import time

import anyio
import pytest

from common.investigation.alerts import read_firing_alerts
from common.investigation.anomalies import scan_anomalies
from common.investigation.catalogue import applicable, load_profiles
from common.investigation.changes import read_changes
from common.investigation.evidence import EvidenceLog
from common.investigation.logs import read_log_rises
from common.investigation.metrics import read_signals
from common.investigation.scope import ResolvedScope, Resource
from common.investigation.sources import CONCURRENCY, CONTROLPLANE, LOKI, PROMETHEUS, for_each
from common.investigation.window import Window
from common.mcp.toolbox import Toolbox

pytestmark = pytest.mark.anyio

SCOPE = ResolvedScope(Resource("checkout", "prod"), dependencies=[Resource("payments", "prod")])


async def test_every_reader_notes_an_unavailable_server_as_degraded_and_returns_nothing() -> None:
    down = dict.fromkeys((PROMETHEUS, LOKI, CONTROLPLANE), "not in the registry")
    toolbox = Toolbox({}, down, deadline_seconds=5)
    evidence = EvidenceLog()
    end = time.time()
    window = Window(start=end - 3600, end=end, step=60)
    catalogue = applicable(load_profiles(), None)

    series = await read_signals(toolbox, SCOPE, catalogue, window, evidence)
    anomalies = await scan_anomalies(toolbox, SCOPE, catalogue, window, None, evidence)
    rises = await read_log_rises(toolbox, SCOPE, window, None, evidence)
    changes = await read_changes(toolbox, SCOPE, window, evidence)
    await read_firing_alerts(toolbox, SCOPE, evidence)

    assert (series, anomalies, rises, changes, evidence.items) == ([], [], [], [], [])
    degraded = {failure.source: failure.reason for failure in evidence.degraded()}
    assert set(degraded) == {PROMETHEUS, LOKI, CONTROLPLANE}
    assert "not in the registry" in degraded[LOKI]
    assert "changes of checkout" in degraded[CONTROLPLANE]


async def test_for_each_reads_every_item_with_at_most_concurrency_calls_in_flight() -> None:
    in_flight = 0
    most = 0
    read: list[int] = []

    async def slow_read(item: int) -> None:
        nonlocal in_flight, most
        in_flight += 1
        most = max(most, in_flight)
        await anyio.sleep(0.01)
        in_flight -= 1
        read.append(item)

    await for_each(range(3 * CONCURRENCY), slow_read)

    assert sorted(read) == list(range(3 * CONCURRENCY))
    assert most == CONCURRENCY
