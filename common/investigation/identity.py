"""Identity: from an alert's or a series' labels to the workload they are about, and back to its series.

Real clusters rarely put a `service` label on every series. kube-prometheus-stack's cAdvisor series
carry `namespace/pod/container`, kube-state-metrics' carry `deployment` or `pod`, scraped
applications `job`/`instance`, the OpenTelemetry collector `job` (`<service.namespace>/<service.name>`)
and `service_name`, Istio `destination_workload`, node-exporter `instance`. This module holds the
rules, pure (no I/O):

- `subject_of(labels, aliases)`: the workload a label set is about, trying the roles of ROLES in
  order, each role's label names configurable per environment (`LabelAliases`);
- `workload_of_pod(pod)`: a workload's name from its pod's (the ReplicaSet/StatefulSet/DaemonSet
  suffix Kubernetes appends), or from `kube_pod_owner`/`kube_replicaset_owner` when a reader has them;
- `matchers(resource, scheme, namespace)`: the PromQL/LogQL label matchers (no braces) that select a
  resource's series in one label scheme (SCHEMES). A workload's `pod` matcher is a regex over its pods'
  names, so its series are the union of its pods' over the window: a rollout does not end a signal.
  `tool_matchers` is the same selection as prometheus-mcp's tools take it (`=~` for a regex).

An exporter's series are about the server it exports, named in its own labels (postgres_exporter's
`server`, redis_exporter's `addr`: a Kubernetes DNS name, whose namespace is in the name) rather than by
the scrape target's `job`/`service` (`accounts-db-metrics`); an IP address there or in `instance` is kept
for a reader to resolve through kube_pod_info (`pods.PodDirectory`). An `ingress` label names an Ingress,
whose backend Services a reader finds (`ingresses.backends`). A series' own namespace that clashed with
its scrape target's is its `exported_namespace`.

Two kinds of scrape target describe other objects than themselves, and their target labels (`job`,
`service`, `instance`, and their own `pod`/`container`) must not be read as the subject:
kube-state-metrics and the kubelet's cAdvisor describe pods, deployments, nodes; node-exporter
describes its host, named by `instance` (`LabelAliases.object_exporters`, `node_exporters`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Literal

from common.errors import InputError

if TYPE_CHECKING:
    from common.investigation.scope import Resource

__all__ = [
    "MAX_PATTERN",
    "ROLES",
    "SCHEMES",
    "LabelAliases",
    "LabelScheme",
    "PodOwners",
    "WorkloadRef",
    "alternations",
    "checked_aliases",
    "matchers",
    "quote_meta",
    "schemes",
    "selects",
    "subject_of",
    "tool_matchers",
    "workload_of_pod",
]

#: prometheus-mcp refuses a matcher's regex longer than 512 characters; `alternations` stay within this.
MAX_PATTERN = 500
#: The labels that may name what a label set is about, in the order they are trusted: the most deliberate
#: naming (a `service` someone wrote) first, names derived from pods and hosts last.
ROLES = (
    "service",
    "service_name",
    "app_kubernetes_io_name",
    "app",
    "job",
    "server",
    "addr",
    "deployment",
    "statefulset",
    "daemonset",
    "destination_workload",
    "ingress",
    "pod",
    "container",
    "node",
    "instance",
)
#: Labels that say where the series was scraped from rather than what it describes.
_TARGET_ROLES = frozenset({"service", "job", "instance"})
#: Labels in which an exporter names the server it exports, as `[scheme://][user@]host[:port]`: postgres_exporter's
#: `server`, redis_exporter's `addr`. On an exporter's series they say what the series are about, and the
#: scrape target's `service`/`job` (its metrics Service, `accounts-db-metrics`) only where it is scraped from.
_ADDRESS_ROLES = ("server", "addr")
# A series' own `namespace` that clashed with its scrape target's is renamed `exported_namespace` by Prometheus
# (honor_labels: false): ingress-nginx's, scraped in the controller's namespace, names the Ingress's there.
_NAMESPACE_LABELS = ("exported_namespace", "namespace", "k8s_namespace_name")
#: Jobs whose series describe other Kubernetes objects (kube-state-metrics, the kubelet's cAdvisor).
DEFAULT_OBJECT_EXPORTERS = ("kube-state-metrics", "kubelet", "cadvisor")
#: Jobs whose series describe the host they run on, named by `instance`.
DEFAULT_NODE_EXPORTERS = ("node-exporter", "node_exporter", "prometheus-node-exporter", "node")

# Kubernetes names generated suffixes with this alphabet (apimachinery's util/rand: no vowels, no 0/1/3,
# so that no word is spelt); a ReplicaSet's pod-template-hash has 1-10 of its characters, a pod's suffix 5.
_SAFE = "bcdfghjklmnpqrstvwxz2456789"
_DEPLOYMENT_POD = re.compile(rf"^(?P<name>.+)-[{_SAFE}]{{1,10}}-[{_SAFE}]{{5}}$")
# A CronJob's Job is `<cronjob>-<scheduled minute since the epoch>`, its pod `<job>-<5 chars>`.
_CRONJOB_POD = re.compile(rf"^(?P<name>.+)-[0-9]{{8,10}}-[{_SAFE}]{{5}}$")
_STATEFULSET_POD = re.compile(r"^(?P<name>.+)-(?:0|[1-9][0-9]*)$")
_DAEMONSET_POD = re.compile(rf"^(?P<name>.+)-[{_SAFE}]{{5}}$")
_POD_SUFFIX = {
    "deployment": f"[{_SAFE}]{{1,10}}-[{_SAFE}]{{5}}",
    "statefulset": "[0-9]+",
    "daemonset": f"[{_SAFE}]{{5}}",
    "cronjob": f"[0-9]{{8,10}}-[{_SAFE}]{{5}}",
}
_ANY_POD_SUFFIX = f"(?:(?:[{_SAFE}]{{1,10}}-|[0-9]{{8,10}}-)?[{_SAFE}]{{5}}|[0-9]+)"
# The Prometheus exporter naming convention (`postgres_exporter`, chart `prometheus-postgres-exporter`):
# the exporter's job is about the thing it exports.
# A Helm chart's metrics Service (Bitnami's postgresql, redis, rabbitmq: `<release>-metrics`) is the same.
_EXPORTER = re.compile(r"^(?:.*?prometheus-)?(?P<name>.+?)(?:[-_]exporter|-metrics)$")
_URL_SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*://")
_IP = re.compile(r"^(?:[0-9]{1,3}(?:\.[0-9]{1,3}){3}|[0-9a-fA-F:]*:[0-9a-fA-F:.]*)$")
_ALIAS_ENTRY = re.compile(r"^\s*(?P<role>[a-z_]+)\s*=\s*(?P<labels>[^=;]+?)\s*$")
_LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")


@dataclass(frozen=True)
class WorkloadRef:
    """What a label set is about: `kind` a hint (`deployment`, `statefulset`, `daemonset`, `cronjob`,
    `node`, `pod`) or None; `label` the label it was read from; `other_names` further names the labels
    give, in order, for a lookup that does not find `name`."""

    name: str
    namespace: str | None
    kind: str | None
    label: str
    other_names: tuple[str, ...] = ()
    #: The IP address of the pod the labels are about (an exporter's `server`, a target's `instance`), for a
    #: reader to resolve through kube_pod_info's `pod_ip` when no name is found.
    address: str | None = None


@dataclass(frozen=True)
class LabelAliases:
    """Extra label names for each role of ROLES (and `namespace`), per environment; and the jobs whose
    series describe other objects (`object_exporter`) or their host (`node_exporter`).

    Written as `role=label,label;role=...`, e.g. `service=team_service,svc;namespace=k8s_ns;
    object_exporter=ksm` (TRIAGE_LABEL_ALIASES); a role's own label name is always tried first.
    """

    extra: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    object_exporters: tuple[str, ...] = DEFAULT_OBJECT_EXPORTERS
    node_exporters: tuple[str, ...] = DEFAULT_NODE_EXPORTERS

    @classmethod
    def parse(cls, text: str) -> LabelAliases:
        """`role=label,label;role=...`; an InputError names an unknown role or a malformed entry."""
        extra: dict[str, tuple[str, ...]] = {}
        exporters = {"object_exporter": list(DEFAULT_OBJECT_EXPORTERS), "node_exporter": list(DEFAULT_NODE_EXPORTERS)}
        for entry in filter(str.strip, text.split(";")):
            match = _ALIAS_ENTRY.match(entry)
            if match is None:
                raise InputError(f"Label alias {entry.strip()!r} is not `role=label,label`.")
            role = match["role"]
            names = tuple(n.strip() for n in match["labels"].split(",") if n.strip())
            if role in exporters:
                exporters[role].extend(names)
                continue
            if role not in (*ROLES, "namespace"):
                raise InputError(
                    f"Label alias role {role!r} is unknown: use one of {', '.join(ROLES)}, namespace, "
                    f"object_exporter, node_exporter."
                )
            bad = [n for n in names if not _LABEL_NAME.match(n)]
            if bad:
                raise InputError(f"Label alias {entry.strip()!r}: {', '.join(bad)} is not a Prometheus label name.")
            extra[role] = (*extra.get(role, ()), *names)
        return cls(extra, tuple(exporters["object_exporter"]), tuple(exporters["node_exporter"]))

    def labels_for(self, role: str) -> tuple[str, ...]:
        """The label names that play `role`, its own first."""
        own = _NAMESPACE_LABELS if role == "namespace" else (role,)
        return (*own, *(n for n in self.extra.get(role, ()) if n not in own))


def checked_aliases(value: str | None) -> str | None:
    """A settings field's aliases as written, once `LabelAliases.parse` reads them: a ValueError (which pydantic
    reports under the setting's name) says what is wrong (TRIAGE_LABEL_ALIASES, ROUTER_LABEL_ALIASES)."""
    try:
        LabelAliases.parse(value or "")
    except InputError as exc:
        raise ValueError(str(exc)) from None
    return value


