"""Real Loki responses (tests/fixtures/loki) replayed through `httpx.MockTransport`.

Loki cannot be installed on these machines, so its recorded answers stand in for it: a replay
answers a request only when it is the exact recorded request (method, path, parameters, push
body, tenant and encoding-flag headers), and fails the test loudly otherwise.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import httpx

from common.http import upstream_client
from common.settings import Upstream

# Recorded from a real Loki (see its README.md); kept in the repository so a clone tests alone.
FIXTURES_DIR = Path(__file__).resolve().parents[1] / "fixtures" / "loki"
# Headers that change Loki's answer: a request must carry them exactly when the recording did.
_SEMANTIC_HEADERS = ("x-scope-orgid", "x-loki-response-encoding-flags")


@dataclass(frozen=True)
class Recording:
    name: str
    file: str
    method: str
    path: str
    params: tuple[tuple[str, str], ...]
    request_headers: dict[str, str]
    raw_request_body: str | None
    status: int
    content_type: str

    @property
    def body(self) -> bytes:
        return (FIXTURES_DIR / self.file).read_bytes()

    def json(self) -> Any:
        return json.loads(self.body)

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.request_headers.items() if k.lower() == name.lower()), None)

    def param(self, name: str) -> str | None:
        return next((v for k, v in self.params if k == name), None)

    def matches(self, request: httpx.Request) -> bool:
        if request.method != self.method or request.url.path != self.path:
            return False
        if sorted(_request_params(request)) != sorted(self.params):
            return False
        if self.raw_request_body is not None and json.loads(request.content) != json.loads(self.raw_request_body):
            return False
        if any(request.headers.get(name) != self.header(name) for name in _SEMANTIC_HEADERS):
            return False
        content_type = self.header("Content-Type")
        return content_type is None or request.headers.get("content-type", "").startswith(content_type)

    def response(self) -> httpx.Response:
        return httpx.Response(self.status, headers={"Content-Type": self.content_type}, content=self.body)


def _request_params(request: httpx.Request) -> list[tuple[str, str]]:
    if request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        return parse_qsl(request.content.decode(), keep_blank_values=True)
    return list(request.url.params.multi_items())


@cache
def recordings() -> tuple[Recording, ...]:
    """Every recording in index.json; fails (never skips) when the fixtures are not beside the repo."""
    index = FIXTURES_DIR / "index.json"
    if not index.is_file():
        raise FileNotFoundError(
            f"The recorded Loki fixtures are missing: expected {index}. They are part of the repository "
            "(tests/fixtures/loki); restore them with git checkout."
        )
    return tuple(
        Recording(
            name=entry["name"],
            file=entry["file"],
            method=entry["method"],
            path=entry["path"],
            params=tuple((str(k), str(v)) for k, v in entry["params"]),
            request_headers=dict(entry.get("request_headers") or {}),
            raw_request_body=entry.get("raw_request_body"),
            status=int(entry["status"]),
            content_type=entry["content_type"],
        )
        for entry in json.loads(index.read_text())["fixtures"]
    )


def recording(name: str) -> Recording:
    return next(r for r in recordings() if r.name == name)


@dataclass
class Replay:
    """An httpx MockTransport handler answering each request with the recording it matches."""

    served: tuple[Recording, ...]
    requests: list[httpx.Request] = field(default_factory=list)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        for candidate in self.served:
            if candidate.matches(request):
                return candidate.response()
        semantic = {name: request.headers.get(name) for name in _SEMANTIC_HEADERS}
        raise AssertionError(
            f"No recorded Loki response for {request.method} {request.url.path} "
            f"params={sorted(_request_params(request))} headers={semantic}; "
            f"recordings served: {[r.name for r in self.served]}"
        )


def replay_http(upstream: Upstream, replay: Replay) -> httpx.AsyncClient:
    """An HTTP client with the headers and auth `common.http` gives `upstream`, over the replay."""
    real = upstream_client(upstream, attempts=1)
    return httpx.AsyncClient(
        base_url=real.base_url, headers=real.headers, auth=real.auth, transport=httpx.MockTransport(replay)
    )
