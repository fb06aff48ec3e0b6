"""Security checklist rows 1-12, 14, 15, 23, 35 and 38 against loki-mcp's embedded Loki API, served for real.

`sre serve loki-mcp` runs as a subprocess on 127.0.0.1 with no LOKI_URL, so beside `/mcp` it
serves its log store's Loki API at `/loki/api/v1/`, guarded by the same tokens (audience
`<base>/mcp`): a push needs `logs:write`, a query `logs:read`. Unless a test says otherwise it
asserts its row's expected result against both `POST /loki/api/v1/push` and
`GET /loki/api/v1/query_range`. Row 35 goes through the MCP tools over Streamable HTTP.
"""

from __future__ import annotations

import gzip
import json
import time
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from joserfc.jwk import RSAKey
from mcp import Client
from support.hostile_tokens import (
    KEYS_IN_HEADER,
    NOT_ACCESS_TOKENS,
    OMIT,
    UNTIMELY,
    RecordingServer,
    from_now,
    key_in_header,
    oversized_token_status,
)
from support.issuer import TestIssuer
from support.mcp_session import call, call_error, token_session
from support.served import ServedComponent

pytestmark = pytest.mark.integration

READ = "logs:read"
WRITE = "logs:write"
BOTH = [READ, WRITE]
MAX_PUSH_BYTES = 200_000
ENDPOINTS = ("push", "query_range")
JSON = {"Content-Type": "application/json"}


# --- helpers -------------------------------------------------------------------------------


def api(served: ServedComponent, path: str) -> str:
    return f"{served.url}/loki/api/v1/{path}"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def push_body(service: str, *lines: str) -> bytes:
    """A JSON push of `lines` (stamped a few seconds ago) to the stream `{service=...}`."""
    now = time.time_ns()
    values = [[str(now - (len(lines) - n) * 10**9), line] for n, line in enumerate(lines)]
    return json.dumps({"streams": [{"stream": {"service": service}, "values": values}]}).encode()


def send(
    http: httpx.Client,
    served: ServedComponent,
    endpoint: str,
    token: str | None,
    headers: dict[str, str] | None = None,
    params: dict[str, str] | None = None,
    *,
    service: str = "refused",
) -> httpx.Response:
    """A small valid push to `{service=...}`, or a `query_range` of `{service="x"}`, with `token` if any."""
    sent = {} if token is None else bearer(token)
    sent.update(headers or {})
    if endpoint == "push":
        body = push_body(service, "a line")
        return http.post(api(served, "push"), content=body, headers={**JSON, **sent}, params=params)
    return http.get(api(served, "query_range"), params={"query": '{service="x"}', **(params or {})}, headers=sent)


def assert_unauthorized(response: httpx.Response, served: ServedComponent) -> None:
    assert response.status_code == 401, response.text
    challenge = response.headers["WWW-Authenticate"]
    assert challenge.startswith("Bearer ")
    assert f'resource_metadata="{served.url}/.well-known/oauth-protected-resource/mcp"' in challenge


def assert_accepted(response: httpx.Response, endpoint: str) -> None:
    assert response.status_code == (204 if endpoint == "push" else 200), response.text


def stored_lines(http: httpx.Client, served: ServedComponent, reader: str, service: str) -> list[str]:
    """Every line of `{service=...}` in the last hour, read back with the `logs:read` token `reader`."""
    response = http.get(
        api(served, "query_range"),
        params={"query": f'{{service="{service}"}}', "limit": "5000"},
        headers=bearer(reader),
    )
    assert response.status_code == 200, response.text
    return [value[1] for stream in response.json()["data"]["result"] for value in stream["values"]]


def serve_loki(issuer: TestIssuer, factory: pytest.TempPathFactory, **env: str) -> ServedComponent:
    settings = {
        "LOKI_URL": "",  # none: the embedded store and its Loki API
        "SRE_DATA_DIR": str(factory.mktemp("loki-data")),
        "SRE_AUTH_ISSUER": issuer.issuer,
        "SRE_AUTH_JWKS_URL": issuer.jwks_url,
        # Attack rows send hundreds of requests from one address; row 38 sets its own rate.
        "SRE_REQUESTS_PER_SECOND": "1000000",
        "LOKI_MCP_LOCAL_MAX_PUSH_BYTES": str(MAX_PUSH_BYTES),
        **env,
    }
    return ServedComponent("loki-mcp", settings, factory.mktemp("served"))