@dataclass(frozen=True)
class PodOwners:
    """Pods' owners as kube-state-metrics exports them: `kube_pod_owner{namespace,pod,owner_kind,owner_name}`
    and `kube_replicaset_owner{namespace,replicaset,owner_kind,owner_name}` label sets."""

    pods: Mapping[str, tuple[str, str]] = field(default_factory=dict)
    replicasets: Mapping[str, tuple[str, str]] = field(default_factory=dict)

    @classmethod
    def of(cls, pod_owner: Iterable[Mapping[str, str]], replicaset_owner: Iterable[Mapping[str, str]]) -> PodOwners:
        def owners(series: Iterable[Mapping[str, str]], key: str) -> dict[str, tuple[str, str]]:
            return {
                s[key]: (s["owner_kind"], s["owner_name"])
                for s in series
                if s.get(key) and s.get("owner_name") and s.get("owner_kind") not in (None, "", "<none>")
            }

        return cls(owners(pod_owner, "pod"), owners(replicaset_owner, "replicaset"))

    def owner(self, pod: str) -> tuple[str, str] | None:
        """(kind, name) of the workload that owns `pod`, a ReplicaSet followed up to its Deployment."""
        found = self.pods.get(pod)
        if found is None:
            return None
        kind, name = found
        if kind == "ReplicaSet":
            kind, name = self.replicasets.get(name, ("ReplicaSet", name))
        return kind.lower(), name


