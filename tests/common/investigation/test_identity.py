"""Identity rules on real clusters' label sets (kube-prometheus-stack, OTel collector, Istio, Promtail/Alloy)."""

from __future__ import annotations

import pytest

from common.errors import InputError
from common.investigation.identity import (
    SCHEMES,
    LabelAliases,
    PodOwners,
    matchers,
    selects,
    subject_of,
    tool_matchers,
    workload_of_pod,
)
from common.investigation.scope import Resource
from common.regex import compile_user_regex

KSM = {
    "job": "kube-state-metrics",
    "service": "kps-kube-state-metrics",
    "endpoint": "http",
    "instance": "10.2.0.7:8080",
}
KSM_SELF = {"pod": "kps-kube-state-metrics-6d8f9c7b5d-q2xwz", "container": "kube-state-metrics", **KSM}


@pytest.mark.parametrize(
    ("pod", "workload"),
    [
        ("checkout-7d9f8b6c5-x2x4z", "checkout"),  # Deployment: <name>-<pod-template-hash>-<suffix>
        ("payments-api-5c4d8b7f9b-kq7wz", "payments-api"),
        ("web-b4c-2xk9p", "web"),  # a short hash
        ("postgres-0", "postgres"),  # StatefulSet ordinal
        ("rabbitmq-server-12", "rabbitmq-server"),
        ("node-exporter-7x9kq", "node-exporter"),  # DaemonSet
        ("report-28391520-mx2vz", "report"),  # CronJob: <name>-<scheduled minute>-<suffix>
        ("standalone", None),
        ("postgres-01", None),  # no ordinal has a leading zero
    ],
)
def test_workload_of_pod_reads_the_suffix_kubernetes_appends(pod: str, workload: str | None) -> None:
    assert workload_of_pod(pod) == workload


def test_pod_owners_from_kube_state_metrics_win_over_the_name() -> None:
    owners = PodOwners.of(
        [
            {
                "namespace": "prod",
                "pod": "ledger-5c4d8b7f9b-kq7wz",
                "owner_kind": "ReplicaSet",
                "owner_name": "ledger-v2-5c4d8b7f9b",
            },
            {"namespace": "prod", "pod": "etcd-main-0", "owner_kind": "StatefulSet", "owner_name": "etcd"},
            {"namespace": "prod", "pod": "loner", "owner_kind": "<none>", "owner_name": "<none>"},
        ],
        [
            {
                "namespace": "prod",
                "replicaset": "ledger-v2-5c4d8b7f9b",
                "owner_kind": "Deployment",
                "owner_name": "ledger-v2",
            }
        ],
    )
    assert workload_of_pod("ledger-5c4d8b7f9b-kq7wz", owners) == "ledger-v2"
    assert workload_of_pod("etcd-main-0", owners) == "etcd"
    assert workload_of_pod("loner", owners) is None


ALIASES = LabelAliases()


