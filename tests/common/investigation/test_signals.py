"""The signal catalogue: profiles and a user's file load, render escaped queries in each label scheme that a
real Prometheus parses, and bad files are refused naming the problem."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from support.backends import PrometheusProcess

from common.errors import ConfigError
from common.investigation.catalogue import applicable, load_profiles
from common.investigation.scope import Resource
from common.investigation.signals import Signal, load_catalogue

CHECKOUT = Resource("checkout", "prod", kind="deployment")


def _signal(name: str, labels: str) -> Signal:
    """The first profile's `name` in the scheme `labels`."""
    return next(s for s in applicable(load_profiles(), None) if s.name == name and s.labels == labels)


def test_the_bundled_profiles_cover_every_kind_of_signal_and_the_common_shapes() -> None:
    profiles = {profile.name: profile for profile in load_profiles()}
    assert next(iter(profiles)) == "service-label"
    assert {
        "opentelemetry",
        "micrometer",
        "istio",
        "nginx-ingress",
        "kube-prometheus-stack",
        "node-exporter",
        "postgres-exporter",
        "redis-exporter",
        "rabbitmq",
    } <= set(profiles)
    signals = applicable(load_profiles(), None)
    assert {signal.kind for signal in signals} == {"symptom", "traffic", "saturation", "availability"}
    assert {"error_ratio", "latency_p99", "request_rate", "restarts", "memory", "up"} <= {s.name for s in signals}
    error_ratios = [s.labels for s in signals if s.name == "error_ratio"]
    assert error_ratios == [
        "service",
        "service_name",
        "job",
        "job",
        "destination_workload",
        "ingress_backend",
        "service",
    ]


@pytest.mark.parametrize(
    ("name", "labels", "selects"),
    [
        ("error_ratio", "service", 'http_requests_total{service="checkout",namespace="prod",code=~"5.."}'),
        ("error_ratio", "service_name", 'http_server_request_duration_seconds_count{service_name="checkout",'),
        (
            "error_ratio",
            "destination_workload",
            '{destination_workload="checkout",destination_workload_namespace="prod",',
        ),
        (
            "restarts",
            "pod",
            'kube_pod_container_status_restarts_total{pod=~"checkout-[bcdfghjklmnpqrstvwxz2456789]{1,10}-',
        ),
        ("replicas_available", "deployment", '{deployment="checkout",namespace="prod"}'),
        ("replicas_available", "statefulset", 'kube_statefulset_status_replicas_ready{statefulset="checkout",'),
        (
            "db_locks",
            "job",
            'pg_locks_count{job=~"(?:.+/)?(?:prometheus-)?checkout(?:[-_]exporter|-metrics)?",namespace="prod"}',
        ),
    ],
)
def test_a_signal_selects_the_resource_in_its_own_label_scheme(name: str, labels: str, selects: str) -> None:
    assert selects in _signal(name, labels).render(CHECKOUT, "prod")


def test_a_node_signal_is_read_for_nodes_only() -> None:
    (filesystem,) = [s for s in applicable(load_profiles(), None) if s.name == "node_filesystem"]
    assert filesystem.reads(Resource("worker-3", None, kind="node"))
    assert not filesystem.reads(CHECKOUT)
    assert 'instance=~"worker-3(?::[0-9]+)?"' in filesystem.render(Resource("worker-3", None, kind="node"), None)


def test_a_name_cannot_change_the_query(tmp_path: Path) -> None:
    hostile = Resource('x"} or vector(1) or {a="', "prod")
    query = _signal("request_rate", "service").render(hostile, "prod")
    assert query == 'sum(rate(http_requests_total{service="x\\"} or vector(1) or {a=\\"",namespace="prod"}[5m]))'
    assert _signal("request_rate", "service").render(Resource("checkout", None), None) == (
        'sum(rate(http_requests_total{service="checkout"}[5m]))'
    )
    # A user's file may still name the resource by $service and $namespace.
    path = tmp_path / "signals.toml"
    path.write_text(
        "[[signal]]\nname = 'rps'\nkind = 'traffic'\nquery = 'sum(rate(req{app=\"$service\",ns=\"$namespace\"}[5m]))'\n"
    )
    (rps,) = load_catalogue(path)
    assert rps.render(hostile, "prod") == 'sum(rate(req{app="x\\"} or vector(1) or {a=\\"",ns="prod"}[5m]))'


@pytest.mark.integration
def test_prometheus_parses_every_profile_signal(prometheus: PrometheusProcess) -> None:
    resources = [CHECKOUT, Resource('odd"name.+', "prod"), Resource("worker-3", None, kind="node")]
    for signal in applicable(load_profiles(), None):
        for resource in resources:
            query = signal.render(resource, resource.namespace)
            response = httpx.get(f"{prometheus.url}/api/v1/query", params={"query": query}, timeout=10)
            assert response.status_code == 200, (signal.name, signal.labels, query, response.text)
            assert response.json()["status"] == "success"


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("[[signal]]\nname = 'x'\nkind = 'symptom'\nquery = 'up{job=\"$job\"}'\n", "unknown placeholder(s) $job"),
        ("[[signal]]\nname = 'x'\nkind = 'mood'\nquery = 'up'\n", "signal.0.kind"),
        ("[[signal]]\nname = 'x'\nkind = 'symptom'\nlabels = 'team'\nquery = 'up'\n", "unknown label scheme 'team'"),
        ("[[signal]]\nname = 'x'\nkind = 'symptom'\nquery = 'up'\nextra = 1\n", "signal.0.extra"),
        ("signal = [", "not valid TOML"),
        ("", "signal: Field required"),
        (
            "[[signal]]\nname = 'x'\nkind = 'symptom'\nquery = 'up'\n[[signal]]\nname = 'x'\nkind = 'traffic'\n"
            "query = 'up'\n",
            "names x more than once",
        ),
    ],
)
def test_a_bad_catalogue_is_a_configuration_error_naming_the_problem(tmp_path: Path, text: str, problem: str) -> None:
    path = tmp_path / "signals.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as refused:
        load_catalogue(path)
    assert problem in str(refused.value)
    assert str(path) in str(refused.value)


def test_a_catalogue_that_cannot_be_read_names_the_setting_that_pointed_at_it(tmp_path: Path) -> None:
    missing = tmp_path / "absent.toml"
    with pytest.raises(ConfigError) as refused:
        load_catalogue(missing, setting="POSTMORTEM_SIGNALS_FILE")
    assert f"{missing} (POSTMORTEM_SIGNALS_FILE)" in str(refused.value)
    assert "TRIAGE" not in str(refused.value)