def workload_of_pod(pod: str, owners: PodOwners | None = None) -> str | None:
    """The workload a pod belongs to (`checkout-7d9f8b6c5-x2x4z` -> `checkout`), None when nothing can be said."""
    found = _pod_workload(pod, owners)
    return found[0] if found else None


def subject_of(labels: Mapping[str, str], aliases: LabelAliases, owners: PodOwners | None = None) -> WorkloadRef | None:
    """The workload an alert's or a series' labels are about, None when no label names one."""
    namespace = _first(labels, aliases.labels_for("namespace"))
    job = _first(labels, aliases.labels_for("job"))
    job_name = job.rsplit("/", 1)[-1] if job else None
    if job_name in aliases.node_exporters:
        node = _first(labels, aliases.labels_for("node"))
        host = _host(_first(labels, aliases.labels_for("instance")))
        name = node or host
        return WorkloadRef(name, None, "node", "node" if node else "instance") if name else None
    describes_others = job_name in aliases.object_exporters
    roles: Iterable[str] = ROLES
    if _scraped_from_exporter(labels, aliases):
        roles = (*_ADDRESS_ROLES, *(r for r in ROLES if r not in _ADDRESS_ROLES))
    found: list[WorkloadRef] = []
    for role in roles:
        if describes_others and role in _TARGET_ROLES:
            continue
        for label in aliases.labels_for(role):
            value = labels.get(label)
            if value:
                found.extend(_read(role, label, value, labels, namespace, owners))
    if describes_others:
        # The exporter's own pod and container (a target label where the series has none of its own).
        found = [f for f in found if not _names_exporter(f.name, job_name or "")]
    address = _ip_address(labels, aliases)
    if not found:
        return WorkloadRef(address, None, "address", "instance", address=address) if address else None
    first = found[0]
    others = tuple(dict.fromkeys(f.name for f in found[1:] if f.name != first.name))
    return WorkloadRef(first.name, first.namespace, first.kind, first.label, others, address)


