"""The Kubernetes API as the executor speaks it: over httpx, as `kubectl` would, with no client library.

One request at a time (`KubernetesApi.call`), each with one deadline for the request, its retries
and reading the answer. The service account token is read from `token_file` on every request,
since projected tokens rotate. Every failure, including each error answer of the API, becomes a
`KubernetesFailure` whose message says what to fix (the RBAC verb and resource for a 403);
messages pass through `common.redaction` and never hold the token.
"""

from __future__ import annotations

import json
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import anyio
import httpx
from pydantic import Field, field_validator

from common.errors import ConfigError, SreError
from common.http import IDEMPOTENT, create_http_client
from common.redaction import redact
from common.settings import FrozenModel, http_url

__all__ = [
    "DEFAULT_API_URL",
    "DEFAULT_CA_FILE",
    "DEFAULT_TOKEN_FILE",
    "JSON_PATCH",
    "MERGE_PATCH",
    "STRATEGIC_MERGE_PATCH",
    "KubernetesApi",
    "KubernetesFailure",
    "KubernetesSettings",
    "Workload",
]

DEFAULT_API_URL = "https://kubernetes.default.svc"
DEFAULT_TOKEN_FILE = Path("/var/run/secrets/kubernetes.io/serviceaccount/token")
DEFAULT_CA_FILE = Path("/var/run/secrets/kubernetes.io/serviceaccount/ca.crt")

STRATEGIC_MERGE_PATCH = "application/strategic-merge-patch+json"
MERGE_PATCH = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"

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
class Workload:
    """An object of the apps/v1 API, named by its plural resource ("deployments", "replicasets", ...)."""

    resource: str
    namespace: str
    name: str

    @property
    def kind(self) -> str:
        return self.resource.removesuffix("s")

    @property
    def collection_path(self) -> str:
        return f"/apis/apps/v1/namespaces/{quote(self.namespace, safe='')}/{self.resource}"

    @property
    def path(self) -> str:
        return f"{self.collection_path}/{quote(self.name, safe='')}"

    def __str__(self) -> str:
        return f"{self.kind} {self.namespace}/{self.name}"


class KubernetesFailure(SreError):
    """An action on the cluster cannot go on; the message says why and what to fix."""


class KubernetesApi:
    """Requests to the Kubernetes API of `settings`, answered as JSON objects or `KubernetesFailure`."""

    def __init__(self, settings: KubernetesSettings, http_client: httpx.AsyncClient | None = None) -> None:
        self.settings = settings
        self._http = http_client or create_http_client(
            base_url=settings.api_url, timeout=settings.timeout_seconds, verify=_verify(settings)
        )

    async def aclose(self) -> None:
        await self._http.aclose()

    async def call(
        self,
        method: str,
        path: str,
        verb: str,
        workload: Workload,
        *,
        subresource: str | None = None,
        body: Any = None,
        content_type: str | None = None,
        params: Mapping[str, str] | None = None,
        idempotent: bool = False,
    ) -> dict[str, Any]:
        """One request to the API; its JSON object answer, or `KubernetesFailure` saying what to do."""
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
            raise KubernetesFailure(
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
            raise KubernetesFailure(
                f"the Kubernetes API at {self.settings.api_url} could not be reached to {asked} "
                f"({type(exc).__name__}: {reason}). {hint}"
            ) from None
        return self._answer(response, verb, resource, workload, asked)

    def _answer(
        self, response: httpx.Response, verb: str, resource: str, workload: Workload, asked: str
    ) -> dict[str, Any]:
        status = response.status_code
        try:
            document = response.json()
        except ValueError:
            document = None
        if response.is_success:
            if not isinstance(document, dict):
                raise KubernetesFailure(
                    f"the Kubernetes API answered the request to {asked} with something other than JSON."
                )
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
            raise KubernetesFailure(
                f"the Kubernetes API rejected the credentials when asked to {asked} (HTTP 401: {said}). {check} {grant}"
            )
        if status == 403:
            raise KubernetesFailure(f"the service account may not {asked} (HTTP 403: {said}). {grant}")
        if status == 404:
            raise KubernetesFailure(
                f"no {workload.kind} {workload.name} in namespace {workload.namespace} (HTTP 404: {said})."
            )
        side = "failed on its side" if status >= 500 else "refused"
        raise KubernetesFailure(f"the Kubernetes API {side} when asked to {asked} (HTTP {status}: {said}).")

    def _authorization(self) -> dict[str, str]:
        path = self.settings.token_file
        if path is None:
            return {}
        try:
            token = path.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise KubernetesFailure(
                f"cannot read the service account token from {path} ({exc.strerror or type(exc).__name__}). Check "
                "token_file; in a pod, that a service account token is mounted (automountServiceAccountToken)."
            ) from None
        if not token:
            raise KubernetesFailure(f"the service account token file {path} is empty. Check token_file.")
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
