from __future__ import annotations

import copy
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

NOW = datetime(2026, 11, 5, 12, 0, 7, 250_000, tzinfo=UTC)


def small_scenario() -> dict[str, Any]:
    """A one-hour scenario with one of everything, small enough to check point by point."""
    return {
        "name": "small-checkout",
        "description": "checkout v2 breaks",
        "seed": 7,
        "duration": "1h",
        "step": "1m",
        "services": [
            {
                "name": "checkout",
                "namespace": "prod",
                "kind": "deployment",
                "version": "v1",
                "replicas": 3,
                "depends_on": ["payments", "cart-db"],
            },
            {"name": "payments", "namespace": "prod", "kind": "deployment", "version": "v9"},
            {"name": "cart-db", "namespace": "data", "kind": "database"},
        ],
        "series": [
            {
                "metric": "http_requests_total",
                "type": "counter",
                "labels": {"service": "checkout", "namespace": "prod", "code": "500"},
                "baseline": 1,
                "noise": 0.05,
                "effects": [{"at": "-20m", "kind": "step", "factor": 10}],
            },
            {
                "metric": "http_request_duration_seconds",
                "type": "histogram",
                "labels": {"service": "checkout", "namespace": "prod"},
                "baseline": 10,
                "latency": {"median_ms": 50, "p99_ms": 200},
                "buckets": [0.025, 0.05, 0.1, 0.5, 1],
                "effects": [{"at": "-20m", "kind": "step", "latency_factor": 8}],
            },
            {
                "metric": "queue_depth",
                "type": "gauge",
                "labels": {"service": "payments"},
                "baseline": 100,
                "effects": [
                    {"at": "-40m", "until": "-30m", "kind": "spike", "factor": 3},
                    {"at": "-20m", "kind": "ramp", "until": "-10m", "to_factor": 2},
                ],
            },
            {
                "metric": "up",
                "type": "gauge",
                "labels": {"service": "cart-db"},
                "baseline": 1,
                "from": "-50m",
                "until": "-5m",
            },
        ],
        "logs": [
            {
                "labels": {"service": "checkout", "namespace": "prod"},
                "format": "json",
                "lines": [
                    {"template": 'level=info msg="GET /cart" status=200 duration_ms={int:5-40} id={uuid}', "rate": 0.5},
                    {
                        "template": "ERROR order {hex:8} from {ip} failed in {choice:a|b} after {float:0.5-2.5}s",
                        "rate": 0.2,
                        "from": "-20m",
                        "until": "-10m",
                    },
                ],
            },
        ],
        "events": [
            {"at": "-21m", "type": "deployment", "service": "checkout", "version": "v2", "actor": "ci-bot"},
            {"at": "-2h", "type": "deployment", "service": "checkout", "version": "v1.5", "status": "failed"},
            {
                "at": "-5h",
                "type": "config_change",
                "service": "payments",
                "actor": "alice",
                "ref": "db.pool.max",
                "from": 10,
                "to": 20,
            },
            {"at": "-3m", "type": "rollback", "service": "checkout", "version": "v1"},
        ],
        "alerts": [
            {
                "alertname": "HighErrorRate",
                "labels": {"service": "checkout", "severity": "critical"},
                "starts_at": "-15m",
                "summary": "5xx above 5%",
            },
            {
                "alertname": "HighErrorRate",
                "labels": {"service": "payments", "severity": "critical"},
                "starts_at": "-14m",
                "summary": "payments 5xx above 5%",
                "runbook_url": "https://runbooks/5xx",
            },
            {
                "alertname": "Flap",
                "labels": {"service": "payments"},
                "starts_at": "-30m",
                "ends_at": "-25m",
                "summary": "blip",
            },
        ],
        "expected": {"root_cause": {"kind": "deployment", "service": "checkout", "ref": "v2"}, "onset": "-20m"},
    }


@pytest.fixture
def scenario_data() -> dict[str, Any]:
    return small_scenario()


@pytest.fixture
def write_scenario(tmp_path: Path) -> Callable[..., Path]:
    def write(data: dict[str, Any] | None = None, name: str = "scenario.yaml") -> Path:
        path = tmp_path / name
        path.write_text(yaml.safe_dump(copy.deepcopy(data if data is not None else small_scenario()), sort_keys=False))
        return path

    return write