Kind = Literal["equal", "job", "pod", "instance", "address"]


@dataclass(frozen=True)
class LabelScheme:
    """A way series name their resource: `label` holds its name (`kind` says how it is matched) and
    `namespace_label` its namespace, None when the scheme has none."""

    label: str
    namespace_label: str | None = "namespace"
    kind: Kind = "equal"
    #: Series may lack `namespace_label`: the namespace matcher also selects series without it.
    namespace_optional: bool = False


#: The label schemes of kube-prometheus-stack, the OpenTelemetry collector, Istio and Promtail/Alloy.
SCHEMES: Mapping[str, LabelScheme] = {
    "service": LabelScheme("service"),
    "job": LabelScheme("job", kind="job"),
    # OTel's service.namespace is no Kubernetes namespace, and the scrape's `namespace` is often the
    # collector's; the k8sattributes processor's k8s.namespace.name is the workload's when it is there, and
    # without it two namespaces' services of one name (staging and production) would be read as one.
    "service_name": LabelScheme("service_name", "k8s_namespace_name", namespace_optional=True),
    "app_kubernetes_io_name": LabelScheme("app_kubernetes_io_name"),
    "app": LabelScheme("app"),
    # The server an exporter exports: its namespace is in the host name, the series' `namespace` is the exporter's.
    "server": LabelScheme("server", None, "address"),
    "addr": LabelScheme("addr", None, "address"),
    "deployment": LabelScheme("deployment"),
    "statefulset": LabelScheme("statefulset"),
    "daemonset": LabelScheme("daemonset"),
    "pod": LabelScheme("pod", kind="pod"),
    "container": LabelScheme("container"),
    "destination_workload": LabelScheme("destination_workload", "destination_workload_namespace"),
    # ingress-nginx's backend `service`, in the Ingress's namespace as a Pod/ServiceMonitor scrapes it.
    "ingress_backend": LabelScheme("service", "exported_namespace"),
    "node": LabelScheme("node", None),
    "instance": LabelScheme("instance", None, "instance"),
}


def schemes(aliases: LabelAliases) -> tuple[LabelScheme, ...]:
    """Every scheme, with a scheme per alias label (an alias of `service` is matched as `service` is)."""
    found: list[LabelScheme] = []
    for name, scheme in SCHEMES.items():
        found.append(scheme)
        found.extend(replace(scheme, label=label) for label in aliases.labels_for(name)[1:])
    return tuple(found)


def matchers(resource: Resource, scheme: LabelScheme | str, namespace: str | None = None) -> str:
    """PromQL/LogQL label matchers, without braces, selecting `resource`'s series in `scheme`.

    `namespace` is the namespace label its series carry (None: no namespace matcher). The name is the
    resource's own label for the scheme when the control plane gives one (its `app.kubernetes.io/name`
    for `app_kubernetes_io_name`), else its name. Values are escaped, regexes are RE2 (anchored).
    """
    scheme = SCHEMES[scheme] if isinstance(scheme, str) else scheme
    pattern = _pattern(resource, scheme, namespace)
    if pattern is None:
        parts = [f"{scheme.label}={_string(_label_value(resource, scheme.label))}"]
    else:
        parts = [f"{scheme.label}=~{_string(pattern)}"]
    if namespace and scheme.namespace_label:
        if scheme.namespace_optional:
            parts.append(f"{scheme.namespace_label}=~{_string(quote_meta(namespace) + '|')}")
        else:
            parts.append(f"{scheme.namespace_label}={_string(namespace)}")
    return ",".join(parts)