@pytest.fixture(scope="module")
def loki(issuer: TestIssuer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServedComponent]:
    """loki-mcp over its embedded store, trusting `issuer`, pushes capped at MAX_PUSH_BYTES."""
    with serve_loki(issuer, tmp_path_factory) as component:
        yield component


@pytest.fixture(scope="module")
def token(issuer: TestIssuer, loki: ServedComponent) -> str:
    """A valid token for both endpoints: anything refused is refused for the case under test alone."""
    return issuer.mint(loki.mcp_url, BOTH)


@pytest.fixture(scope="module")
def reader(issuer: TestIssuer, loki: ServedComponent) -> str:
    return issuer.mint(loki.mcp_url, [READ])


# --- a valid token works ---------------------------------------------------------------------


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_valid_token_is_accepted(http: httpx.Client, loki: ServedComponent, token: str, endpoint: str) -> None:
    assert_accepted(send(http, loki, endpoint, token, service="accepted"), endpoint)


# --- rows 1-3: no or malformed credentials ---------------------------------------------------


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_row_01_no_authorization_is_401_with_resource_metadata_challenge(
    http: httpx.Client, loki: ServedComponent, endpoint: str
) -> None:
    assert_unauthorized(send(http, loki, endpoint, None), loki)


@pytest.mark.parametrize("endpoint", ENDPOINTS)
@pytest.mark.parametrize(
    "authorization",
    ["Basic dGVzdC1jbGllbnQ6c2VjcmV0", "Bearer", "Bearer not-a-jwt", "Bearer a.b.c", "Basic {token}"],
    ids=["basic", "bearer-alone", "garbage", "three-garbage-segments", "valid-token-under-basic"],
)
def test_row_02_non_bearer_or_garbage_credentials_are_401(
    http: httpx.Client, loki: ServedComponent, token: str, endpoint: str, authorization: str
) -> None:
    headers = {"Authorization": authorization.format(token=token)}
    assert_unauthorized(send(http, loki, endpoint, None, headers), loki)


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_row_03_token_only_in_access_token_query_parameter_is_401(
    http: httpx.Client, loki: ServedComponent, token: str, endpoint: str
) -> None:
    assert_unauthorized(send(http, loki, endpoint, None, params={"access_token": token}), loki)


# --- rows 4-12: tokens that must not be accepted ---------------------------------------------


@pytest.mark.parametrize("endpoint", ENDPOINTS)
@pytest.mark.parametrize(
    "claims",
    [
        {"aud": "http://127.0.0.1:8702/mcp"},
        {"aud": "{base}"},
        {"aud": "{base}/mcp/"},
        {"aud": "{base}/loki/api/v1"},
        {"aud": OMIT},
        {"aud": "account"},
    ],
    ids=["other-server", "base-url-without-path", "trailing-slash", "loki-api-path", "no-aud", "account"],
)
def test_rows_04_05_token_without_our_audience_is_401(
    http: httpx.Client, loki: ServedComponent, issuer: TestIssuer, endpoint: str, claims: dict[str, Any]
) -> None:
    audience = claims["aud"]
    if isinstance(audience, str):
        claims = {"aud": audience.format(base=loki.url)}
    assert_unauthorized(send(http, loki, endpoint, issuer.mint(loki.mcp_url, BOTH, claims=claims)), loki)


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_row_06_token_expired_within_leeway_is_accepted(
    http: httpx.Client, loki: ServedComponent, issuer: TestIssuer, endpoint: str
) -> None:
    expired_10s_ago = issuer.mint(loki.mcp_url, BOTH, claims=from_now({"iat": -310, "exp": -10}))
    assert_accepted(send(http, loki, endpoint, expired_10s_ago, service="accepted"), endpoint)


@pytest.mark.parametrize("endpoint", ENDPOINTS)
@pytest.mark.parametrize("times", list(UNTIMELY.values()), ids=list(UNTIMELY))
def test_row_06_expired_not_yet_valid_or_future_issued_token_is_401(
    http: httpx.Client, loki: ServedComponent, issuer: TestIssuer, endpoint: str, times: dict[str, Any]
) -> None:
    token = issuer.mint(loki.mcp_url, BOTH, claims=from_now(times))
    assert_unauthorized(send(http, loki, endpoint, token), loki)


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_row_07_token_signed_by_unknown_key_reusing_known_kid_is_401(
    http: httpx.Client,
    loki: ServedComponent,
    issuer: TestIssuer,
    attacker: tuple[RecordingServer, RSAKey],
    endpoint: str,
) -> None:
    _, key = attacker
    token = issuer.mint(loki.mcp_url, BOTH, key=key, header={"kid": issuer.signing_key.kid})
    assert_unauthorized(send(http, loki, endpoint, token), loki)


