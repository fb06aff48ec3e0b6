"""A scenario made private to one run, so several runs can share one federation.

The bundled scenarios all name the same services in the same namespaces: loaded side by side
(or the same one twice) their series, log streams, control-plane resources and alerts would be
one and the same, and one run's triage would read another's data. `isolated(scenario, run_id)`
gives every namespace `N` of the scenario the name `N-<run_id>`:

- each service's namespace (and a `namespace/name` in `depends_on`);
- the `namespace` label of every series, log stream and alert, labels naming a namespace of
  the scenario under another name (`destination_workload_namespace`, `k8s_namespace_name`:
  any `*_namespace` or `*_namespace_name`), and the namespace of a `namespace/name` job;
- a label set with no `namespace` label but whose `service` label names a service of the
  scenario gets that service's namespace, so node series (no namespace of their own) and the
  alerts about them are isolated too; without a `service`, a `node` label (kube-state-metrics'
  node series, KubeNodeNotReady) or an `instance` host naming a node of the scenario does the same;
- the scenario's name, which the control plane's resources carry as their `scenario` label.

Service names, events and the ground truth are unchanged but for the namespace the ground
truth's service now lives in. A label set with neither a namespace nor a service of the
scenario (a cluster-wide series) is left as it is: it has no namespace to isolate.

    run_id = new_run_id()                 # 6 lowercase hex digits
    private = isolated(scenario, run_id)  # checked again by the scenario model
"""

from __future__ import annotations

import re
import secrets
from typing import Any

from scenarios.spec import Scenario, ScenarioError, parse_scenario, scenario_document

__all__ = ["RUN_ID_PATTERN", "isolated", "isolated_namespace", "new_run_id"]

#: What a run id looks like: short enough that `<namespace>-<run id>` stays a valid name.
RUN_ID_PATTERN = re.compile(r"^[0-9a-f]{6}$")
_NAMESPACE_MAX = 63  # the scenario model's (and Kubernetes') longest namespace
_SCENARIO_NAME_MAX = 100
_NAMESPACE_LABEL = re.compile(r"_namespace(_name)?$")


def new_run_id() -> str:
    """A fresh run id: 6 random lowercase hex digits."""
    return secrets.token_hex(3)


def isolated_namespace(namespace: str, run_id: str) -> str:
    """`namespace-run_id`, the namespace shortened when the result would exceed 63 characters."""
    return _suffixed(namespace, run_id, _NAMESPACE_MAX)


def isolated(scenario: Scenario, run_id: str) -> Scenario:
    """The scenario with every namespace (and its name) suffixed by `-run_id`; see the module doc."""
    if RUN_ID_PATTERN.fullmatch(run_id) is None:
        raise ValueError(f"a run id is 6 lowercase hex digits, got {run_id!r}")
    source = f"{scenario.name} (isolated for run {run_id})"
    document = scenario_document(scenario)
    namespaces = _namespace_map(scenario, run_id, source)
    by_service = {service.name: namespaces[service.namespace] for service in scenario.services}
    by_node = {service.name: namespaces[service.namespace] for service in scenario.services if service.kind == "node"}

    document["name"] = _suffixed(scenario.name, run_id, _SCENARIO_NAME_MAX)
    for service in document["services"]:
        service["namespace"] = namespaces[service["namespace"]]
        service["depends_on"] = [_dependency(name, namespaces) for name in service.get("depends_on", [])]
    for section in ("series", "logs", "alerts"):
        for item in document.get(section, []):
            item["labels"] = _labels(item.get("labels", {}), namespaces, by_service, by_node)
    return parse_scenario(document, source)


def _namespace_map(scenario: Scenario, run_id: str, source: str) -> dict[str, str]:
    found = {service.namespace for service in scenario.services}
    for labels in _label_sets(scenario):
        if labels.get("namespace"):
            found.add(labels["namespace"])
    namespaces = {namespace: isolated_namespace(namespace, run_id) for namespace in sorted(found)}
    clashes = len(set(namespaces.values())) != len(namespaces)
    if clashes:
        # Only namespaces longer than 56 characters are shortened; two sharing their first 56 clash.
        raise ScenarioError(source, [("services", "two namespaces share their first 56 characters: shorten them")])
    return namespaces


def _label_sets(scenario: Scenario) -> list[dict[str, str]]:
    return [
        *(series.labels for series in scenario.series),
        *(stream.labels for stream in scenario.logs),
        *(alert.labels for alert in scenario.alerts),
    ]


def _labels(
    labels: dict[str, Any], namespaces: dict[str, str], by_service: dict[str, str], by_node: dict[str, str]
) -> dict[str, Any]:
    labels = dict(labels)
    had_namespace = bool(labels.get("namespace"))
    for name, value in labels.items():
        # Istio's destination_workload_namespace, OTel's k8s_namespace_name: namespaces under other names.
        if (name == "namespace" or _NAMESPACE_LABEL.search(name)) and value in namespaces:
            labels[name] = namespaces[value]
    namespace, slash, rest = str(labels.get("job", "")).partition("/")
    if slash and namespace in namespaces:
        # A `namespace/name` job, as Prometheus' Kubernetes discovery and the OTel collector write it.
        labels["job"] = f"{namespaces[namespace]}/{rest}"
    if had_namespace:
        return labels
    node = labels.get("node") or str(labels.get("instance", "")).rpartition(":")[0]
    if labels.get("service") in by_service:
        labels["namespace"] = by_service[labels["service"]]
    elif node in by_node:
        # A cluster-scoped series about a node: Kubernetes nodes have no namespace, the scenario's node has one.
        labels["namespace"] = by_node[node]
    return labels


def _dependency(name: str, namespaces: dict[str, str]) -> str:
    namespace, slash, service = name.rpartition("/")
    return f"{namespaces.get(namespace, namespace)}/{service}" if slash else name


def _suffixed(name: str, run_id: str, longest: int) -> str:
    return f"{name[: longest - len(run_id) - 1]}-{run_id}"
