"""A server that answers outside its tool's contract degrades the report; it never reads as "no data"."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import pytest

from common.investigation.catalogue import applicable, load_profiles
from common.investigation.changes import read_changes
from common.investigation.evidence import EvidenceLog
from common.investigation.metrics import read_signals
from common.investigation.scope import ResolvedScope, Resource
from common.investigation.sources import CONTROLPLANE, PROMETHEUS
from common.investigation.window import Window

pytestmark = pytest.mark.anyio

SCOPE = ResolvedScope(Resource("checkout", "prod"))


class Drifted:
    """A toolbox whose servers answer every call with a bounded result and nothing else (an older server's
    fields, say): no `series`, no `changes`."""

    async def call(
        self, server: str, tool: str, arguments: Mapping[str, Any], *, typed: bool = False
    ) -> dict[str, Any]:
        return {"returned": 0, "total": 0, "truncated": False}


async def test_results_missing_their_fields_are_failures_of_the_server_not_empty_answers() -> None:
    evidence = EvidenceLog()
    end = time.time()
    window = Window(start=end - 3600, end=end, step=60)

    series = await read_signals(Drifted(), SCOPE, applicable(load_profiles(), None), window, evidence)
    changes = await read_changes(Drifted(), SCOPE, window, evidence)  # type: ignore[arg-type]

    assert (series, changes, evidence.items) == ([], [], [])
    degraded = {failure.source: failure.reason for failure in evidence.degraded()}
    assert set(degraded) == {PROMETHEUS, CONTROLPLANE}
    # The first Prometheus call is the listing of the resource's metric names; the queries follow.
    assert "prometheus_list_labels answered a result that does not fit its contract" in degraded[PROMETHEUS]
    assert "controlplane_list_changes answered a result that does not fit its contract" in degraded[CONTROLPLANE]
