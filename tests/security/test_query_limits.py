"""Checklist row 34: hostile PromQL is rejected or clamped with a clear message; values are escaped."""

from __future__ import annotations

import pytest
from support.backends import PrometheusProcess
from support.mcp_session import call, call_error, prometheus_session
from support.metrics_dataset import ODD_TENANT, Dataset

pytestmark = [pytest.mark.anyio, pytest.mark.integration]


async def test_row_34_thirty_days_at_one_second_is_clamped_to_11000_points(prometheus: PrometheusProcess) -> None:
    async with prometheus_session(prometheus.url) as client:
        result = await call(
            client, "prometheus_query_range", query="up", start="now-30d", end="now", step="1s", detail="summary"
        )
    assert result["step_seconds"] * 10999 >= 30 * 86400
    assert any("so that each series has at most 11000 points" in note for note in result["limits_applied"])


@pytest.mark.parametrize("query", ['{__name__=~".+"}', 'count({__name__=~".*"})', "topk(5, {__name__=~'.+'})"])
async def test_row_34_a_selector_of_every_series_is_rejected(prometheus: PrometheusProcess, query: str) -> None:
    async with prometheus_session(prometheus.url) as client:
        message = await call_error(client, "prometheus_query", query=query)
    assert "selects every series" in message


async def test_row_34_a_query_over_4_kib_is_rejected(prometheus: PrometheusProcess) -> None:
    async with prometheus_session(prometheus.url) as client:
        message = await call_error(client, "prometheus_query", query="up or " * 700 + "up")
    assert "the limit is 4096" in message


async def test_row_34_an_injected_label_value_stays_a_value(
    prometheus: PrometheusProcess, metrics_dataset: Dataset
) -> None:
    window = {"start": str(metrics_dataset.start), "end": str(metrics_dataset.end)}
    async with prometheus_session(prometheus.url) as client:
        injected = await call(client, "prometheus_find_series", matchers={"service": 'a"}or vector(1)'}, **window)
        literal = await call(client, "prometheus_find_series", matchers={"tenant": ODD_TENANT}, **window)
        scan = await call(
            client,
            "prometheus_find_anomalous_series",
            metric="queue_depth",
            matchers={"queue": 'x"} or up{"'},
            **window,
        )
    assert (injected["total"], injected["series"]) == (0, [])
    assert literal["series"] == [{"__name__": "tenant_info", "tenant": ODD_TENANT}]
    assert scan["scanned_series"] == 0
    assert scan["query"] == 'queue_depth{queue="x\\"} or up{\\""}'