@pytest.mark.parametrize(
    ("labels", "name", "namespace", "kind"),
    [
        # kube-prometheus-stack's KubePodCrashLooping: kube-state-metrics' target labels name the exporter.
        (
            {
                "alertname": "KubePodCrashLooping",
                "namespace": "prod",
                "pod": "checkout-7d9f8b6c5-x2x4z",
                "container": "checkout",
                "reason": "CrashLoopBackOff",
                "uid": "9e1c",
                **KSM,
            },
            "checkout",
            "prod",
            "deployment",
        ),
        # KubeDeploymentReplicasMismatch: the pod and container are kube-state-metrics' own.
        (
            {"alertname": "KubeDeploymentReplicasMismatch", "namespace": "prod", "deployment": "payments", **KSM_SELF},
            "payments",
            "prod",
            "deployment",
        ),
        (
            {"alertname": "KubeStatefulSetReplicasMismatch", "namespace": "db", "statefulset": "postgres", **KSM_SELF},
            "postgres",
            "db",
            "statefulset",
        ),
        (
            {"alertname": "KubeNodeNotReady", "node": "ip-10-0-1-2", "condition": "Ready", **KSM_SELF},
            "ip-10-0-1-2",
            None,
            "node",
        ),
        # cAdvisor through the kubelet.
        (
            {
                "__name__": "container_memory_working_set_bytes",
                "job": "kubelet",
                "service": "kps-kubelet",
                "metrics_path": "/metrics/cadvisor",
                "namespace": "prod",
                "pod": "cart-6f7d9b8c4-m2n4p",
                "container": "cart",
                "node": "ip-10-0-1-3",
            },
            "cart",
            "prod",
            "deployment",
        ),
        # TargetDown names the job and its service.
        (
            {"alertname": "TargetDown", "job": "payments", "namespace": "prod", "service": "payments"},
            "payments",
            "prod",
            None,
        ),
        # node-exporter: the host, from `instance` (kube-prometheus relabels it to the node's name, or host:port).
        (
            {
                "alertname": "NodeFilesystemSpaceFillingUp",
                "instance": "ip-10-0-1-2:9100",
                "job": "node-exporter",
                "mountpoint": "/var",
                "device": "/dev/nvme0n1p1",
                "fstype": "ext4",
                "namespace": "monitoring",
                "pod": "kps-prometheus-node-exporter-7x9kq",
                "service": "kps-prometheus-node-exporter",
            },
            "ip-10-0-1-2",
            None,
            "node",
        ),
        # An OTel collector's series: job is <service.namespace>/<service.name>.
        (
            {
                "__name__": "http_server_request_duration_seconds_count",
                "job": "shop/checkout",
                "instance": "6b1f0c",
                "http_response_status_code": "500",
            },
            "checkout",
            "shop",
            None,
        ),
        ({"service_name": "checkout", "service_namespace": "shop", "job": "shop/checkout"}, "checkout", None, None),
        # Istio's standard metrics.
        (
            {
                "__name__": "istio_requests_total",
                "destination_workload": "reviews-v2",
                "destination_workload_namespace": "bookinfo",
                "response_code": "503",
                "reporter": "destination",
            },
            "reviews-v2",
            "bookinfo",
            None,
        ),
        # Promtail / Alloy streams.
        (
            {
                "app": "cart",
                "container": "cart",
                "namespace": "prod",
                "pod": "cart-6f7d9b8c4-m2n4p",
                "job": "prod/cart",
            },
            "cart",
            "prod",
            None,
        ),
        ({"app_kubernetes_io_name": "ledger", "app": "ledger-legacy", "namespace": "prod"}, "ledger", "prod", None),
        ({"namespace": "db", "pod": "postgres-0", "container": "postgres"}, "postgres", "db", "statefulset"),
        ({"alertname": "Watchdog", "severity": "none"}, None, None, None),
    ],
)
def test_subject_of_names_the_workload_real_label_sets_are_about(
    labels: dict[str, str], name: str | None, namespace: str | None, kind: str | None
) -> None:
    ref = subject_of(labels, ALIASES)
    if name is None:
        assert ref is None
        return
    assert ref is not None
    assert (ref.name, ref.namespace, ref.kind) == (name, namespace, kind)


def test_an_exporters_job_also_names_what_it_exports() -> None:
    ref = subject_of(
        {"alertname": "PostgresqlDown", "instance": "pg-exporter.db:9187", "job": "postgres-exporter"}, ALIASES
    )
    assert ref is not None
    assert (ref.name, ref.other_names) == ("postgres-exporter", ("postgres",))
    chart = subject_of({"job": "prometheus-redis-exporter", "namespace": "cache"}, ALIASES)
    assert chart is not None
    assert "redis" in chart.other_names


def test_a_pod_name_kubernetes_did_not_generate_is_kept_as_the_pods() -> None:
    ref = subject_of({"namespace": "prod", "pod": "standalone"}, ALIASES)
    assert ref is not None
    assert (ref.name, ref.kind) == ("standalone", "pod")


def test_label_aliases_add_an_environments_own_labels_to_a_role() -> None:
    aliases = LabelAliases.parse("service=team_service, svc ; namespace=k8s_ns; object_exporter=ksm")
    ref = subject_of({"team_service": "billing", "k8s_ns": "fin", "pod": "other-7d9f8b6c5-x2x4z"}, aliases)
    assert ref is not None
    assert (ref.name, ref.namespace) == ("billing", "fin")
    ksm = subject_of({"job": "ksm", "service": "ksm", "deployment": "billing", "namespace": "fin"}, aliases)
    assert ksm is not None
    assert ksm.name == "billing"
    assert subject_of({"team_service": "billing"}, ALIASES) is None


