"""The Kubernetes executor: restart, scale and roll back workloads through the Kubernetes API.

It speaks the API over httpx, as `kubectl` would, with no client library:

- restart is `kubectl rollout restart`: a strategic-merge patch setting the pod template's
  `kubectl.kubernetes.io/restartedAt` annotation, so the controller rolls every pod;
- scale is a merge patch of the `/scale` subresource;
- rollback is `kubectl rollout undo --to-revision` with a version instead of a revision number:
  among the ReplicaSets the Deployment owns, the one whose pod template runs that version (an
  image tag, or a `version` / `app.kubernetes.io/version` label) gives back its template, which
  replaces the Deployment's (a JSON patch, so fields the old template lacks are removed). Only as
  far back as the Deployment's `revisionHistoryLimit` keeps ReplicaSets. StatefulSets keep their
  history in ControllerRevisions instead, which this executor does not read: their rollback is refused.

Target kinds `deployment` and `service` (the Deployment of the same name) act on Deployments,
`statefulset` on StatefulSets; other kinds are refused. The service account token is read from
`token_file` on every request, since projected tokens rotate. Every failure, including each
error answer of the API, becomes an `ExecutionResult(ok=False)` whose detail says what to fix
(the RBAC verb and resource for a 403); nothing is raised for an API answer, and details and
logs pass through `common.redaction` and never hold the token.

Tested against a stand-in API server (tests/controlplane/test_kubernetes_executor.py) that
checks tokens and content types and applies the patches, not against a real cluster.
"""

from __future__ import annotations

import json
import logging
import ssl
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import anyio
import httpx
from pydantic import Field, field_validator

from common.errors import ConfigError
from common.http import IDEMPOTENT, create_http_client
from common.redaction import redact
from common.settings import FrozenModel, http_url
from controlplane.executor import ExecutionResult, Target

__all__ = ["DEFAULT_API_URL", "DEFAULT_CA_FILE", "DEFAULT_TOKEN_FILE", "KubernetesExecutor", "KubernetesSettings"]

logger = logging.getLogger(__name__)

DEFAULT_API_URL = "https://kubernetes.default.svc"
DEFAULT_TOKEN_FILE = Path("/var/run/secrets/kubernetes.io/serviceaccount/token")
DEFAULT_CA_FILE = Path("/var/run/secrets/kubernetes.io/serviceaccount/ca.crt")

RESTARTED_AT = "kubectl.kubernetes.io/restartedAt"
POD_TEMPLATE_HASH = "pod-template-hash"
REVISION = "deployment.kubernetes.io/revision"
VERSION_LABELS = ("version", "app.kubernetes.io/version")

STRATEGIC_MERGE_PATCH = "application/strategic-merge-patch+json"
MERGE_PATCH = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"

_KINDS = {"deployment": "deployments", "service": "deployments", "statefulset": "statefulsets"}
_MAX_MESSAGE = 300


