"""The Kubernetes executor against a stand-in API server served on 127.0.0.1.

No real cluster runs here. The stand-in keeps Deployments, StatefulSets and ReplicaSets in
memory and behaves like the API server where the executor depends on it: bearer tokens (401),
RBAC denials (403, with the API server's message), missing objects (404, a `Status` body),
the patch content types it accepts (415 otherwise), merge, strategic-merge (maps only) and
JSON patches, the `/scale` subresource and label-selected ReplicaSet lists. It does not run
controllers: a patched template stays as patched, and no ReplicaSet or pod follows.
"""

from __future__ import annotations

import copy
import json
import logging
import socket
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from support.asgi_server import ServedApp
from support.backends import free_port
from support.certificates import make_pki

from common.errors import ConfigError
from controlplane.executor import Target
from controlplane.kubernetes import KubernetesExecutor
from controlplane.kubernetes_api import KubernetesSettings

pytestmark = pytest.mark.anyio

TOKEN = "sa-token-0123456789abcdef"
NOW = datetime(2025, 3, 14, 9, 26, 53, tzinfo=UTC)
NOW_TEXT = "2025-03-14T09:26:53Z"
SELECTOR = {"app": "web", "tier": "frontend"}
PATCH_TYPES = (
    "application/json-patch+json",
    "application/merge-patch+json",
    "application/strategic-merge-patch+json",
)


# --- the stand-in API server ---------------------------------------------------------------------


@dataclass(frozen=True)
class Seen:
    """One request as the API server received it."""

    method: str
    path: str
    query: dict[str, str]
    content_type: str | None
    authorization: str | None
    body: Any