def selects(resource: Resource, scheme: LabelScheme, value: str, namespace: str | None = None) -> bool:
    """Whether `matchers(resource, scheme, namespace)` selects series whose `scheme.label` is `value`."""
    pattern = _pattern(resource, scheme, namespace)
    if pattern is None:
        return value == _label_value(resource, scheme.label)
    return re.fullmatch(pattern, value) is not None


def _pattern(resource: Resource, scheme: LabelScheme, namespace: str | None) -> str | None:
    """The RE2 pattern (anchored, as Prometheus and Loki anchor it) of a regex scheme; None for equality."""
    name = _label_value(resource, scheme.label)
    if scheme.kind == "job":
        exported = _EXPORTER.match(name)
        name = quote_meta(exported["name"] if exported else name)
        return f"(?:.+/)?(?:prometheus-)?{name}(?:[-_]exporter|-metrics)?"
    if scheme.kind == "address":
        # `name`, `name.namespace`, `name.namespace.svc.cluster.local`, with a URL scheme, user and port or not.
        domain = f"\\.{quote_meta(namespace)}(?:\\.[^:/]*)?" if namespace else "\\.[^:/]*"
        return f"(?:[a-zA-Z][a-zA-Z0-9+.-]*://)?(?:[^@/]*@)?{quote_meta(name)}(?:{domain})?(?::[0-9]+)?(?:/.*)?"
    if scheme.kind == "pod":
        return f"{quote_meta(name)}-{_POD_SUFFIX.get(resource.kind or '', _ANY_POD_SUFFIX)}"
    if scheme.kind == "instance":
        return f"{quote_meta(name)}(?::[0-9]+)?"
    return None


def tool_matchers(resource: Resource, scheme: LabelScheme | str, namespace: str | None = None) -> dict[str, str]:
    """The same selection as `matchers`, as the `matchers` argument prometheus-mcp's tools take: `label: value`
    for an equality, `label: "=~<regex>"` for a regex scheme (`job`, `pod`, `instance`, an address)."""
    scheme = SCHEMES[scheme] if isinstance(scheme, str) else scheme
    pattern = _pattern(resource, scheme, namespace)
    selected = {scheme.label: _label_value(resource, scheme.label) if pattern is None else f"=~{pattern}"}
    if namespace and scheme.namespace_label:
        optional = scheme.namespace_optional
        selected[scheme.namespace_label] = f"=~{quote_meta(namespace)}|" if optional else namespace
    return selected


def _read(
    role: str, label: str, value: str, labels: Mapping[str, str], namespace: str | None, owners: PodOwners | None
) -> list[WorkloadRef]:
    if role == "job":
        job_namespace, _, name = value.rpartition("/")
        exported = _EXPORTER.match(name)
        ref = WorkloadRef(name, namespace or job_namespace or None, None, label)
        return [ref, WorkloadRef(exported["name"], ref.namespace, None, label)] if exported else [ref]
    if role == "pod":
        found = _pod_workload(value, owners)
        return [
            WorkloadRef(found[0], namespace, found[1], label) if found else WorkloadRef(value, namespace, "pod", label)
        ]
    if role == "destination_workload":
        return [WorkloadRef(value, labels.get("destination_workload_namespace") or namespace, None, label)]
    if role == "node":
        return [WorkloadRef(value, None, "node", label)]
    if role == "ingress":
        # An Ingress is no workload: a reader finds the Services it routes to (`ingresses.backends`).
        return [WorkloadRef(value, namespace, "ingress", label)]
    if role == "instance":
        return []  # a scrape address names a host only for a node exporter's series (above)
    if role in _ADDRESS_ROLES:
        named = _service_host(value)
        return [WorkloadRef(named[0], named[1] or namespace, None, label)] if named else []
    kind = role if role in ("deployment", "statefulset", "daemonset") else None
    exported = _EXPORTER.match(value) if role == "service" else None
    ref = WorkloadRef(value, namespace, kind, label)
    return [ref, WorkloadRef(exported["name"], namespace, None, label)] if exported else [ref]


