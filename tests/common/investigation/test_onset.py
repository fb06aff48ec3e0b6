"""Which change point marks the incident's onset: a daily bend of the request rate never does."""

from __future__ import annotations

from analysis.onset import Kind, Onset
from common.investigation.metrics import SignalSeries
from common.investigation.onset import choose_onset
from common.investigation.scope import ResolvedScope, Resource
from common.investigation.signals import Signal, SignalKind

PRIMARY = Resource("notifications", "prod")
SCOPE = ResolvedScope(PRIMARY, primary_series_namespace="prod")


def series(name: str, kind: SignalKind, at: float, shape: Kind, magnitude: float) -> SignalSeries:
    signal = Signal(name=name, kind=kind, query=f'{name}{{service="$service"}}')
    onset = Onset(at=at, direction="up", kind=shape, before=1.0, after=1.0 + magnitude, magnitude=magnitude, score=9.0)
    return SignalSeries(PRIMARY, signal, signal.query, [], onset, "e1")


def test_a_slow_bend_of_traffic_does_not_mark_the_onset_but_a_memory_ramp_does() -> None:
    daily = series("request_rate", "traffic", 1000.0, "ramp", 0.53)  # six hours of a daily cycle
    leak = series("memory", "saturation", 7000.0, "ramp", 0.6)

    chosen = choose_onset([daily, leak], SCOPE)

    assert chosen is leak


def test_a_traffic_step_marks_the_onset() -> None:
    surge = series("request_rate", "traffic", 1000.0, "step", 3.0)
    latency = series("latency_p99", "symptom", 1600.0, "step", 2.0)

    assert choose_onset([surge, latency], SCOPE) is surge
