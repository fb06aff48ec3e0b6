"""A typed tool call sends the arguments that are set and reads the answer with the tool's result model."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from common.contracts.controlplane import ControlplaneMcp
from common.contracts.prometheus import PrometheusMcp, RangeQueryResult
from common.errors import BackendFailed

pytestmark = pytest.mark.anyio

RANGE_ANSWER = {
    "returned": 1,
    "total": 1,
    "truncated": False,
    "backend": "default",
    "query": "up",
    "start": "2026-12-05T10:00:00Z",
    "end": "2026-12-05T11:00:00Z",
    "step_seconds": 60.0,
    "detail": "points",
    "series": [
        {
            "labels": {"job": "api"},
            "summary": {
                "points": 2,
                "non_finite": 1,
                "min": 1.0,
                "max": 1.0,
                "mean": 1.0,
                "first": 1.0,
                "last": 1.0,
                "trend_per_second": None,
            },
            "points": [[1700000000.0, 1.0], [1700000060.0, None]],
        }
    ],
}


class Recorded:
    """A tool caller that answers every call with `answer` and remembers what it was asked."""

    def __init__(self, answer: dict[str, Any]) -> None:
        self.answer = answer
        self.calls: list[tuple[str, str, dict[str, Any]]] = []
        self.typed: list[bool] = []

    async def call(
        self, server: str, tool: str, arguments: Mapping[str, Any], *, typed: bool = False
    ) -> dict[str, Any]:
        self.calls.append((server, tool, dict(arguments)))
        self.typed.append(typed)
        return self.answer


async def test_a_typed_call_leaves_unset_arguments_to_the_tool_and_reads_the_result_model() -> None:
    caller = Recorded(RANGE_ANSWER)

    result = await PrometheusMcp(caller).query_range("up", start="now-1h", step="60s")

    assert caller.calls == [
        ("prometheus-mcp", "prometheus_query_range", {"query": "up", "start": "now-1h", "step": "60s"})
    ]
    # The result model checks the answer: the toolbox need not check it against the tool's JSON schema too.
    assert caller.typed == [True]
    assert isinstance(result, RangeQueryResult)
    [series] = result.series
    assert series.points == [(1700000000.0, 1.0), (1700000060.0, None)]
    assert series.summary.last == 1.0


async def test_an_answer_that_breaks_the_contract_fails_naming_the_server_and_tool() -> None:
    caller = Recorded({"returned": 0, "total": 0, "truncated": False})

    with pytest.raises(BackendFailed) as failed:
        await ControlplaneMcp(caller).list_changes("checkout")

    assert failed.value.backend == "controlplane-mcp"
    assert failed.value.kind == "backend_unavailable"
    message = str(failed.value)
    assert "controlplane-mcp.controlplane_list_changes answered a result that does not fit its contract" in message
    assert "changes" in message
