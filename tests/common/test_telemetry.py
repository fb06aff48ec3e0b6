"""Spans of `common.telemetry`: what a trace viewer or an OTLP collector receives."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Iterator

import pytest
from mcp import Client
from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode
from support.otlp_collector import Collector, otlp_collector

from common.errors import BackendUnavailable, ToolCallError
from common.mcp.toolbox import Toolbox
from common.telemetry import ADK_INVOCATION_ID, export_spans_from_environment, invocation_span, span


@pytest.fixture(scope="module")
def exporter() -> Iterator[InMemorySpanExporter]:
    # The global provider can be set once per process: reuse one another test set, as `adk web` would.
    provider = trace.get_tracer_provider()
    if not isinstance(provider, TracerProvider):
        provider = TracerProvider()
        trace.set_tracer_provider(provider)
    exporter = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    yield exporter
    exporter.shutdown()


@pytest.fixture
def spans(exporter: InMemorySpanExporter) -> Iterator[InMemorySpanExporter]:
    exporter.clear()
    yield exporter
    exporter.clear()


def finished(exporter: InMemorySpanExporter, name: str) -> ReadableSpan:
    return next(span for span in exporter.get_finished_spans() if span.name == name)


def test_span_records_its_attributes_under_the_sre_namespace_and_succeeds(spans: InMemorySpanExporter) -> None:
    with span("triage.stage.scope", service="checkout", namespace=None, hits=3):
        pass

    scope = finished(spans, "triage.stage.scope")
    assert dict(scope.attributes or {}) == {"sre.service": "checkout", "sre.hits": 3, "sre.outcome": "ok"}
    assert scope.status.status_code is StatusCode.UNSET


def test_a_span_opened_inside_another_is_its_child_in_the_same_trace(spans: InMemorySpanExporter) -> None:
    with span("outer"), span("inner"):
        pass

    outer, inner = finished(spans, "outer"), finished(spans, "inner")
    assert inner.parent is not None
    assert inner.parent.span_id == outer.context.span_id
    assert inner.context.trace_id == outer.context.trace_id


def test_an_invocation_span_carries_the_id_adk_web_finds_its_trace_by(spans: InMemorySpanExporter) -> None:
    with invocation_span("triage.invocation", "e-1234", service="checkout"), span("triage.stage.scope"):
        pass

    invocation = finished(spans, "triage.invocation")
    assert invocation.attributes is not None
    assert invocation.attributes[ADK_INVOCATION_ID] == "e-1234"
    assert invocation.attributes["sre.service"] == "checkout"
    assert finished(spans, "triage.stage.scope").context.trace_id == invocation.context.trace_id


def test_a_task_created_inside_a_span_adds_its_spans_to_that_trace(spans: InMemorySpanExporter) -> None:
    # The agents run an investigation in a worker task; its spans must land in ADK's invocation trace.
    async def work() -> None:
        with span("worker"):
            await asyncio.sleep(0)

    async def invocation() -> None:
        with span("invocation"):
            await asyncio.create_task(work())

    asyncio.run(invocation())

    invocation_span, worker = finished(spans, "invocation"), finished(spans, "worker")
    assert worker.context.trace_id == invocation_span.context.trace_id
    assert worker.parent is not None
    assert worker.parent.span_id == invocation_span.context.span_id


def test_a_failure_names_its_kind_and_a_redacted_message(spans: InMemorySpanExporter) -> None:
    error = ToolCallError(
        "loki-mcp.loki_query_logs failed: upstream said Bearer abcdefghijklmnop is expired",
        backend="loki-mcp",
        tool="loki_query_logs",
        kind="forbidden",
    )
    with pytest.raises(ToolCallError), span("tools/call loki_query_logs"):
        raise error

    call = finished(spans, "tools/call loki_query_logs")
    assert call.attributes is not None
    assert call.attributes["sre.outcome"] == "error"
    assert call.attributes["error.type"] == "forbidden"
    assert call.status.status_code is StatusCode.ERROR
    assert call.status.description is not None
    assert "abcdefghijklmnop" not in call.status.description
    assert "is expired" in call.status.description
    # No exception event: its stack trace and raw message would bypass the redaction.
    assert not call.events


def test_an_error_without_a_kind_is_named_by_its_type(spans: InMemorySpanExporter) -> None:
    with pytest.raises(KeyError), span("lookup"):
        raise KeyError("service")

    assert finished(spans, "lookup").attributes == {"sre.outcome": "error", "error.type": "KeyError"}


def test_cancelled_work_is_not_reported_as_a_failure(spans: InMemorySpanExporter) -> None:
    async def slow() -> None:
        with span("slow"):
            await asyncio.sleep(60)

    async def cancel() -> None:
        task = asyncio.create_task(slow())
        await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(cancel())

    slow_span = finished(spans, "slow")
    assert slow_span.attributes == {"sre.outcome": "cancelled"}
    assert slow_span.status.status_code is StatusCode.UNSET


def tool_server() -> MCPServer:
    server = MCPServer("stand-in")

    @server.tool()
    def lookup(service: str, password: str = "") -> dict[str, str]:
        if service == "missing":
            raise ToolError("No service is named missing.")
        return {"service": service}

    return server


@pytest.mark.anyio
async def test_each_toolbox_call_is_a_span_naming_server_tool_and_outcome_but_no_argument(
    spans: InMemorySpanExporter,
) -> None:
    async with Client(tool_server()) as client:
        toolbox = Toolbox({"stand-in-mcp": client}, {"loki-mcp": "it is not registered"}, deadline_seconds=10)
        assert await toolbox.call("stand-in-mcp", "lookup", {"service": "checkout", "password": "hunter22"}) == {
            "service": "checkout"
        }
        with pytest.raises(ToolCallError):
            await toolbox.call("stand-in-mcp", "lookup", {"service": "missing"})
        with pytest.raises(BackendUnavailable):
            await toolbox.call("loki-mcp", "loki_query_logs", {"query": '{service="checkout"}'})

    calls = [span for span in spans.get_finished_spans() if span.name.startswith("call_tool ")]
    assert [(span.name, dict(span.attributes or {})) for span in calls] == [
        ("call_tool lookup", {"sre.server": "stand-in-mcp", "sre.tool": "lookup", "sre.outcome": "ok"}),
        (
            "call_tool lookup",
            {"sre.server": "stand-in-mcp", "sre.tool": "lookup", "sre.outcome": "error", "error.type": "internal"},
        ),
        (
            "call_tool loki_query_logs",
            {
                "sre.server": "loki-mcp",
                "sre.tool": "loki_query_logs",
                "sre.outcome": "error",
                "error.type": "backend_unavailable",
            },
        ),
    ]
    exported = repr([(span.attributes, span.events, span.status) for span in spans.get_finished_spans()])
    assert "hunter22" not in exported
    assert "checkout" not in exported


@pytest.fixture
def collector() -> Iterator[Collector]:
    with otlp_collector() as running:
        yield running


def test_spans_go_to_the_otlp_collector_the_environment_names(collector: Collector) -> None:
    # A process of its own: the tracer provider is set once per process.
    script = (
        "from common.telemetry import export_spans_from_environment, span\n"
        "assert export_spans_from_environment('triage')\n"
        "with span('triage.stage', stage='Scoping'):\n"
        "    pass\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    env["OTEL_EXPORTER_OTLP_ENDPOINT"] = collector.url
    subprocess.run([sys.executable, "-c", script], env=env, check=True, timeout=60)

    ((resource, stage),) = collector.spans()
    assert stage.name == "triage.stage"
    assert {a.key: a.value.string_value for a in stage.attributes} == {"sre.stage": "Scoping", "sre.outcome": "ok"}
    assert {a.key: a.value.string_value for a in resource.attributes}["service.name"] == "triage"


def test_without_an_otlp_endpoint_nothing_is_exported(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_ENDPOINT", raising=False)
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", raising=False)

    assert export_spans_from_environment("triage") is False