@pytest.mark.parametrize("text", ["service", "owner=team", "service=bad-label"])
def test_label_aliases_refuse_what_they_cannot_read(text: str) -> None:
    with pytest.raises(InputError):
        LabelAliases.parse(text)


CHECKOUT = Resource("checkout", "prod", kind="deployment")


@pytest.mark.parametrize(
    ("scheme", "expected"),
    [
        ("service", 'service="checkout",namespace="prod"'),
        ("job", 'job=~"(?:.+/)?(?:prometheus-)?checkout(?:[-_]exporter|-metrics)?",namespace="prod"'),
        ("service_name", 'service_name="checkout",k8s_namespace_name=~"prod|"'),
        ("app_kubernetes_io_name", 'app_kubernetes_io_name="checkout",namespace="prod"'),
        ("app", 'app="checkout",namespace="prod"'),
        ("deployment", 'deployment="checkout",namespace="prod"'),
        ("container", 'container="checkout",namespace="prod"'),
        ("destination_workload", 'destination_workload="checkout",destination_workload_namespace="prod"'),
        ("node", 'node="checkout"'),
    ],
)
def test_matchers_select_a_resource_in_each_label_scheme(scheme: str, expected: str) -> None:
    assert matchers(CHECKOUT, scheme, "prod") == expected


@pytest.mark.parametrize(
    ("resource", "scheme", "selected", "not_selected"),
    [
        (
            CHECKOUT,
            "pod",
            ["checkout-7d9f8b6c5-x2x4z", "checkout-5b6c7d8f9-k2m4p"],
            ["checkout-0", "checkout-api-7d9f8b6c5-x2x4z"],
        ),
        (
            Resource("postgres", "db", kind="statefulset"),
            "pod",
            ["postgres-0", "postgres-11"],
            ["postgres-7d9f8b6c5-x2x4z"],
        ),
        # A kind the control plane does not say: any workload's pods of that name.
        (
            Resource("cart", "prod", kind="service"),
            "pod",
            ["cart-6f7d9b8c4-m2n4p", "cart-2", "cart-x2x4z"],
            ["cart", "cart-db-0"],
        ),
        (CHECKOUT, "job", ["checkout", "shop/checkout"], ["checkout-canary", "shop/checkout2"]),
        (
            Resource("postgres", "db"),
            "job",
            ["postgres-exporter", "prometheus-postgres-exporter", "db/postgres"],
            ["pgbouncer"],
        ),
        # A Bitnami chart's metrics Service names the job.
        (Resource("orders-mq", "fulfilment"), "job", ["orders-mq-metrics"], ["orders-mq-metrics-2", "orders"]),
        # An exporter's server address, in the forms postgres_exporter and redis_exporter write.
        (
            Resource("accounts-db", "identity", kind="statefulset"),
            "server",
            [
                "accounts-db:5432",
                "accounts-db.identity:5432",
                "accounts-db.identity.svc.cluster.local:5432",
                "postgres://exporter@accounts-db.identity:5432/accounts",
            ],
            ["accounts-db-replica:5432", "accounts-db2.identity:5432", "10.82.227.225:5432"],
        ),
        (
            Resource("geo-cache", None),
            "addr",
            ["redis://geo-cache:6379", "geo-cache.geo:6379", "rediss://geo-cache.geo.svc:6380"],
            ["redis://geo-cache-0x:6379", "redis://other:6379"],
        ),
        (
            Resource("ip-10-0-1-2", None, kind="node"),
            "instance",
            ["ip-10-0-1-2:9100", "ip-10-0-1-2"],
            ["ip-10-0-1-20:9100"],
        ),
    ],
)
def test_regex_matchers_select_exactly_the_resources_series(
    resource: Resource, scheme: str, selected: list[str], not_selected: list[str]
) -> None:
    text = matchers(resource, scheme)
    label, _, quoted = text.partition("=~")
    assert label == scheme
    # As Prometheus and Loki read it: RE2, anchored at both ends.
    pattern = compile_user_regex(quoted[1:-1].replace("\\\\", "\\"), what="the test")
    for value in selected:
        assert pattern.fullmatch(value), value
        assert selects(resource, SCHEMES[scheme], value), value
    for value in not_selected:
        assert not pattern.fullmatch(value), value
        assert not selects(resource, SCHEMES[scheme], value), value