class StandInKubernetesApi:
    def __init__(self) -> None:
        self.url = ""  # set once served
        self.tokens = {TOKEN}
        self.forbidden: set[tuple[str, str]] = set()  # (verb, resource) the service account lacks
        self.objects: dict[tuple[str, str, str], dict[str, Any]] = {}  # (resource, namespace, name)
        self.requests: list[Seen] = []
        self._version = 100
        prefix = "/apis/apps/v1/namespaces/{namespace}"
        self.app = Starlette(
            routes=[
                Route(f"{prefix}/replicasets", self._list_replicasets, methods=["GET"]),
                Route(f"{prefix}/{{resource}}/{{name}}/scale", self._scale, methods=["GET", "PATCH"]),
                Route(f"{prefix}/{{resource}}/{{name}}", self._object, methods=["GET", "PATCH"]),
            ]
        )

    def add(self, resource: str, namespace: str, name: str, document: dict[str, Any]) -> None:
        document.setdefault("metadata", {}).update(name=name, namespace=namespace)
        self.objects[(resource, namespace, name)] = document

    def get(self, resource: str, namespace: str, name: str) -> dict[str, Any]:
        return self.objects[(resource, namespace, name)]

    def patches(self) -> list[Seen]:
        return [seen for seen in self.requests if seen.method == "PATCH"]

    async def _list_replicasets(self, request: Request) -> Response:
        namespace = request.path_params["namespace"]
        if (denied := await self._admit(request, "list", "replicasets", namespace, "")) is not None:
            return denied
        wanted = dict(term.split("=", 1) for term in request.query_params.get("labelSelector", "").split(",") if term)
        items = [
            document
            for (resource, ns, _), document in self.objects.items()
            if resource == "replicasets"
            and ns == namespace
            and all(document["metadata"].get("labels", {}).get(k) == v for k, v in wanted.items())
        ]
        return JSONResponse({"kind": "ReplicaSetList", "apiVersion": "apps/v1", "metadata": {}, "items": items})

    async def _object(self, request: Request) -> Response:
        resource, namespace, name = (request.path_params[key] for key in ("resource", "namespace", "name"))
        verb = "get" if request.method == "GET" else "patch"
        if (denied := await self._admit(request, verb, resource, namespace, name)) is not None:
            return denied
        document = self.objects.get((resource, namespace, name))
        if document is None or resource not in ("deployments", "statefulsets"):
            return _status(404, "NotFound", f'{resource}.apps "{name}" not found')
        if request.method == "PATCH":
            patched = _apply(document, request.headers["content-type"], self.requests[-1].body)
            if isinstance(patched, Response):
                return patched
            if patched["spec"].get("template") != document["spec"].get("template"):
                patched["metadata"]["generation"] = document["metadata"].get("generation", 1) + 1
            self._version += 1
            patched["metadata"]["resourceVersion"] = str(self._version)
            self.objects[(resource, namespace, name)] = document = patched
        return JSONResponse(document)

    async def _scale(self, request: Request) -> Response:
        resource, namespace, name = (request.path_params[key] for key in ("resource", "namespace", "name"))
        verb = "get" if request.method == "GET" else "patch"
        if (denied := await self._admit(request, verb, f"{resource}/scale", namespace, name)) is not None:
            return denied
        document = self.objects.get((resource, namespace, name))
        if document is None or resource not in ("deployments", "statefulsets"):
            return _status(404, "NotFound", f'{resource}.apps "{name}" not found')
        was = document["spec"]["replicas"]
        scale = {"spec": {"replicas": was}}
        if request.method == "PATCH":
            patched = _apply(scale, request.headers["content-type"], self.requests[-1].body)
            if isinstance(patched, Response):
                return patched
            replicas = patched["spec"]["replicas"]
            if not isinstance(replicas, int) or replicas < 0:
                return _status(422, "Invalid", "spec.replicas: Invalid value: must be greater than or equal to 0")
            document["spec"]["replicas"] = replicas
        return JSONResponse(
            {
                "kind": "Scale",
                "apiVersion": "autoscaling/v1",
                "metadata": {"name": name, "namespace": namespace},
                "spec": {"replicas": document["spec"]["replicas"]},
                "status": {"replicas": was},
            }
        )

    async def _admit(self, request: Request, verb: str, resource: str, namespace: str, name: str) -> Response | None:
        """Record the request, then authenticate and authorize it as the API server would."""
        raw = await request.body()
        self.requests.append(
            Seen(
                request.method,
                request.url.path,
                dict(request.query_params),
                request.headers.get("content-type"),
                request.headers.get("authorization"),
                json.loads(raw) if raw else None,
            )
        )
        authorization = request.headers.get("authorization", "")
        if not authorization.startswith("Bearer ") or authorization.removeprefix("Bearer ") not in self.tokens:
            # Echoes the header back, as a careless proxy in front of the API might.
            return _status(401, "Unauthorized", f"Unauthorized (got Authorization: {authorization})")
        if (verb, resource) in self.forbidden:
            what = f'{resource.split("/")[0]}.apps "{name}"' if name else f"{resource}.apps"
            return _status(
                403,
                "Forbidden",
                f'{what} is forbidden: User "system:serviceaccount:sre:controlplane" cannot {verb} resource '
                f'"{resource}" in API group "apps" in the namespace "{namespace}"',
            )
        if request.method == "PATCH" and request.headers.get("content-type") not in PATCH_TYPES:
            return _status(415, "UnsupportedMediaType", "the body of the request was in an unknown format")
        return None


def _status(code: int, reason: str, message: str) -> JSONResponse:
    body = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure"}
    return JSONResponse({**body, "message": message, "reason": reason, "code": code}, status_code=code)


def _apply(document: dict[str, Any], content_type: str, patch: Any) -> dict[str, Any] | Response:
    if content_type == "application/json-patch+json":
        return _json_patch(document, patch)
    if not isinstance(patch, dict):
        return _status(400, "BadRequest", "a merge patch must be a JSON object")
    if content_type == "application/strategic-merge-patch+json" and _has_list(patch):
        # Lists merge by key in a strategic-merge patch; the stand-in only needs maps.
        return _status(422, "Invalid", "the stand-in does not merge lists")
    merged: dict[str, Any] = _merge(document, patch)
    return merged


