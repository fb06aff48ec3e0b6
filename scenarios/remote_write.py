"""Prometheus remote write (protocol 1.0): live samples of a scenario sent to a Prometheus that receives them.

`scenarios.load` sends a scenario's whole history this way (Prometheus then needs
`storage.tsdb.out_of_order_time_window`, the history being older than what it holds), and what
happens after the scenario is loaded ("now" moving on), so rules evaluate on fresh samples and a
real alert fires. The body is a
snappy-compressed (block format) `prometheus.WriteRequest`; Prometheus must run with
`--web.enable-remote-write-receiver` and takes it at `/api/v1/write`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import cramjam
import httpx

from common.errors import BackendRejected, BackendUnavailable
from common.protobuf_schema import message_classes

__all__ = ["Series", "encode_write_request", "remote_write"]

_WriteRequest = message_classes(
    "prometheus",
    {
        "WriteRequest": [("timeseries", 1, "message", ".prometheus.TimeSeries", True)],
        "TimeSeries": [
            ("labels", 1, "message", ".prometheus.Label", True),
            ("samples", 2, "message", ".prometheus.Sample", True),
        ],
        "Label": [("name", 1, "string", None, False), ("value", 2, "string", None, False)],
        "Sample": [("value", 1, "double", None, False), ("timestamp", 2, "int64", None, False)],
    },
)["WriteRequest"]

HEADERS = {
    "Content-Type": "application/x-protobuf",
    "Content-Encoding": "snappy",
    "X-Prometheus-Remote-Write-Version": "0.1.0",
}


@dataclass(frozen=True)
class Series:
    """One series: its labels (with `__name__`) and (unix milliseconds, value) samples."""

    labels: Mapping[str, str]
    samples: Sequence[tuple[int, float]]


def encode_write_request(series: Sequence[Series]) -> bytes:
    """The request body: labels sorted by name and samples by time, as the protocol requires."""
    request = _WriteRequest()
    for item in series:
        timeseries = request.timeseries.add()
        for name, text in sorted(item.labels.items()):
            timeseries.labels.add(name=name, value=text)
        for timestamp_ms, value in sorted(item.samples):
            timeseries.samples.add(value=value, timestamp=timestamp_ms)
    return bytes(cramjam.snappy.compress_raw(request.SerializeToString()))


async def remote_write(http: httpx.AsyncClient, url: str, series: Sequence[Series]) -> None:
    """Send `series` to `url` (`.../api/v1/write`); BackendError with what to do when refused."""
    try:
        response = await http.post(url, content=encode_write_request(series), headers=HEADERS)
    except httpx.TransportError as exc:
        raise BackendUnavailable(
            f"Remote write to {url} failed ({type(exc).__name__}); is Prometheus running?", backend="prometheus"
        ) from None
    if response.status_code == 404:
        raise BackendRejected(
            f"{url} does not take remote writes (HTTP 404): start Prometheus with --web.enable-remote-write-receiver.",
            backend="prometheus",
            status_code=404,
        )
    if response.status_code >= 300:
        raise BackendRejected(
            f"Remote write to {url} was refused (HTTP {response.status_code}): {response.text[:300]}",
            backend="prometheus",
            status_code=response.status_code,
        )