@pytest.mark.parametrize("endpoint", ENDPOINTS)
@pytest.mark.parametrize("alg", ["none", "NONE"])
def test_row_08_unsigned_token_is_401(
    http: httpx.Client, loki: ServedComponent, issuer: TestIssuer, endpoint: str, alg: str
) -> None:
    token = issuer.mint(loki.mcp_url, BOTH, alg="none", header={"alg": alg, "kid": issuer.signing_key.kid})
    assert token.endswith(".")
    assert_unauthorized(send(http, loki, endpoint, token), loki)


@pytest.mark.parametrize("endpoint", ENDPOINTS)
@pytest.mark.parametrize("encoding", ["pem", "jwk-json"])
def test_row_09_hs256_token_keyed_with_the_rsa_public_key_is_401(
    http: httpx.Client, loki: ServedComponent, issuer: TestIssuer, endpoint: str, encoding: str
) -> None:
    public = issuer.signing_key
    secret = public.as_pem(private=False) if encoding == "pem" else json.dumps(public.as_dict(private=False)).encode()
    token = issuer.mint(loki.mcp_url, BOTH, alg="HS256", key=secret, header={"kid": public.kid})
    assert_unauthorized(send(http, loki, endpoint, token), loki)


@pytest.mark.parametrize("endpoint", ENDPOINTS)
@pytest.mark.parametrize("way", KEYS_IN_HEADER)
def test_row_10_key_or_key_url_in_token_header_is_ignored_and_never_fetched(
    http: httpx.Client,
    loki: ServedComponent,
    issuer: TestIssuer,
    attacker: tuple[RecordingServer, RSAKey],
    endpoint: str,
    way: str,
) -> None:
    server, key = attacker
    token = issuer.mint(loki.mcp_url, BOTH, key=key, header=key_in_header(way, key, server, issuer.signing_key.kid))

    assert_unauthorized(send(http, loki, endpoint, token), loki)
    assert server.requests == []


@pytest.mark.parametrize("endpoint", ENDPOINTS)
@pytest.mark.parametrize("iss", ["{issuer}/", "{issuer_upper}", ""], ids=["trailing-slash", "upper-case", "empty"])
def test_row_11_issuer_that_differs_slightly_is_401(
    http: httpx.Client, loki: ServedComponent, issuer: TestIssuer, endpoint: str, iss: str
) -> None:
    claimed = iss.format(issuer=issuer.issuer, issuer_upper=issuer.issuer.upper())
    assert claimed != issuer.issuer
    assert_unauthorized(send(http, loki, endpoint, issuer.mint(loki.mcp_url, BOTH, claims={"iss": claimed})), loki)


@pytest.mark.parametrize("endpoint", ENDPOINTS)
@pytest.mark.parametrize(("header", "claims"), list(NOT_ACCESS_TOKENS.values()), ids=list(NOT_ACCESS_TOKENS))
def test_row_12_token_that_is_not_an_rfc9068_access_token_is_401(
    http: httpx.Client,
    loki: ServedComponent,
    issuer: TestIssuer,
    endpoint: str,
    header: dict[str, Any],
    claims: dict[str, Any],
) -> None:
    token = issuer.mint(loki.mcp_url, BOTH, header=header, claims=claims)
    assert_unauthorized(send(http, loki, endpoint, token), loki)


def test_rows_01_to_12_no_refused_push_was_stored(http: httpx.Client, loki: ServedComponent, reader: str) -> None:
    """Every refused push above went to `{service="refused"}` (accepted ones to "accepted"): it must be empty."""
    assert stored_lines(http, loki, reader, "refused") == []


# --- row 15-like: scope per route ------------------------------------------------------------


def test_read_token_pushing_is_403_naming_logs_write_and_nothing_is_stored(
    http: httpx.Client, loki: ServedComponent, reader: str
) -> None:
    response = http.post(
        api(loki, "push"),
        content=push_body("scope-read-only", "written by a reader"),
        headers={**JSON, **bearer(reader)},
    )

    assert response.status_code == 403, response.text
    challenge = response.headers["WWW-Authenticate"]
    assert 'error="insufficient_scope"' in challenge
    assert 'scope="logs:write"' in challenge
    assert stored_lines(http, loki, reader, "scope-read-only") == []


