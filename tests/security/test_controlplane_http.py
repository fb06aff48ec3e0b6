"""Security checklist rows 1-14 and 23 against the control plane's REST API, served for real (`sre serve controlplane`).

tests/controlplane/ checks the API's behaviour (scopes, validation, approvals: rows 15-17, 22,
24) on the app in-process; here the served component meets the hostile credentials every
resource server must refuse, a read route and a write route each, and oversized requests.
Nothing refused may leave a trace: the audit log, which records every write, stays as it was.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from joserfc.jwk import RSAKey
from support.controlplane_mcp_harness import ADMIN, READ, WRITE, serve_controlplane
from support.hostile_tokens import RecordingServer, assert_oversized_tokens_refused_fast_in_bounded_memory
from support.issuer import TestIssuer
from support.key_rotation import accepted_after_rotation
from support.refused_tokens import REFUSED_CASES, refused_authorization, within_leeway
from support.served import ServedComponent

pytestmark = pytest.mark.integration

ROUTES = [("GET", "/api/v1/resources"), ("POST", "/api/v1/incidents")]
INCIDENT = {"title": "refused"}
#: Seconds between two JWKS fetches of the control plane, at least.
COOLDOWN = 2.0


@pytest.fixture(scope="module")
def controlplane(issuer: TestIssuer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServedComponent]:
    served = serve_controlplane(issuer, tmp_path_factory, approval_ttl=300)
    # A short JWKS cooldown: row 13 rotates the issuer's key.
    served.env["SRE_AUTH_JWKS_REFETCH_COOLDOWN_SECONDS"] = str(COOLDOWN)
    with served as component:
        yield component


def mint(issuer: TestIssuer, controlplane: ServedComponent, **changes: Any) -> str:
    """A token for the control plane with every scope, changed as `changes` say (see `refused_tokens.Mint`)."""
    claims = {"client_id": "operator", "sub": "operator", **changes.pop("claims", {})}
    return issuer.mint(controlplane.url, [READ, WRITE, ADMIN], claims=claims, **changes)


def send(
    http: httpx.Client, controlplane: ServedComponent, method: str, path: str, headers: dict[str, str], **kwargs: Any
) -> httpx.Response:
    body = INCIDENT if method == "POST" else None
    return http.request(method, f"{controlplane.url}{path}", json=body, headers=headers, **kwargs)


def audit_entries(http: httpx.Client, issuer: TestIssuer, controlplane: ServedComponent) -> int:
    headers = {"Authorization": f"Bearer {mint(issuer, controlplane)}"}
    response = http.get(f"{controlplane.url}/api/v1/audit-logs", params={"limit": 500}, headers=headers)
    assert response.status_code == 200, response.text
    return len(response.json()["items"])


def assert_unauthorized(response: httpx.Response) -> None:
    assert response.status_code == 401, response.text
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert response.json()["error_description"]


# --- rows 1-12 ---------------------------------------------------------------------------------


def test_a_valid_token_and_one_expired_within_the_leeway_are_accepted(
    http: httpx.Client, issuer: TestIssuer, controlplane: ServedComponent
) -> None:
    for token in (mint(issuer, controlplane), within_leeway(lambda **changes: mint(issuer, controlplane, **changes))):
        response = send(http, controlplane, "GET", "/api/v1/resources", {"Authorization": f"Bearer {token}"})
        assert response.status_code == 200, response.text


@pytest.mark.parametrize(("method", "path"), ROUTES)
def test_row_01_no_authorization_is_401_with_a_bearer_challenge_and_row_03_nor_a_token_in_the_query(
    http: httpx.Client, issuer: TestIssuer, controlplane: ServedComponent, method: str, path: str
) -> None:
    before = audit_entries(http, issuer, controlplane)

    missing = send(http, controlplane, method, path, {})
    in_query = send(http, controlplane, method, path, {}, params={"access_token": mint(issuer, controlplane)})

    assert_unauthorized(missing)
    assert_unauthorized(in_query)
    assert audit_entries(http, issuer, controlplane) == before


@pytest.mark.parametrize("case", REFUSED_CASES)
def test_rows_02_04_to_12_a_wrong_or_hostile_credential_is_401_on_reads_and_writes_and_nothing_is_written(
    http: httpx.Client,
    issuer: TestIssuer,
    controlplane: ServedComponent,
    key_host: tuple[RecordingServer, RSAKey],
    case: str,
) -> None:
    host, attacker_key = key_host
    authorization = refused_authorization(
        case,
        lambda **changes: mint(issuer, controlplane, **changes),
        issuer=issuer.issuer,
        audience=controlplane.url,
        public_key=issuer.signing_key,
        attacker=host,
        attacker_key=attacker_key,
    )
    before = audit_entries(http, issuer, controlplane)

    for method, path in ROUTES:
        assert_unauthorized(send(http, controlplane, method, path, {"Authorization": authorization}))

    assert audit_entries(http, issuer, controlplane) == before
    assert host.requests == []


# --- row 13 ------------------------------------------------------------------------------------


def test_row_13_tokens_with_random_kids_cost_at_most_one_jwks_fetch_per_cooldown(
    http: httpx.Client, issuer: TestIssuer, controlplane: ServedComponent
) -> None:
    tokens = [mint(issuer, controlplane, header={"kid": f"rsa-{secrets.token_hex(8)}"}) for _ in range(200)]
    fetches_before = issuer.fetch_count

    def status(token: str) -> int:
        return send(http, controlplane, "GET", "/api/v1/resources", {"Authorization": f"Bearer {token}"}).status_code

    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(pool.map(status, tokens))
    elapsed = time.monotonic() - started

    assert statuses == [401] * len(tokens)
    # One refetch per cooldown at most, whatever the number of unknown kids.
    assert issuer.fetch_count - fetches_before <= 1 + elapsed / COOLDOWN, elapsed
    assert status(mint(issuer, controlplane)) == 200


def test_row_13_a_rotated_key_is_accepted_without_a_restart(
    http: httpx.Client, issuer: TestIssuer, controlplane: ServedComponent
) -> None:
    pid = controlplane.pid

    issuer.rotate()

    headers = {"Authorization": f"Bearer {mint(issuer, controlplane)}"}
    response = accepted_after_rotation(
        lambda: send(http, controlplane, "GET", "/api/v1/resources", headers),
        timeout=COOLDOWN + 10,
        what="the control plane",
    )
    assert response.status_code == 200, response.text
    assert controlplane.pid == pid


# --- row 14 ------------------------------------------------------------------------------------


def test_row_14_oversized_authorization_headers_are_refused_fast_with_bounded_memory(
    http: httpx.Client, controlplane: ServedComponent
) -> None:
    def attempt(headers: dict[str, str]) -> httpx.Response:
        return send(http, controlplane, "GET", "/api/v1/resources", headers)

    assert_oversized_tokens_refused_fast_in_bounded_memory(attempt, controlplane.pid)
    assert http.get(f"{controlplane.url}/healthz").status_code == 200


# --- row 23 ------------------------------------------------------------------------------------


@pytest.mark.parametrize("chunked", [False, True], ids=["with-length", "chunked"])
def test_row_23_a_5_mib_body_is_413_and_nothing_is_written(
    http: httpx.Client, issuer: TestIssuer, controlplane: ServedComponent, chunked: bool
) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"title": "'
        for _ in range(5 * 16):
            yield b"x" * 64 * 1024
        yield b'"}'

    body: Any = chunks() if chunked else json.dumps({"title": "x" * 5 * 1024 * 1024}).encode()
    headers = {"Authorization": f"Bearer {mint(issuer, controlplane)}", "Content-Type": "application/json"}
    before = audit_entries(http, issuer, controlplane)

    response = http.post(f"{controlplane.url}/api/v1/incidents", content=body, headers=headers)

    assert response.status_code == 413, response.text
    assert response.json()["error_description"]
    assert audit_entries(http, issuer, controlplane) == before
