"""OpenTelemetry spans for the work an agent does: its stages and its MCP tool calls.

    with span("triage.stage", stage="Gathering signals"):    # recorded as sre.stage
        ...

`span` starts a span on the `sre_federation` tracer as a child of the current one, so that under
`adk web` an agent's spans sit inside ADK's `invoke_agent` span, in the trace that ADK ties to the
session (`gen_ai.conversation.id`). Work started with `asyncio.create_task` inherits the current
span, so a worker task's spans join the same trace. The dev UI's Traces tab then draws a trace
under the chat's invocation only if a span in it carries `gcp.vertex.agent.invocation_id`, which
ADK itself sets on model calls alone: an agent opens its outermost span with `invocation_span`.

The spans go wherever the process's tracer provider sends them: the dev UI's in-memory exporter
(and, with `OTEL_EXPORTER_OTLP_ENDPOINT` set, ADK's own OTLP exporter), the OTLP collector
`export_spans_from_environment` sets up for `sre serve`, or nowhere when no provider is set (the
API's no-op tracer costs next to nothing). docs/observability.md says how to collect them.

Keyword attributes are recorded under the `sre.` namespace (`service=` becomes `sre.service`);
values that are None are left out. Attributes are for identifiers and outcomes, never for tool
arguments or tokens. Each span ends with `sre.outcome`: `ok`, `error` (with `error.type`, the
failure's `ErrorKind` when it has one, and a redacted message as the status) or `cancelled`.

A span must not be held open across a `yield` of an async generator (an ADK agent's
`_run_async_impl`): the generator may be resumed or closed in another context, where the span
cannot be detached. Open it around the awaited work between two yields instead.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from contextlib import contextmanager

from opentelemetry import trace
from opentelemetry.sdk.environment_variables import (
    OTEL_EXPORTER_OTLP_ENDPOINT,
    OTEL_EXPORTER_OTLP_TRACES_ENDPOINT,
    OTEL_SERVICE_NAME,
)
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import Span, Status, StatusCode

from common.redaction import redact

__all__ = [
    "ADK_INVOCATION_ID",
    "ATTRIBUTE_PREFIX",
    "TRACER_NAME",
    "AttributeValue",
    "export_spans_from_environment",
    "invocation_span",
    "span",
]

TRACER_NAME = "sre_federation"
ATTRIBUTE_PREFIX = "sre."
#: The attribute by which ADK Web's Traces tab finds the trace of a chat's invocation.
ADK_INVOCATION_ID = "gcp.vertex.agent.invocation_id"

AttributeValue = str | bool | int | float

_MAX_STATUS_TEXT = 300


@contextmanager
def span(name: str, /, **attributes: AttributeValue | None) -> Iterator[Span]:
    """A span named `name` around the block, current inside it; usable in sync and async code alike."""
    tracer = trace.get_tracer(TRACER_NAME)
    recorded = {ATTRIBUTE_PREFIX + key: value for key, value in attributes.items() if value is not None}
    # Exceptions are recorded here, not by OpenTelemetry: its record_exception writes the stack
    # trace and the raw message, which may quote a backend's answer; ours is redacted.
    with tracer.start_as_current_span(
        name, attributes=recorded, record_exception=False, set_status_on_exception=False
    ) as current:
        try:
            yield current
        except asyncio.CancelledError:
            # Cancelled work did not fail: a deadline elsewhere or the caller going away ended it.
            current.set_attribute(ATTRIBUTE_PREFIX + "outcome", "cancelled")
            raise
        except Exception as exc:
            _record_failure(current, exc)
            raise
        current.set_attribute(ATTRIBUTE_PREFIX + "outcome", "ok")


@contextmanager
def invocation_span(name: str, invocation_id: str, /, **attributes: AttributeValue | None) -> Iterator[Span]:
    """The outermost span of an agent's work for one ADK invocation (`InvocationContext.invocation_id`)."""
    with span(name, **attributes) as current:
        current.set_attribute(ADK_INVOCATION_ID, invocation_id)
        yield current


def export_spans_from_environment(service: str) -> bool:
    """Sends this process's spans to the OTLP/HTTP collector `OTEL_EXPORTER_OTLP_ENDPOINT` (or
    `..._TRACES_ENDPOINT`) names, as `service` unless `OTEL_SERVICE_NAME` says otherwise; False,
    and nothing set up, when neither endpoint is set. The exporter reads the other standard
    `OTEL_EXPORTER_OTLP_*` variables (headers, timeout, certificate) itself."""
    if not (os.environ.get(OTEL_EXPORTER_OTLP_ENDPOINT) or os.environ.get(OTEL_EXPORTER_OTLP_TRACES_ENDPOINT)):
        return False
    # Imported here: only a process that exports needs the exporter and its protobuf modules.
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    provider = TracerProvider(resource=Resource.create({SERVICE_NAME: os.environ.get(OTEL_SERVICE_NAME) or service}))
    # Batched, so a request never waits on the collector; the provider flushes what is left at exit.
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
    return True


def _record_failure(current: Span, exc: BaseException) -> None:
    """Marks `current` failed by `exc`: its kind (or type) as `error.type`, a redacted message as the status."""
    current.set_attribute(ATTRIBUTE_PREFIX + "outcome", "error")
    current.set_attribute("error.type", str(getattr(exc, "kind", None) or type(exc).__qualname__))
    message = redact(str(exc) or type(exc).__name__)[:_MAX_STATUS_TEXT]
    current.set_status(Status(StatusCode.ERROR, message))