def test_write_only_token_querying_is_403_naming_logs_read(
    http: httpx.Client, loki: ServedComponent, issuer: TestIssuer
) -> None:
    writer = issuer.mint(loki.mcp_url, [WRITE])
    responses = [
        send(http, loki, "query_range", writer),
        http.get(api(loki, "labels"), headers=bearer(writer)),
    ]

    for response in responses:
        assert response.status_code == 403, response.text
        challenge = response.headers["WWW-Authenticate"]
        assert 'error="insufficient_scope"' in challenge
        assert 'scope="logs:read"' in challenge


def test_token_with_both_scopes_pushes_and_reads_the_line_back(
    http: httpx.Client, loki: ServedComponent, token: str
) -> None:
    pushed = http.post(
        api(loki, "push"), content=push_body("scope-both", "written and read"), headers={**JSON, **bearer(token)}
    )
    queried = http.get(api(loki, "query_range"), params={"query": '{service="scope-both"}'}, headers=bearer(token))

    assert pushed.status_code == 204, pushed.text
    assert queried.status_code == 200, queried.text
    assert [value[1] for stream in queried.json()["data"]["result"] for value in stream["values"]] == [
        "written and read"
    ]


# --- row 14: oversized header ----------------------------------------------------------------


def test_row_14_300_kib_authorization_header_on_push_is_refused_fast_and_server_stays_up(
    http: httpx.Client, loki: ServedComponent
) -> None:
    started = time.monotonic()
    status = oversized_token_status(lambda headers: send(http, loki, "push", None, headers), 300)
    elapsed = time.monotonic() - started

    assert status == 431
    assert elapsed < 1.0
    assert http.get(f"{loki.url}/healthz").status_code == 200


# --- row 23: push body size ------------------------------------------------------------------


def oversized_push(service: str) -> bytes:
    """A valid JSON push just over MAX_PUSH_BYTES."""
    body = push_body(service, "x" * MAX_PUSH_BYTES)
    assert MAX_PUSH_BYTES < len(body) < MAX_PUSH_BYTES + 200
    return body


def test_row_23_push_body_over_the_limit_is_413(
    http: httpx.Client, loki: ServedComponent, token: str, reader: str
) -> None:
    response = http.post(api(loki, "push"), content=oversized_push("too-large"), headers={**JSON, **bearer(token)})

    assert int(response.request.headers["Content-Length"]) > MAX_PUSH_BYTES
    assert response.status_code == 413, response.text
    assert f"at most {MAX_PUSH_BYTES} bytes" in response.text
    assert stored_lines(http, loki, reader, "too-large") == []


def test_row_23_chunked_push_body_over_the_limit_without_length_is_413(
    http: httpx.Client, loki: ServedComponent, token: str, reader: str
) -> None:
    body = oversized_push("too-large-chunked")

    def chunks() -> Iterator[bytes]:
        for start in range(0, len(body), 16 * 1024):
            yield body[start : start + 16 * 1024]

    response = http.post(api(loki, "push"), content=chunks(), headers={**JSON, **bearer(token)})

    assert response.request.headers.get("Transfer-Encoding") == "chunked"
    assert "Content-Length" not in response.request.headers
    assert response.status_code == 413, response.text
    assert stored_lines(http, loki, reader, "too-large-chunked") == []


@pytest.fixture(scope="module")
def gzip_bomb() -> bytes:
    """100 MiB of zeros, gzip-compressed: about 100 KiB on the wire, under MAX_PUSH_BYTES."""
    bomb = gzip.compress(bytes(100 * 1024 * 1024), compresslevel=9)
    assert len(bomb) < MAX_PUSH_BYTES
    return bomb


def test_row_23_gzip_bomb_is_refused_fast_and_server_stays_up(
    http: httpx.Client, loki: ServedComponent, token: str, gzip_bomb: bytes
) -> None:
    headers = {**JSON, **bearer(token), "Content-Encoding": "gzip"}
    started = time.monotonic()
    response = http.post(api(loki, "push"), content=gzip_bomb, headers=headers)
    elapsed = time.monotonic() - started

    assert response.status_code in (400, 413), response.text
    assert "decompressed" in response.text
    assert elapsed < 3.0
    assert http.get(f"{loki.url}/healthz").status_code == 200
    assert loki.running


def test_row_23_gzip_push_that_decompresses_past_the_limit_is_refused_and_not_stored(
    http: httpx.Client, loki: ServedComponent, token: str, reader: str
) -> None:
    body = push_body("too-large-gzip", "y" * 10 * MAX_PUSH_BYTES)
    compressed = gzip.compress(body)
    assert len(compressed) < MAX_PUSH_BYTES < len(body)

    response = http.post(
        api(loki, "push"), content=compressed, headers={**JSON, **bearer(token), "Content-Encoding": "gzip"}
    )

    assert response.status_code in (400, 413), response.text
    assert stored_lines(http, loki, reader, "too-large-gzip") == []