def _merge(target: Any, patch: Any) -> Any:
    """RFC 7386 merge patch."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    merged = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = _merge(merged.get(key), value)
    return merged


def _has_list(value: Any) -> bool:
    return isinstance(value, list) or (isinstance(value, dict) and any(_has_list(v) for v in value.values()))


def _json_patch(document: dict[str, Any], operations: Any) -> dict[str, Any] | Response:
    """RFC 6902, the operations `add`, `replace` and `test` on object members."""
    patched = copy.deepcopy(document)
    for operation in operations if isinstance(operations, list) else [None]:
        if not isinstance(operation, dict) or operation.get("op") not in ("add", "replace", "test"):
            return _status(422, "Invalid", f"unsupported JSON patch operation {operation!r}")
        *parents, last = operation["path"].lstrip("/").split("/")
        node = patched
        for key in parents:
            node = node[key]
        if operation["op"] == "test":
            if node.get(last) != operation["value"]:
                return _status(422, "Invalid", f"testing value {operation['path']} failed")
        elif operation["op"] == "replace" and last not in node:
            return _status(
                422, "Invalid", f"replace operation does not apply: doc is missing path: {operation['path']}"
            )
        else:
            node[last] = copy.deepcopy(operation["value"])
    return patched


# --- the cluster the tests start from ------------------------------------------------------------


def pod_template(
    version: str, *, image: str | None = None, env: bool = False, label: str = "version"
) -> dict[str, Any]:
    container: dict[str, Any] = {"name": "web", "image": image or f"registry.local:5000/shop/web:{version}"}
    if env:
        container["env"] = [{"name": "NEW_CHECKOUT", "value": "on"}]
    return {
        "metadata": {"labels": {**SELECTOR, label: version}, "annotations": {"prometheus.io/scrape": "true"}},
        "spec": {"containers": [container]},
    }


def deployment(uid: str, template: dict[str, Any], replicas: int = 3) -> dict[str, Any]:
    return {
        "kind": "Deployment",
        "apiVersion": "apps/v1",
        "metadata": {"uid": uid, "generation": 7, "resourceVersion": "99", "labels": dict(SELECTOR)},
        "spec": {"replicas": replicas, "selector": {"matchLabels": dict(SELECTOR)}, "template": template},
    }


def replicaset(owner_uid: str, revision: int, template: dict[str, Any], pod_hash: str) -> dict[str, Any]:
    template = copy.deepcopy(template)
    template["metadata"]["labels"]["pod-template-hash"] = pod_hash
    return {
        "kind": "ReplicaSet",
        "apiVersion": "apps/v1",
        "metadata": {
            "labels": {**SELECTOR, "pod-template-hash": pod_hash},
            "annotations": {"deployment.kubernetes.io/revision": str(revision)},
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment", "uid": owner_uid, "controller": True}],
        },
        "spec": {
            "replicas": 0,
            "selector": {"matchLabels": {**SELECTOR, "pod-template-hash": pod_hash}},
            "template": template,
        },
    }


CURRENT = pod_template("1.5.0", env=True)
PREVIOUS = pod_template("1.4.0")
# Pinned by digest, so only its label says which version it is.
OLDEST = pod_template("1.3.0", image="registry.local:5000/shop/web@sha256:0123abcd", label="app.kubernetes.io/version")


def populate(api: StandInKubernetesApi) -> None:
    api.add("deployments", "shop", "web", deployment("uid-web", copy.deepcopy(CURRENT)))
    api.add("replicasets", "shop", "web-7d9f", replicaset("uid-web", 3, CURRENT, "7d9f"))
    api.add("replicasets", "shop", "web-5c4b", replicaset("uid-web", 2, PREVIOUS, "5c4b"))
    api.add("replicasets", "shop", "web-6a1e", replicaset("uid-web", 1, OLDEST, "6a1e"))
    # Same labels, another owner: a canary Deployment's ReplicaSet must never be taken for web's.
    api.add("replicasets", "shop", "web-canary-1b2c", replicaset("uid-canary", 1, pod_template("1.2.0"), "1b2c"))
    statefulset = deployment("uid-ledger", pod_template("2.0.0"), replicas=2) | {"kind": "StatefulSet"}
    api.add("statefulsets", "shop", "ledger", statefulset)


def target(name: str = "web", kind: str = "deployment", namespace: str = "shop") -> Target:
    return Target(resource_id=f"res-{name}", name=name, namespace=namespace, kind=kind, version=None, replicas=None)


@pytest.fixture
def api() -> Iterator[StandInKubernetesApi]:
    stand_in = StandInKubernetesApi()
    populate(stand_in)
    with ServedApp(stand_in.app) as served:
        stand_in.url = served.url
        yield stand_in


@pytest.fixture
def token_file(tmp_path: Path) -> Path:
    path = tmp_path / "token"
    path.write_text(TOKEN + "\n")
    return path


def settings(url: str, token_file: Path | None, **overrides: Any) -> KubernetesSettings:
    return KubernetesSettings(api_url=url, token_file=token_file, ca_file=None, **overrides)


@pytest.fixture
async def executor(api: StandInKubernetesApi, token_file: Path) -> AsyncIterator[KubernetesExecutor]:
    kubernetes = KubernetesExecutor(settings(api.url, token_file), clock=lambda: NOW)
    yield kubernetes
    await kubernetes.aclose()


# --- restart and scale ---------------------------------------------------------------------------


async def test_restart_patches_the_restarted_at_annotation_like_kubectl_rollout_restart(
    executor: KubernetesExecutor, api: StandInKubernetesApi
) -> None:
    result = await executor.restart(target())

    assert result.ok, result.detail
    assert result.detail == f"restarted deployment shop/web: its pods are being replaced (restartedAt {NOW_TEXT})"
    assert result.data == {"resource": "deployments", "namespace": "shop", "restarted_at": NOW_TEXT}
    assert api.requests == [
        Seen(
            "PATCH",
            "/apis/apps/v1/namespaces/shop/deployments/web",
            {},
            "application/strategic-merge-patch+json",
            f"Bearer {TOKEN}",
            {"spec": {"template": {"metadata": {"annotations": {"kubectl.kubernetes.io/restartedAt": NOW_TEXT}}}}},
        )
    ]
    template = api.get("deployments", "shop", "web")["spec"]["template"]
    assert template["metadata"]["annotations"] == {
        "prometheus.io/scrape": "true",
        "kubectl.kubernetes.io/restartedAt": NOW_TEXT,
    }
    assert template["spec"] == CURRENT["spec"]


async def test_restart_of_a_statefulset_patches_the_statefulset(
    executor: KubernetesExecutor, api: StandInKubernetesApi
) -> None:
    result = await executor.restart(target("ledger", kind="statefulset"))

    assert result.ok, result.detail
    assert [(seen.method, seen.path, seen.content_type) for seen in api.requests] == [
        ("PATCH", "/apis/apps/v1/namespaces/shop/statefulsets/ledger", "application/strategic-merge-patch+json")
    ]
    annotations = api.get("statefulsets", "shop", "ledger")["spec"]["template"]["metadata"]["annotations"]
    assert annotations["kubectl.kubernetes.io/restartedAt"] == NOW_TEXT


async def test_scale_of_a_service_merge_patches_the_scale_subresource_of_its_deployment(
    executor: KubernetesExecutor, api: StandInKubernetesApi
) -> None:
    result = await executor.scale(target(kind="service"), 5)

    assert result.ok, result.detail
    assert result.detail == "scaled deployment shop/web to 5 replicas"
    assert result.data == {"resource": "deployments", "namespace": "shop", "replicas": 5, "was": 3}
    assert api.requests == [
        Seen(
            "PATCH",
            "/apis/apps/v1/namespaces/shop/deployments/web/scale",
            {},
            "application/merge-patch+json",
            f"Bearer {TOKEN}",
            {"spec": {"replicas": 5}},
        )
    ]
    assert api.get("deployments", "shop", "web")["spec"]["replicas"] == 5


async def test_scale_of_a_statefulset_to_zero_stops_it(executor: KubernetesExecutor, api: StandInKubernetesApi) -> None:
    result = await executor.scale(target("ledger", kind="statefulset"), 0)

    assert result.ok, result.detail
    assert api.requests[0].path == "/apis/apps/v1/namespaces/shop/statefulsets/ledger/scale"
    assert api.get("statefulsets", "shop", "ledger")["spec"]["replicas"] == 0


async def test_a_negative_replica_count_is_refused_without_asking_the_api(
    executor: KubernetesExecutor, api: StandInKubernetesApi
) -> None:
    result = await executor.scale(target(), -1)

    assert not result.ok
    assert "must be 0 or more" in result.detail
    assert api.requests == []


async def test_namespace_override_acts_in_that_namespace_instead_of_the_resources(
    api: StandInKubernetesApi, token_file: Path
) -> None:
    api.add("deployments", "staging", "web", deployment("uid-staging-web", copy.deepcopy(CURRENT)))
    executor = KubernetesExecutor(settings(api.url, token_file, namespace_override="staging"))
    try:
        result = await executor.scale(target(namespace="shop"), 1)
    finally:
        await executor.aclose()

    assert result.ok, result.detail
    assert api.requests[0].path == "/apis/apps/v1/namespaces/staging/deployments/web/scale"
    assert api.get("deployments", "staging", "web")["spec"]["replicas"] == 1
    assert api.get("deployments", "shop", "web")["spec"]["replicas"] == 3


# --- rollback ------------------------------------------------------------------------------------


def without_hash(template: dict[str, Any]) -> dict[str, Any]:
    template = copy.deepcopy(template)
    template["metadata"]["labels"].pop("pod-template-hash", None)
    return template


async def test_rollback_replaces_the_template_with_that_of_the_replicaset_running_the_version(
    executor: KubernetesExecutor, api: StandInKubernetesApi
) -> None:
    result = await executor.rollback(target(), "1.4.0")

    assert result.ok, result.detail
    assert result.detail == (
        "rolled back deployment shop/web to version 1.4.0: its pod template is now that of ReplicaSet web-5c4b "
        "(revision 2)"
    )
    assert result.data == {"resource": "deployments", "namespace": "shop", "replicaset": "web-5c4b", "revision": 2}
    expected_template = without_hash(api.get("replicasets", "shop", "web-5c4b")["spec"]["template"])
    assert api.requests == [
        Seen("GET", "/apis/apps/v1/namespaces/shop/deployments/web", {}, None, f"Bearer {TOKEN}", None),
        Seen(
            "GET",
            "/apis/apps/v1/namespaces/shop/replicasets",
            {"labelSelector": "app=web,tier=frontend"},
            None,
            f"Bearer {TOKEN}",
            None,
        ),
        Seen(
            "PATCH",
            "/apis/apps/v1/namespaces/shop/deployments/web",
            {},
            "application/json-patch+json",
            f"Bearer {TOKEN}",
            [{"op": "replace", "path": "/spec/template", "value": expected_template}],
        ),
    ]
    rolled_back = api.get("deployments", "shop", "web")
    assert rolled_back["spec"]["template"] == PREVIOUS
    # Replaced, not merged: the env var only 1.5.0 had is gone.
    assert "env" not in rolled_back["spec"]["template"]["spec"]["containers"][0]
    assert "pod-template-hash" not in rolled_back["spec"]["template"]["metadata"]["labels"]
    assert rolled_back["metadata"]["generation"] == 8


async def test_rollback_finds_a_digest_pinned_version_by_its_version_label(
    executor: KubernetesExecutor, api: StandInKubernetesApi
) -> None:
    result = await executor.rollback(target(), "1.3.0")

    assert result.ok, result.detail
    assert result.data["replicaset"] == "web-6a1e"
    assert api.get("deployments", "shop", "web")["spec"]["template"] == OLDEST


async def test_rollback_to_a_version_no_owned_replicaset_runs_changes_nothing(
    executor: KubernetesExecutor, api: StandInKubernetesApi
) -> None:
    # 1.2.0 exists, but in the canary Deployment's ReplicaSet, which has web's labels and another owner.
    result = await executor.rollback(target(), "1.2.0")

    assert not result.ok
    assert result.detail == (
        "cannot roll back deployment shop/web to version 1.2.0: none of its 3 ReplicaSets runs it (versions found: "
        "1.3.0, 1.4.0, 1.5.0). Only as many old ReplicaSets as the Deployment's spec.revisionHistoryLimit are kept; "
        "an older version must be deployed anew."
    )
    assert [seen.method for seen in api.requests] == ["GET", "GET"]
    assert api.get("deployments", "shop", "web")["spec"]["template"] == CURRENT


async def test_rollback_to_the_running_version_changes_nothing(
    executor: KubernetesExecutor, api: StandInKubernetesApi
) -> None:
    result = await executor.rollback(target(), "1.5.0")

    assert result.ok, result.detail
    assert result.detail == "deployment shop/web already runs version 1.5.0 (ReplicaSet web-7d9f); nothing changed"
    assert api.patches() == []


async def test_rollback_of_a_statefulset_is_not_supported(
    executor: KubernetesExecutor, api: StandInKubernetesApi
) -> None:
    result = await executor.rollback(target("ledger", kind="statefulset"), "1.9.0")

    assert not result.ok
    assert "cannot roll back statefulset shop/ledger through Kubernetes" in result.detail
    assert "rolls back Deployments only" in result.detail
    assert api.requests == []


# --- what Kubernetes does not run, and error answers ----------------------------------------------


@pytest.mark.parametrize("kind", ["database", "queue", "external", "node"])
async def test_kinds_kubernetes_does_not_run_are_refused_without_asking_the_api(
    executor: KubernetesExecutor, api: StandInKubernetesApi, kind: str
) -> None:
    article = "an" if kind == "external" else "a"
    results = {
        "restart": await executor.restart(target("orders", kind=kind)),
        "scale": await executor.scale(target("orders", kind=kind), 2),
        "roll back": await executor.rollback(target("orders", kind=kind), "1.0"),
    }

    for action, result in results.items():
        assert not result.ok
        assert result.detail.startswith(f"cannot {action} {article} {kind} through Kubernetes (shop/orders)")
    assert api.requests == []


async def test_a_403_names_the_verb_and_resource_the_service_account_needs(
    executor: KubernetesExecutor, api: StandInKubernetesApi, caplog: pytest.LogCaptureFixture
) -> None:
    api.forbidden.add(("patch", "deployments/scale"))
    caplog.set_level(logging.DEBUG)

    result = await executor.scale(target(), 9)

    assert not result.ok
    assert result.detail.startswith(
        "the service account may not patch deployments/scale in namespace shop (HTTP 403: "
        'deployments.apps "web" is forbidden: User "system:serviceaccount:sre:controlplane" cannot patch'
    )
    assert "needs the 'patch' verb on 'deployments/scale' (API group 'apps') in namespace shop" in result.detail
    assert api.get("deployments", "shop", "web")["spec"]["replicas"] == 3
    assert TOKEN not in caplog.text


async def test_a_403_on_listing_replicasets_stops_the_rollback_before_any_change(
    executor: KubernetesExecutor, api: StandInKubernetesApi
) -> None:
    api.forbidden.add(("list", "replicasets"))

    result = await executor.rollback(target(), "1.4.0")

    assert not result.ok
    assert "needs the 'list' verb on 'replicasets'" in result.detail
    assert api.patches() == []


async def test_a_rejected_token_is_a_401_detail_without_the_token(
    api: StandInKubernetesApi, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    stale = tmp_path / "stale-token"
    stale.write_text("sa-token-expired-42424242")
    caplog.set_level(logging.DEBUG)
    executor = KubernetesExecutor(settings(api.url, stale))
    try:
        result = await executor.restart(target())
    finally:
        await executor.aclose()

    assert not result.ok
    assert "rejected the credentials when asked to patch deployments in namespace shop (HTTP 401" in result.detail
    assert f"Check that token_file ({stale}) holds a current service account token." in result.detail
    # The stand-in echoed the Authorization header; the detail and the logs must not carry it on.
    assert "Bearer [REDACTED]" in result.detail
    assert "sa-token-expired-42424242" not in result.detail
    assert "sa-token-expired-42424242" not in caplog.text
    assert (
        "kubectl.kubernetes.io/restartedAt"
        not in api.get("deployments", "shop", "web")["spec"]["template"]["metadata"]["annotations"]
    )


async def test_a_missing_token_file_is_a_clear_failure(api: StandInKubernetesApi, tmp_path: Path) -> None:
    executor = KubernetesExecutor(settings(api.url, tmp_path / "absent"))
    try:
        result = await executor.restart(target())
    finally:
        await executor.aclose()

    assert not result.ok
    assert result.detail.startswith(f"cannot read the service account token from {tmp_path / 'absent'}")
    assert api.requests == []


async def test_a_missing_deployment_is_named_with_its_namespace(
    executor: KubernetesExecutor, api: StandInKubernetesApi
) -> None:
    restart = await executor.restart(target("ghost"))
    rollback = await executor.rollback(target("ghost", kind="service"), "1.0.0")
    scale = await executor.scale(target("ghost", kind="statefulset"), 1)

    assert not restart.ok
    assert restart.detail == 'no deployment ghost in namespace shop (HTTP 404: deployments.apps "ghost" not found).'
    assert not rollback.ok
    assert rollback.detail.startswith("no deployment ghost in namespace shop")
    assert not scale.ok
    assert scale.detail.startswith("no statefulset ghost in namespace shop")


async def test_the_token_file_is_read_again_on_every_request(
    executor: KubernetesExecutor, api: StandInKubernetesApi, token_file: Path
) -> None:
    first = await executor.restart(target())
    api.tokens = {"sa-token-rotated-fedcba9876"}  # the kubelet rotated the projected token...
    before_rewrite = await executor.scale(target(), 4)
    token_file.write_text("sa-token-rotated-fedcba9876\n")  # ...and then rewrote the file
    after_rewrite = await executor.scale(target(), 4)

    assert first.ok, first.detail
    assert not before_rewrite.ok
    assert "HTTP 401" in before_rewrite.detail
    assert after_rewrite.ok, after_rewrite.detail
    assert [seen.authorization for seen in api.requests] == [
        f"Bearer {TOKEN}",
        f"Bearer {TOKEN}",
        "Bearer sa-token-rotated-fedcba9876",
    ]
    assert api.get("deployments", "shop", "web")["spec"]["replicas"] == 4


# --- transport failures and TLS ------------------------------------------------------------------


async def test_connection_refused_says_to_check_api_url_and_the_network(token_file: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    executor = KubernetesExecutor(settings(url, token_file))
    try:
        results = [
            await executor.restart(target()),
            await executor.scale(target(), 2),
            await executor.rollback(target(), "1.4.0"),
        ]
    finally:
        await executor.aclose()

    for result in results:
        assert not result.ok
        assert f"the Kubernetes API at {url} could not be reached" in result.detail
        assert "ConnectError" in result.detail
        assert "Check api_url and that the network" in result.detail


async def test_an_api_that_never_answers_times_out_within_the_deadline(token_file: Path) -> None:
    # A listening socket nobody accepts from: the kernel completes the connection, no answer follows.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        url = f"http://127.0.0.1:{listener.getsockname()[1]}"
        executor = KubernetesExecutor(settings(url, token_file, timeout_seconds=0.5))
        try:
            result = await executor.restart(target())
        finally:
            await executor.aclose()

    assert not result.ok
    assert result.detail == (
        f"the Kubernetes API at {url} did not answer within 0.5s when asked to patch deployments in namespace shop; "
        "the change may or may not have been applied. Check api_url and that the network (NetworkPolicy, proxy, "
        "firewall) lets this process reach the API server."
    )


async def test_tls_is_verified_with_the_ca_file(tmp_path: Path, token_file: Path) -> None:
    pki = make_pki(tmp_path)
    stand_in = StandInKubernetesApi()
    populate(stand_in)
    with ServedApp(stand_in.app, ssl_certfile=str(pki.server_cert), ssl_keyfile=str(pki.server_key)) as served:
        url = served.url.replace("http://", "https://")
        trusted = KubernetesExecutor(KubernetesSettings(api_url=url, token_file=token_file, ca_file=pki.ca))
        untrusted = KubernetesExecutor(KubernetesSettings(api_url=url, token_file=token_file, ca_file=None))
        try:
            ok = await trusted.scale(target(), 2)
            refused = await untrusted.scale(target(), 7)
        finally:
            await trusted.aclose()
            await untrusted.aclose()

    assert ok.ok, ok.detail
    assert not refused.ok
    assert "CERTIFICATE_VERIFY_FAILED" in refused.detail
    assert "check ca_file" in refused.detail
    assert stand_in.get("deployments", "shop", "web")["spec"]["replicas"] == 2


def test_an_unreadable_ca_file_is_a_configuration_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="Cannot load the Kubernetes API's CA bundle from ca_file"):
        KubernetesExecutor(KubernetesSettings(ca_file=tmp_path / "missing-ca.crt"))


def test_settings_default_to_the_in_cluster_service_account() -> None:
    defaults = KubernetesSettings()

    assert defaults.api_url == "https://kubernetes.default.svc"
    assert defaults.token_file == Path("/var/run/secrets/kubernetes.io/serviceaccount/token")
    assert defaults.ca_file == Path("/var/run/secrets/kubernetes.io/serviceaccount/ca.crt")
    assert defaults.namespace_override is None
    assert defaults.timeout_seconds == 10
