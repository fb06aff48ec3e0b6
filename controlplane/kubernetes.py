"""The Kubernetes executor: restart, scale and roll back workloads through the Kubernetes API
(`controlplane.kubernetes_api`, which turns every failure into a sentence saying what to fix).

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
`statefulset` on StatefulSets; other kinds are refused. Every failure, including each error
answer of the API, becomes an `ExecutionResult(ok=False)` whose detail says what to fix; nothing
is raised for an API answer, and details and logs pass through `common.redaction`.

Tested against a stand-in API server (tests/controlplane/test_kubernetes_executor.py) that
checks tokens and content types and applies the patches, not against a real cluster.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx

from common.redaction import redact
from controlplane.executor import ExecutionResult, Target
from controlplane.kubernetes_api import (
    JSON_PATCH,
    MERGE_PATCH,
    STRATEGIC_MERGE_PATCH,
    KubernetesApi,
    KubernetesFailure,
    KubernetesSettings,
    Workload,
)

__all__ = ["KubernetesExecutor"]

logger = logging.getLogger(__name__)

RESTARTED_AT = "kubectl.kubernetes.io/restartedAt"
POD_TEMPLATE_HASH = "pod-template-hash"
REVISION = "deployment.kubernetes.io/revision"
VERSION_LABELS = ("version", "app.kubernetes.io/version")

_KINDS = {"deployment": "deployments", "service": "deployments", "statefulset": "statefulsets"}


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
        self._api = KubernetesApi(settings, http_client)

    async def aclose(self) -> None:
        await self._api.aclose()

    async def restart(self, target: Target) -> ExecutionResult:
        try:
            workload = self._workload(target, "restart")
            restarted_at = self._clock().astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            patch = {"spec": {"template": {"metadata": {"annotations": {RESTARTED_AT: restarted_at}}}}}
            await self._api.call(
                "PATCH", workload.path, "patch", workload, body=patch, content_type=STRATEGIC_MERGE_PATCH
            )
        except KubernetesFailure as exc:
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
                raise KubernetesFailure(f"cannot scale {workload} to {replicas} replicas: the count must be 0 or more.")
            scale = await self._api.call(
                "PATCH",
                f"{workload.path}/scale",
                "patch",
                workload,
                subresource="scale",
                body={"spec": {"replicas": replicas}},
                content_type=MERGE_PATCH,
                idempotent=True,
            )
        except KubernetesFailure as exc:
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
                raise KubernetesFailure(
                    f"cannot roll back {workload} through Kubernetes: this executor rolls back Deployments only "
                    "(a StatefulSet keeps its history in ControllerRevisions, not ReplicaSets). Deploy version "
                    f"{to_version} instead (set the image in its pod template)."
                )
            result = await self._rollback_deployment(workload, to_version)
        except KubernetesFailure as exc:
            return self._failure("roll back", target, exc)
        logger.info("%s", result.detail)
        return result

    async def _rollback_deployment(self, workload: Workload, to_version: str) -> ExecutionResult:
        deployment = await self._api.call("GET", workload.path, "get", workload)
        uid = _dig(deployment, "metadata", "uid")
        match_labels = _dig(deployment, "spec", "selector", "matchLabels")
        current = _dig(deployment, "spec", "template")
        if not isinstance(uid, str) or not isinstance(match_labels, dict) or not match_labels:
            raise KubernetesFailure(
                f"cannot roll back {workload}: the API's answer has no uid or spec.selector.matchLabels "
                "(a selector of matchExpressions only is not supported)."
            )
        selector = ",".join(f"{key}={value}" for key, value in sorted(match_labels.items()))
        replicasets = Workload("replicasets", workload.namespace, "")
        listing = await self._api.call(
            "GET", replicasets.collection_path, "list", replicasets, params={"labelSelector": selector}
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
            raise KubernetesFailure(
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
        await self._api.call(
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

    def _workload(self, target: Target, action: str) -> Workload:
        resource = _KINDS.get(target.kind)
        if resource is None:
            article = "an" if target.kind[:1] in "aeiou" else "a"
            raise KubernetesFailure(
                f"cannot {action} {article} {target.kind} through Kubernetes ({target.namespace}/{target.name}): "
                "only deployment, service (its Deployment of the same name) and statefulset resources run there."
            )
        return Workload(resource, self.settings.namespace_override or target.namespace, target.name)

    def _failure(self, action: str, target: Target, exc: KubernetesFailure) -> ExecutionResult:
        detail = redact(str(exc))
        logger.warning("Kubernetes %s of %s/%s failed: %s", action, target.namespace, target.name, detail)
        return ExecutionResult(False, detail)


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