# --- malformed push bodies -------------------------------------------------------------------


def _stream(service: str, values: list[Any], **labels: str) -> dict[str, Any]:
    return {"stream": {"service": service, **labels}, "values": values}


@pytest.mark.parametrize(
    ("service", "body", "problem"),
    [
        (
            "malformed-json",
            b'{"streams": [{"stream": {"service": "malformed-json"}, "values": [["1", ',
            "not valid JSON",
        ),
        (
            "malformed-timestamp",
            {
                "streams": [
                    _stream("malformed-timestamp", [["{now}", "good line"]]),
                    _stream("malformed-timestamp", [["yesterday", "bad line"]], level="error"),
                ]
            },
            'the timestamp "yesterday" is not Unix nanoseconds',
        ),
        (
            "malformed-label",
            {
                "streams": [
                    _stream("malformed-label", [["{now}", "good line"]]),
                    _stream("malformed-label", [["{now}", "bad line"]], **{"bad-name": "v"}),
                ]
            },
            "invalid label name 'bad-name'",
        ),
    ],
    ids=["not-json", "bad-timestamp", "bad-label-name"],
)
def test_malformed_push_is_400_naming_the_problem_and_nothing_is_stored(
    http: httpx.Client,
    loki: ServedComponent,
    token: str,
    reader: str,
    service: str,
    body: bytes | dict[str, Any],
    problem: str,
) -> None:
    content = body if isinstance(body, bytes) else json.dumps(body).replace("{now}", str(time.time_ns())).encode()
    response = http.post(api(loki, "push"), content=content, headers={**JSON, **bearer(token)})

    assert response.status_code == 400, response.text
    assert problem in response.text
    assert stored_lines(http, loki, reader, service) == []


# --- row 35: LogQL guardrails through the MCP tools over HTTP --------------------------------


async def _over_http(loki: ServedComponent, token: str, use: Callable[[Client], Any]) -> Any:
    async with token_session(loki.mcp_url, token, trust_env=False) as client:
        return await use(client)


@pytest.mark.anyio
async def test_row_35_logql_guardrails_over_streamable_http(loki: ServedComponent, reader: str) -> None:
    async def calls(client: Client) -> tuple[str, dict[str, Any], dict[str, Any]]:
        every_stream = await call_error(client, "loki_query_logs", query='{job=~".+"}', start="now-1h")
        clamped = await call(client, "loki_query_logs", query='{service="x"}', start="now-1h", limit=100000)
        month = await call(client, "loki_query_logs", query='{service="x"}', start="now-30d")
        return every_stream, clamped, month

    every_stream, clamped, month = await _over_http(loki, reader, calls)

    assert "would read every stream" in every_stream
    assert clamped["limits_applied"] == ["limit lowered from 100000 to the maximum of 1000 lines"]
    assert any("longer than the 1d allowed" in note for note in month["limits_applied"])


# --- row 38: rate limit ----------------------------------------------------------------------

# Low, so a refilled token is rare between two requests however slow the machine is.
RATE = 2


def test_row_38_a_push_flood_from_one_client_is_limited_and_the_server_stays_responsive(
    issuer: TestIssuer, tmp_path_factory: pytest.TempPathFactory
) -> None:
    with (
        serve_loki(issuer, tmp_path_factory, SRE_REQUESTS_PER_SECOND=str(RATE)) as limited,
        httpx.Client(timeout=10.0, trust_env=False) as http,
    ):
        headers = {**JSON, **bearer(issuer.mint(limited.mcp_url, [WRITE]))}
        statuses: Counter[int] = Counter()
        started = time.monotonic()
        for n in range(200):
            response = http.post(api(limited, "push"), content=push_body("flood", f"line {n}"), headers=headers)
            statuses[response.status_code] += 1
        elapsed = time.monotonic() - started
        refused = http.post(api(limited, "push"), content=push_body("flood", "one more"), headers=headers)
        health = http.get(f"{limited.url}/healthz")

    assert set(statuses) == {204, 429}, statuses
    # A bucket of RATE requests plus what refills while the flood lasts.
    assert statuses[204] <= RATE + RATE * elapsed + 1
    assert refused.status_code == 429
    assert int(refused.headers["Retry-After"]) >= 1
    assert health.status_code == 200
