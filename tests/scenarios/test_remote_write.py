"""Remote write against a real Prometheus: samples sent now are queryable, out-of-order ones refused clearly."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest
from support.backends import PrometheusProcess

from common.errors import BackendRejected
from scenarios.remote_write import Series, remote_write

pytestmark = [pytest.mark.anyio, pytest.mark.integration]


async def test_samples_written_are_queryable(tmp_path: Path) -> None:
    now_ms = int(time.time() * 1000)
    series = [
        Series(
            {"__name__": "scenario_live_total", "service": "checkout", "code": "500"},
            [(now_ms - 2000, 1.0), (now_ms - 1000, 3.0), (now_ms, 6.0)],
        ),
        Series({"__name__": "scenario_live_total", "service": "checkout", "code": "200"}, [(now_ms, 40.0)]),
    ]
    with PrometheusProcess(tmp_path, None, remote_write_receiver=True) as prometheus:
        async with httpx.AsyncClient(timeout=10) as http:
            await remote_write(http, f"{prometheus.url}/api/v1/write", series)
            answer = (
                await http.get(
                    f"{prometheus.url}/api/v1/query",
                    params={"query": 'scenario_live_total{service="checkout"}', "time": now_ms / 1000},
                )
            ).json()
    values = {s["metric"]["code"]: float(s["value"][1]) for s in answer["data"]["result"]}
    assert values == {"500": 6.0, "200": 40.0}


async def test_a_prometheus_without_the_receiver_is_a_clear_error(tmp_path: Path) -> None:
    with PrometheusProcess(tmp_path, None) as prometheus:
        async with httpx.AsyncClient(timeout=10) as http:
            with pytest.raises(BackendRejected) as refused:
                await remote_write(http, f"{prometheus.url}/api/v1/write", [Series({"__name__": "x"}, [(1, 1.0)])])
    assert "--web.enable-remote-write-receiver" in str(refused.value)