def test_matchers_escape_values_and_prefer_the_control_planes_labels() -> None:
    odd = Resource('we"ird.name', "prod")
    assert matchers(odd, "service", "prod") == 'service="we\\"ird.name",namespace="prod"'
    assert matchers(odd, "pod").startswith('pod=~"we\\"ird\\\\.name-')
    labelled = Resource("web", "prod", labels={"app.kubernetes.io/name": "web-frontend", "team": "x"})
    assert (
        matchers(labelled, "app_kubernetes_io_name", "prod") == 'app_kubernetes_io_name="web-frontend",namespace="prod"'
    )
    assert matchers(labelled, "app", "prod") == 'app="web",namespace="prod"'


def test_tool_matchers_select_as_the_query_matchers_do() -> None:
    assert tool_matchers(CHECKOUT, "deployment", "prod") == {"deployment": "checkout", "namespace": "prod"}
    # A regex scheme as prometheus-mcp's `=~` matcher: every pod of the Deployment.
    safe = "[bcdfghjklmnpqrstvwxz2456789]"
    assert tool_matchers(CHECKOUT, "pod", "prod") == {
        "pod": f"=~checkout-{safe}{{1,10}}-{safe}{{5}}",
        "namespace": "prod",
    }
    assert tool_matchers(Resource("accounts-db", "identity"), "server", "identity")["server"].startswith("=~")


def test_otel_series_keep_to_the_namespace_when_the_collector_says_it_and_are_read_when_it_does_not() -> None:
    # Two teams' `checkout` (staging and prod) both export service_name="checkout": the k8sattributes
    # processor's k8s_namespace_name tells them apart; a collector without it leaves the label out.
    text = matchers(CHECKOUT, "service_name", "prod")
    quoted = text.partition("k8s_namespace_name=~")[2]
    pattern = compile_user_regex(quoted[1:-1], what="the test")
    assert pattern.fullmatch("prod")
    assert pattern.fullmatch("")  # a missing label reads as empty in Prometheus and Loki
    assert not pattern.fullmatch("staging")
    assert tool_matchers(CHECKOUT, "service_name", "prod") == {
        "service_name": "checkout",
        "k8s_namespace_name": "=~prod|",
    }


def test_an_address_scheme_keeps_to_the_resources_namespace() -> None:
    db = Resource("accounts-db", "identity")
    assert selects(db, SCHEMES["server"], "accounts-db.identity:5432", "identity")
    assert selects(db, SCHEMES["server"], "accounts-db:5432", "identity")
    assert not selects(db, SCHEMES["server"], "accounts-db.staging:5432", "identity")
    # The exporter's own `namespace` label is not the server's: no namespace matcher is added.
    assert matchers(db, "server", "identity").count("namespace=") == 0


