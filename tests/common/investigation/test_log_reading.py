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
from servers.loki_mcp.models import PushStream

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
    monkeypatch.setattr(logs, "_stream_selector", lambda resource, scheme, namespace: f'service="{resource.name}"')
    evidence = EvidenceLog()
    async with loki_session(tmp_path, build_log_dataset().streams) as client:
        toolbox = Toolbox({LOKI: client}, {}, deadline_seconds=30)
        rises = await read_log_rises(toolbox, ResolvedScope(Resource("checkout", None)), window(), None, evidence)
    assert rises == []
    (failure,) = evidence.degraded()
    assert failure.source == LOKI
    assert "error patterns of checkout" in failure.reason
    assert "stream selector" in failure.reason


def _relabelled(pods: tuple[str, ...], **labels: str) -> tuple[PushStream, ...]:
    """The dataset's streams as a cluster's shipper labels them: checkout's lines from `pods` in turn (a
    rollout replaced the first), with `labels` and no `service` label anywhere."""
    streams = []
    for stream in build_log_dataset().streams:
        service = stream.labels["service"]
        if service != "checkout":
            streams.append(
                PushStream({"namespace": "prod", "app": service, "level": stream.labels["level"]}, stream.entries)
            )
            continue
        half = len(stream.entries) // 2
        for pod, entries in zip(pods, (stream.entries[:half], stream.entries[half:]), strict=True):
            shipped = {"namespace": "prod", "pod": pod, "level": stream.labels["level"], **labels}
            streams.append(PushStream(shipped, entries))
    return tuple(streams)


ROLLOUT = ("checkout-7d9f8b6c5-x2x4z", "checkout-5b6c7d8f9-k2m4p")


@pytest.mark.parametrize(
    "streams",
    [
        pytest.param(_relabelled(ROLLOUT, job="prod/checkout", container="checkout"), id="promtail-kubernetes-sd"),
        pytest.param(_relabelled(ROLLOUT, app="checkout", container="checkout"), id="alloy-app-label"),
        pytest.param(_relabelled(ROLLOUT, service_name="checkout"), id="otel-collector"),
        pytest.param(_relabelled(ROLLOUT), id="pod-names-only"),
    ],
)
async def test_a_services_log_rise_is_found_in_streams_without_a_service_label(
    tmp_path: Path, streams: tuple[PushStream, ...]
) -> None:
    evidence = EvidenceLog()
    async with loki_session(tmp_path, streams) as client:
        toolbox = Toolbox({LOKI: client}, {}, deadline_seconds=30)
        scope = ResolvedScope(Resource("checkout", "prod"), primary_series_namespace="prod")
        onset = time.time() - 60 - 30 * 60  # the dataset's incident began 30 min before its end
        rises = await read_log_rises(toolbox, scope, window(), onset, evidence)
    assert evidence.degraded() == []
    assert any("connection refused" in rise.template for rise in rises)
    assert all(rise.resource == "checkout" for rise in rises)