def _pod_workload(pod: str, owners: PodOwners | None) -> tuple[str, str] | None:
    if owners is not None and (owner := owners.owner(pod)) is not None:
        return owner[1], owner[0]
    for kind, pattern in (
        ("deployment", _DEPLOYMENT_POD),
        ("cronjob", _CRONJOB_POD),
        ("statefulset", _STATEFULSET_POD),
        ("daemonset", _DAEMONSET_POD),
    ):
        match = pattern.match(pod)
        if match:
            return match["name"], kind
    return None


def _scraped_from_exporter(labels: Mapping[str, str], aliases: LabelAliases) -> bool:
    """Whether the labels carry an exported server's address and were scraped from an exporter (its job or
    service named `<x>-exporter`, `<x>-metrics`): then the address names what they are about."""
    if not any(labels.get(role) for role in _ADDRESS_ROLES):
        return False
    targets = (*aliases.labels_for("job"), *aliases.labels_for("service"))
    return any(_EXPORTER.match(labels[n].rsplit("/", 1)[-1]) for n in targets if labels.get(n))


def _service_host(address: str) -> tuple[str, str | None] | None:
    """(name, namespace) of the host in an exporter's server address: Kubernetes DNS names a Service
    `name[.namespace[.svc[.cluster.local]]]` and a StatefulSet's pod `pod.service.namespace.svc...`;
    None for an IP address (resolved through kube_pod_info by a reader) or an empty host."""
    host = _address_host(address)
    if not host or _IP.match(host):
        return None
    parts = host.split(".")
    if len(parts) >= 4 and parts[3] == "svc":
        return parts[1], parts[2]
    if len(parts) == 2 or (len(parts) >= 3 and parts[2] == "svc"):
        return parts[0], parts[1]
    return parts[0], None


def _ip_address(labels: Mapping[str, str], aliases: LabelAliases) -> str | None:
    """The IP address an exporter's server address or the scrape target's `instance` holds, if any."""
    for name in (*_ADDRESS_ROLES, *aliases.labels_for("instance")):
        host = _address_host(labels.get(name) or "")
        if host and _IP.match(host):
            return host
    return None


def _address_host(address: str) -> str | None:
    """The host of `[scheme://][user@]host[:port][/path]`."""
    return _host(_URL_SCHEME.sub("", address).rsplit("@", 1)[-1].split("/", 1)[0])


def _names_exporter(name: str, job: str) -> bool:
    # Its pod is `<release>-kube-state-metrics-<hash>-<suffix>`, its container `kube-state-metrics`.
    return bool(job) and job in name


def _first(labels: Mapping[str, str], names: Iterable[str]) -> str | None:
    return next((labels[n] for n in names if labels.get(n)), None)


def _host(instance: str | None) -> str | None:
    """`host:port` -> host (an IPv6 address in brackets loses them)."""
    if not instance:
        return None
    if instance.startswith("["):
        return instance[1:].split("]", 1)[0] or None
    host, _, port = instance.rpartition(":")
    return host if host and port.isdigit() else instance


def _label_value(resource: Resource, label: str) -> str:
    # Its own labels, then its pods' selector: the labels Promtail and Alloy copy onto its pods' streams.
    for labels in (resource.labels, resource.selector):
        for key, value in labels.items():
            if _sanitised(key) == label and value:
                return value
    return resource.name


def _sanitised(key: str) -> str:
    """A Kubernetes label key as Prometheus' service discovery writes it (`app.kubernetes.io/name` ->
    `app_kubernetes_io_name`)."""
    return re.sub(r"[^a-zA-Z0-9_]", "_", key)


def quote_meta(text: str) -> str:
    """Go's regexp.QuoteMeta: `text` matched literally in an RE2 pattern."""
    return re.sub(r"([\\.+*?()|\[\]{}^$])", r"\\\1", text)


def alternations(patterns: Iterable[str]) -> list[str]:
    """RE2 alternations selecting what any of `patterns` selects, each at most MAX_PATTERN characters long, for
    prometheus-mcp's bound on a matcher's regex (a single longer pattern stands alone: it cannot be joined)."""
    groups: list[list[str]] = []
    for pattern in dict.fromkeys(f"(?:{p})" for p in patterns):
        if groups and len("|".join([*groups[-1], pattern])) <= MAX_PATTERN:
            groups[-1].append(pattern)
        else:
            groups.append([pattern])
    return ["|".join(group) for group in groups]


def _string(value: str) -> str:
    """A PromQL/LogQL double-quoted string."""
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'