#: What exporters' series and alerts carry, as kube-prometheus-stack scrapes them (ServiceMonitor target labels
#: `job`, `service`, `namespace`, `pod`, `instance`, `endpoint`) and as awesome-prometheus-alerts' rules keep them.
@pytest.mark.parametrize(
    ("labels", "name", "namespace"),
    [
        # postgres_exporter beside the database (a sidecar): the alert keeps instance, job and server.
        (
            {
                "alertname": "PostgresqlTooManyConnections",
                "instance": "10.82.227.225:9187",
                "job": "accounts-db-metrics",
                "server": "accounts-db.identity:5432",
            },
            "accounts-db",
            "identity",
        ),
        # The same series scraped through a ServiceMonitor: its Service (`service`) names the metrics endpoint.
        (
            {
                "job": "accounts-db-metrics",
                "service": "accounts-db-metrics",
                "namespace": "identity",
                "pod": "accounts-db-0",
                "instance": "10.82.227.225:9187",
                "server": "accounts-db.identity:5432",
                "datname": "accounts",
            },
            "accounts-db",
            "identity",
        ),
        # prometheus-postgres-exporter as its own Deployment, pointed at a StatefulSet pod's DNS name.
        (
            {
                "job": "prometheus-postgres-exporter",
                "namespace": "monitoring",
                "pod": "prometheus-postgres-exporter-7d9f8b6c5-x2x4z",
                "server": "orders-db-0.orders-db-hl.shop.svc.cluster.local:5432",
            },
            "orders-db-hl",
            "shop",
        ),
        # redis_exporter: `addr` is a URL.
        (
            {"job": "redis-exporter", "namespace": "monitoring", "addr": "redis://geo-cache.geo:6379"},
            "geo-cache",
            "geo",
        ),
        # Bitnami redis: the metrics Service and the pod, no address label.
        (
            {
                "job": "geo-cache-metrics",
                "service": "geo-cache-metrics",
                "namespace": "geo",
                "pod": "geo-cache-0",
                "instance": "10.75.99.73:9121",
            },
            "geo-cache-metrics",
            "geo",
        ),
        # An application's own series with a `server` label (a client's upstream) stays the application's.
        (
            {"job": "checkout", "namespace": "prod", "server": "payments.prod:8080"},
            "checkout",
            "prod",
        ),
    ],
)
def test_an_exporters_labels_name_the_server_it_exports(labels: dict[str, str], name: str, namespace: str) -> None:
    ref = subject_of(labels, ALIASES)
    assert ref is not None
    assert (ref.name, ref.namespace) == (name, namespace)


def test_a_metrics_service_and_an_exporters_pod_also_name_what_they_export() -> None:
    bitnami = subject_of({"job": "geo-cache-metrics", "namespace": "geo", "pod": "geo-cache-0"}, ALIASES)
    assert bitnami is not None
    # The job's own name first (it may be a resource), then the stripped one and the pod's workload.
    assert bitnami.other_names == ("geo-cache",)
    client = subject_of({"job": "checkout", "namespace": "prod", "server": "payments.prod:8080"}, ALIASES)
    assert client is not None
    assert client.other_names == ("payments",)


def test_an_ip_address_is_kept_for_kube_pod_info_to_resolve() -> None:
    ref = subject_of({"job": "pg-metrics", "instance": "10.82.227.225:9187", "server": "10.82.227.225:5432"}, ALIASES)
    assert ref is not None
    assert (ref.name, ref.other_names, ref.address) == ("pg-metrics", ("pg",), "10.82.227.225")
    bare = subject_of({"alertname": "TargetDown", "instance": "10.1.2.3:8080"}, ALIASES)
    assert bare is not None
    assert (bare.kind, bare.address) == ("address", "10.1.2.3")
    assert subject_of({"instance": "web-1.example.com:8080"}, ALIASES) is None


def test_an_ingress_and_its_requests_are_read_in_the_ingresss_namespace() -> None:
    # A user's rule over ingress-nginx by (exported_namespace, ingress): it names the Ingress, no workload.
    alert = subject_of(
        {"alertname": "IngressHigh5xxRate", "exported_namespace": "tickets", "ingress": "tickets-web"}, ALIASES
    )
    assert alert is not None
    assert (alert.name, alert.namespace, alert.kind) == ("tickets-web", "tickets", "ingress")
    # Its request series, scraped in the controller's namespace: the backend Service, in the Ingress's namespace.
    series = {
        "namespace": "ingress-nginx",
        "pod": "ingress-nginx-controller-2pdjzq6b-2qs99",
        "job": "ingress-nginx/ingress-nginx-controller",
        "exported_namespace": "tickets",
        "ingress": "tickets-web",
        "service": "event-page",
        "status": "502",
    }
    ref = subject_of(series, ALIASES)
    assert ref is not None
    assert (ref.name, ref.namespace) == ("event-page", "tickets")
    assert matchers(Resource("event-page", "tickets"), "ingress_backend", "tickets") == (
        'service="event-page",exported_namespace="tickets"'
    )
