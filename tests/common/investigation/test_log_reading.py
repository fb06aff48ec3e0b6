"""Triage's log stage against a real loki-mcp: a service without logs is quiet, a refused query is a failure."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from support.log_dataset import build_log_dataset
from support.mcp_session import loki_session

from common.investigation import logs
from common.investigation.evidence import EvidenceLog
from common.investigation.logs import read_log_rises
from common.investigation.scope import ResolvedScope, Resource
from common.investigation.sources import LOKI
from common.investigation.window import Window
from common.mcp.toolbox import Toolbox

pytestmark = pytest.mark.anyio


def window() -> Window:
    end = time.time()
    return Window(start=end - 3600, end=end, step=15)


async def test_a_service_without_logs_is_no_failure(tmp_path: Path) -> None:
    evidence = EvidenceLog()
    async with loki_session(tmp_path, build_log_dataset().streams) as client:
        toolbox = Toolbox({LOKI: client}, {}, deadline_seconds=30)
        rises = await read_log_rises(
            toolbox, ResolvedScope(Resource("no-such-service", None)), window(), None, evidence
        )
    assert rises == []
    assert evidence.degraded() == []


async def test_a_log_query_the_server_refuses_degrades_the_report_instead_of_meaning_no_logs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A bug in triage's own query: loki-mcp refuses it ("no stream selector"), which says nothing
    # about whether the service has logs.
    monkeypatch.setattr(logs, "_stream_selector", lambda resource, namespace: f'service="{resource.name}"')
    evidence = EvidenceLog()
    async with loki_session(tmp_path, build_log_dataset().streams) as client:
        toolbox = Toolbox({LOKI: client}, {}, deadline_seconds=30)
        rises = await read_log_rises(toolbox, ResolvedScope(Resource("checkout", None)), window(), None, evidence)
    assert rises == []
    (failure,) = evidence.degraded()
    assert failure.source == LOKI
    assert "error patterns of checkout" in failure.reason
    assert "stream selector" in failure.reason