class KubernetesSettings(FrozenModel):
    """Where the Kubernetes API is and how this process authenticates to it (in-cluster defaults)."""

    api_url: str = Field(default=DEFAULT_API_URL, description="Base URL of the Kubernetes API server.")
    token_file: Path | None = Field(
        default=DEFAULT_TOKEN_FILE,
        description="Service account token, read on every request (projected tokens rotate); unset: no token "
        "(e.g. behind `kubectl proxy`).",
    )
    ca_file: Path | None = Field(
        default=DEFAULT_CA_FILE, description="CA bundle of the API server's certificate; unset: the system's."
    )
    insecure_skip_verify: bool = Field(default=False, description="Skip TLS verification (testing only).")
    namespace_override: str | None = Field(
        default=None, description="Act in this namespace instead of the resource's own."
    )
    timeout_seconds: float = Field(default=10.0, gt=0, description="Deadline of each request to the API.")

    @field_validator("api_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        return http_url(value)


@dataclass(frozen=True)
class _Workload:
    resource: str  # "deployments" | "statefulsets"
    namespace: str
    name: str

    @property
    def kind(self) -> str:
        return self.resource.removesuffix("s")

    @property
    def path(self) -> str:
        return f"/apis/apps/v1/namespaces/{quote(self.namespace, safe='')}/{self.resource}/{quote(self.name, safe='')}"

    def __str__(self) -> str:
        return f"{self.kind} {self.namespace}/{self.name}"


class _Failed(Exception):
    """An action cannot go on; the message is the result's detail."""


def _utc_now() -> datetime:
    return datetime.now(UTC)


class KubernetesExecutor:
    """Carries approved actions out on a Kubernetes cluster (see the module docstring)."""

    name = "kubernetes"

    def __init__(
        self,
        settings: KubernetesSettings,
        http_client: httpx.AsyncClient | None = None,
        *,
        clock: Callable[[], datetime] = _utc_now,
    ) -> None:
        self.settings = settings
        self._clock = clock
        self._http = http_client or create_http_client(
            base_url=settings.api_url, timeout=settings.timeout_seconds, verify=_verify(settings)
        )

    async def aclose(self) -> None:
        await self._http.aclose()

    async def restart(self, target: Target) -> ExecutionResult:
        try:
            workload = self._workload(target, "restart")
            restarted_at = self._clock().astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            patch = {"spec": {"template": {"metadata": {"annotations": {RESTARTED_AT: restarted_at}}}}}
            await self._call("PATCH", workload.path, "patch", workload, body=patch, content_type=STRATEGIC_MERGE_PATCH)
        except _Failed as exc:
            return self._failure("restart", target, exc)
        logger.info("Restarted %s (restartedAt %s)", workload, restarted_at)
        return ExecutionResult(
            True,
            f"restarted {workload}: its pods are being replaced (restartedAt {restarted_at})",
            {"resource": workload.resource, "namespace": workload.namespace, "restarted_at": restarted_at},
        )

    async def scale(self, target: Target, replicas: int) -> ExecutionResult:
        try:
            workload = self._workload(target, "scale")
            if replicas < 0:
                raise _Failed(f"cannot scale {workload} to {replicas} replicas: the count must be 0 or more.")
            scale = await self._call(
                "PATCH",
                f"{workload.path}/scale",
                "patch",
                workload,
                subresource="scale",
                body={"spec": {"replicas": replicas}},
                content_type=MERGE_PATCH,
                idempotent=True,
            )
        except _Failed as exc:
            return self._failure("scale", target, exc)
        previous = scale.get("status", {}).get("replicas") if isinstance(scale.get("status"), dict) else None
        logger.info("Scaled %s to %d replicas", workload, replicas)
        return ExecutionResult(
            True,
            f"scaled {workload} to {replicas} replicas",
            {"resource": workload.resource, "namespace": workload.namespace, "replicas": replicas, "was": previous},
        )

    async def rollback(self, target: Target, to_version: str) -> ExecutionResult:
        try:
            workload = self._workload(target, "roll back")
            if workload.resource != "deployments":
                raise _Failed(
                    f"cannot roll back {workload} through Kubernetes: this executor rolls back Deployments only "
                    "(a StatefulSet keeps its history in ControllerRevisions, not ReplicaSets). Deploy version "
                    f"{to_version} instead (set the image in its pod template)."
                )
            result = await self._rollback_deployment(workload, to_version)
        except _Failed as exc:
            return self._failure("roll back", target, exc)
        logger.info("%s", result.detail)
        return result

    async def _rollback_deployment(self, workload: _Workload, to_version: str) -> ExecutionResult:
        deployment = await self._call("GET", workload.path, "get", workload)
        uid = _dig(deployment, "metadata", "uid")
        match_labels = _dig(deployment, "spec", "selector", "matchLabels")
        current = _dig(deployment, "spec", "template")
        if not isinstance(uid, str) or not isinstance(match_labels, dict) or not match_labels:
            raise _Failed(
                f"cannot roll back {workload}: the API's answer has no uid or spec.selector.matchLabels "
                "(a selector of matchExpressions only is not supported)."
            )
        selector = ",".join(f"{key}={value}" for key, value in sorted(match_labels.items()))
        listing = await self._call(
            "GET",
            f"/apis/apps/v1/namespaces/{quote(workload.namespace, safe='')}/replicasets",
            "list",
            _Workload("replicasets", workload.namespace, ""),
            params={"labelSelector": selector},
        )
        owned = [
            item
            for item in listing.get("items") or []
            if isinstance(item, dict)
            and any(
                isinstance(ref, dict) and ref.get("uid") == uid
                for ref in _dig(item, "metadata", "ownerReferences") or []
            )
        ]
        matching = [item for item in owned if to_version in _versions(_dig(item, "spec", "template"))]
        if not matching:
            known = sorted({version for item in owned for version in _versions(_dig(item, "spec", "template"))})
            raise _Failed(
                f"cannot roll back {workload} to version {to_version}: none of its {len(owned)} ReplicaSets runs it "
                f"(versions found: {', '.join(known) or 'none'}). Only as many old ReplicaSets as the Deployment's "
                "spec.revisionHistoryLimit are kept; an older version must be deployed anew."
            )
        chosen = max(matching, key=lambda item: (_revision(item), str(_dig(item, "metadata", "name"))))
        rs_name = _dig(chosen, "metadata", "name")
        template = _without_hash(_dig(chosen, "spec", "template"))
        data = {"resource": workload.resource, "namespace": workload.namespace, "replicaset": rs_name}
        if template == _without_hash(current):
            return ExecutionResult(
                True, f"{workload} already runs version {to_version} (ReplicaSet {rs_name}); nothing changed", data
            )
        await self._call(
            "PATCH",
            workload.path,
            "patch",
            workload,
            body=[{"op": "replace", "path": "/spec/template", "value": template}],
            content_type=JSON_PATCH,
            idempotent=True,
        )
        return ExecutionResult(
            True,
            f"rolled back {workload} to version {to_version}: its pod template is now that of ReplicaSet {rs_name} "
            f"(revision {_revision(chosen)})",
            {**data, "revision": _revision(chosen)},
        )

    def _workload(self, target: Target, action: str) -> _Workload:
        resource = _KINDS.get(target.kind)
        if resource is None:
            article = "an" if target.kind[:1] in "aeiou" else "a"
            raise _Failed(
                f"cannot {action} {article} {target.kind} through Kubernetes ({target.namespace}/{target.name}): "
                "only deployment, service (its Deployment of the same name) and statefulset resources run there."
            )
        return _Workload(resource, self.settings.namespace_override or target.namespace, target.name)

    def _failure(self, action: str, target: Target, exc: _Failed) -> ExecutionResult:
        detail = redact(str(exc))
        logger.warning("Kubernetes %s of %s/%s failed: %s", action, target.namespace, target.name, detail)
        return ExecutionResult(False, detail)

    async def _call(
        self,
        method: str,
        path: str,
        verb: str,
        workload: _Workload,
        *,
        subresource: str | None = None,
        body: Any = None,
        content_type: str | None = None,
        params: Mapping[str, str] | None = None,
        idempotent: bool = False,
    ) -> dict[str, Any]:
        """One request to the API; its JSON object answer, or `_Failed` saying what to do."""
        resource = f"{workload.resource}/{subresource}" if subresource else workload.resource
        asked = f"{verb} {resource} in namespace {workload.namespace}"
        headers = {"Accept": "application/json", **self._authorization()}
        if content_type is not None:
            headers["Content-Type"] = content_type
        timeout = self.settings.timeout_seconds
        try:
            # One deadline for the request, its retries and reading the answer.
            with anyio.fail_after(timeout):
                response = await self._http.request(
                    method,
                    f"{self.settings.api_url}{path}",
                    params=dict(params or {}),
                    content=None if body is None else json.dumps(body).encode(),
                    headers=headers,
                    timeout=timeout,
                    extensions={IDEMPOTENT: True} if idempotent else None,
                )
        except (TimeoutError, httpx.TimeoutException):
            raise _Failed(
                f"the Kubernetes API at {self.settings.api_url} did not answer within {timeout:g}s when asked to "
                f"{asked}{'; the change may or may not have been applied' if method != 'GET' else ''}. Check api_url "
                "and that the network (NetworkPolicy, proxy, firewall) lets this process reach the API server."
            ) from None
        except httpx.TransportError as exc:
            reason = redact(str(exc)) or "no detail"
            hint = (
                "Its certificate is not trusted: check ca_file."
                if "CERTIFICATE_VERIFY_FAILED" in reason
                else "Check api_url and that the network (DNS, NetworkPolicy, proxy, firewall) lets this process "
                "reach the API server."
            )
            raise _Failed(
                f"the Kubernetes API at {self.settings.api_url} could not be reached to {asked} "
                f"({type(exc).__name__}: {reason}). {hint}"
            ) from None
        return self._answer(response, verb, resource, workload, asked)

    def _answer(
        self, response: httpx.Response, verb: str, resource: str, workload: _Workload, asked: str
    ) -> dict[str, Any]:
        status = response.status_code
        try:
            document = response.json()
        except ValueError:
            document = None
        if response.is_success:
            if not isinstance(document, dict):
                raise _Failed(f"the Kubernetes API answered the request to {asked} with something other than JSON.")
            return document
        message = document.get("message") if isinstance(document, dict) else None
        said = redact(str(message or response.text or response.reason_phrase))[:_MAX_MESSAGE]
        grant = (
            f"The service account needs the {verb!r} verb on {resource!r} (API group 'apps') in namespace "
            f"{workload.namespace}: grant it with a Role and RoleBinding."
        )
        if status == 401:
            check = (
                f"Check that token_file ({self.settings.token_file}) holds a current service account token."
                if self.settings.token_file
                else "No token was sent: set token_file to a service account token."
            )
            raise _Failed(
                f"the Kubernetes API rejected the credentials when asked to {asked} (HTTP 401: {said}). {check} {grant}"
            )
        if status == 403:
            raise _Failed(f"the service account may not {asked} (HTTP 403: {said}). {grant}")
        if status == 404:
            raise _Failed(f"no {workload.kind} {workload.name} in namespace {workload.namespace} (HTTP 404: {said}).")
        side = "failed on its side" if status >= 500 else "refused"
        raise _Failed(f"the Kubernetes API {side} when asked to {asked} (HTTP {status}: {said}).")

    def _authorization(self) -> dict[str, str]:
        path = self.settings.token_file
        if path is None:
            return {}
        try:
            token = path.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise _Failed(
                f"cannot read the service account token from {path} ({exc.strerror or type(exc).__name__}). Check "
                "token_file; in a pod, that a service account token is mounted (automountServiceAccountToken)."
            ) from None
        if not token:
            raise _Failed(f"the service account token file {path} is empty. Check token_file.")
        return {"Authorization": f"Bearer {token}"}


def _verify(settings: KubernetesSettings) -> ssl.SSLContext | bool:
    if not settings.api_url.startswith("https:") or settings.insecure_skip_verify:
        return not settings.insecure_skip_verify
    if settings.ca_file is None:
        return True
    try:
        return ssl.create_default_context(cafile=str(settings.ca_file))
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(
            f"Cannot load the Kubernetes API's CA bundle from ca_file {settings.ca_file} ({exc}). Outside a pod, "
            "set ca_file to the cluster's CA certificate (or unset it to trust the system's CAs)."
        ) from None


def _dig(document: Any, *keys: str) -> Any:
    for key in keys:
        if not isinstance(document, dict):
            return None
        document = document.get(key)
    return document


def _revision(replicaset: Any) -> int:
    try:
        return int(_dig(replicaset, "metadata", "annotations", REVISION) or 0)
    except ValueError:
        return 0


def _image_tag(image: str) -> str | None:
    """`registry:5000/app:1.2@sha256:...` -> `1.2`; None when the image has no tag."""
    last = image.split("@", 1)[0].rsplit("/", 1)[-1]
    return last.rsplit(":", 1)[1] if ":" in last else None


def _versions(template: Any) -> set[str]:
    """The versions a pod template runs: its containers' image tags and its version labels."""
    versions: set[str] = set()
    for container in _dig(template, "spec", "containers") or []:
        image = container.get("image") if isinstance(container, dict) else None
        if isinstance(image, str) and (tag := _image_tag(image)):
            versions.add(tag)
    labels = _dig(template, "metadata", "labels")
    if isinstance(labels, dict):
        versions.update(str(labels[key]) for key in VERSION_LABELS if labels.get(key))
    return versions


def _without_hash(template: Any) -> Any:
    """The pod template as the Deployment holds it: without the label the ReplicaSet controller adds."""
    if not isinstance(template, dict):
        return template
    labels = _dig(template, "metadata", "labels")
    if not isinstance(labels, dict) or POD_TEMPLATE_HASH not in labels:
        return template
    metadata = {**template["metadata"], "labels": {k: v for k, v in labels.items() if k != POD_TEMPLATE_HASH}}
    return {**template, "metadata": metadata}
