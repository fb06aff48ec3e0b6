"""Security checklist rows 1-14, 31, 37, 38, 41 and 42 against the registry served for real (`sre serve registry`).

Every test talks HTTP to a registry subprocess on 127.0.0.1. Tokens come from its embedded
authorization server (POST /oauth/token, client credentials, `resource` = the registry's URL) for
clients provisioned in its data directory, as `sre auth add-client` does. Rows that need an
attacker use hand-made tokens (`hostile_tokens`): signed with keys generated here where the
signature is what is wrong, and with the registry's own key, read from its data directory, where
only the claims are (so that the claims, not an unknown key, are what gets them refused).

Rows 1-14 use `GET /agents`. Row 19 does not apply: the registry is not an MCP server. The
registry's own challenge is `Bearer realm="registry"`, with `error="invalid_token"` when a token
was sent; it publishes no protected resource metadata.
"""

from __future__ import annotations

import base64
import json
import secrets
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from joserfc.jwk import ECKey, Key, RSAKey
from prometheus_client.parser import text_string_to_metric_families
from support.backends import PrometheusProcess, free_port
from support.eventually import eventually
from support.hostile_tokens import (
    KEYS_IN_HEADER,
    NOT_ACCESS_TOKENS,
    OMIT,
    UNTIMELY,
    RecordingServer,
    access_token,
    from_now,
    key_in_header,
    oversized_token_flood,
    oversized_token_status,
)
from support.key_rotation import accepted_after_rotation
from support.mcp_http import assert_initialized, initialize
from support.served import ServedComponent

from common.settings import SettingsSource
from registry.clients import ClientStore
from registry.keys import KeyStore
from registry.settings import RegistrySettings

pytestmark = pytest.mark.integration

ServeRegistry = Callable[..., ServedComponent]
WRITE = "registry:write"
#: The scope of clients that are not allowed to write to the registry (any valid token reads).
READ_ONLY = "metrics:read"
#: RFC 6750 3.1: no error code when the request carried no credentials.
CHALLENGE = 'Bearer realm="registry"'
INVALID_TOKEN_CHALLENGE = 'Bearer realm="registry", error="invalid_token"'


# --- helpers -------------------------------------------------------------------------------


class EmbeddedIssuer:
    """The authorization server embedded in a served registry: its clients, its tokens, its key.

    Clients are added to the registry's data directory (which the running registry re-reads);
    tokens come from POST /oauth/token over HTTP. `forge()` is the attacker's (or the key
    holder's) mint: any claims, signed with the registry's own key unless told otherwise.
    """

    def __init__(self, registry: ServedComponent, http: httpx.Client) -> None:
        self.url = registry.url
        self.http = http
        # The registry's settings, built from its environment exactly as it built them.
        settings = RegistrySettings.from_source(SettingsSource.load(registry.env))
        self.clients = ClientStore(settings.clients_path)
        self.keys = KeyStore.for_settings(settings)
        self._secrets: dict[str, str] = {}

    def secret(self, client: str, scopes: Sequence[str] = (READ_ONLY,)) -> str:
        """The secret of `client`, added with `scopes` on first use."""
        if client not in self._secrets:
            self._secrets[client] = self.clients.add_client(client, scopes)
        return self._secrets[client]

    def request_token(self, client: str, secret: str, resource: str) -> httpx.Response:
        form = {"grant_type": "client_credentials", "resource": resource}
        return self.http.post(f"{self.url}/oauth/token", data=form, auth=(client, secret))

    def token(self, client: str, scopes: Sequence[str] = (READ_ONLY,), resource: str | None = None) -> str:
        """A token of `client` (added with `scopes` on first use) for `resource`, by default the registry."""
        response = self.request_token(client, self.secret(client, scopes), resource or self.url)
        assert response.status_code == 200, response.text
        token: str = response.json()["access_token"]
        return token

    def forge(
        self,
        *,
        key: Key | bytes | None = None,
        alg: str = "RS256",
        header: dict[str, Any] | None = None,
        claims: dict[str, Any] | None = None,
    ) -> str:
        """A hand-made token for the registry from the registry, signed with its key unless `key` is given."""
        signing_key = key if key is not None else self.keys.signing_key().key
        return access_token(self.url, self.url, [], key=signing_key, alg=alg, header=header, claims=claims)


def agents(http: httpx.Client, registry: ServedComponent, token: str | None, **headers: str) -> httpx.Response:
    """GET /agents with `token` as the bearer token (if any) and extra `headers`."""
    if token is not None:
        headers.setdefault("Authorization", f"Bearer {token}")
    return http.get(f"{registry.url}/agents", headers=headers)


def assert_listed(response: httpx.Response) -> None:
    assert response.status_code == 200, response.text
    assert "agents" in response.json()


def assert_unauthorized(response: httpx.Response, challenge: str = INVALID_TOKEN_CHALLENGE) -> None:
    assert response.status_code == 401, response.text
    assert response.headers["WWW-Authenticate"] == challenge
    assert response.json()["error"] == "invalid_token"


def decode(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Header and claims of a compact JWS (unverified: the test only reads what it was given)."""
    header, claims = (
        json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))) for part in token.split(".")[:2]
    )
    return header, claims


def published_kid(http: httpx.Client, registry: ServedComponent) -> str:
    """A `kid` anyone can read from the registry's /jwks.json."""
    kid: str = http.get(f"{registry.url}/jwks.json").json()["keys"][0]["kid"]
    return kid


@pytest.fixture(scope="module")
def prometheus_mcp_port() -> int:
    """prometheus-mcp's port, known before the registry starts so it can issue tokens for it."""
    return free_port()


@pytest.fixture(scope="module")
def registry(serve_registry: ServeRegistry, prometheus_mcp_port: int) -> Iterator[ServedComponent]:
    resources = json.dumps([f"http://127.0.0.1:{prometheus_mcp_port}/mcp"])
    with serve_registry(REGISTRY_RESOURCES=resources) as component:
        yield component


@pytest.fixture(scope="module")
def embedded(registry: ServedComponent, http: httpx.Client) -> EmbeddedIssuer:
    return EmbeddedIssuer(registry, http)


@pytest.fixture(scope="module")
def token(embedded: EmbeddedIssuer) -> str:
    """A token of the embedded server for the registry, of a client without `registry:write`: enough to read."""
    return embedded.token("reader")


@pytest.fixture(scope="module")
def prometheus_mcp(
    prometheus: PrometheusProcess,
    registry: ServedComponent,
    prometheus_mcp_port: int,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[ServedComponent]:
    """prometheus-mcp trusting the registry's embedded authorization server (keys found by RFC 8414 discovery)."""
    env = {"PROMETHEUS_URL": prometheus.url, "SRE_AUTH_ISSUER": registry.url, "REGISTRY_URL": registry.url}
    with ServedComponent("prometheus-mcp", env, tmp_path_factory.mktemp("served"), port=prometheus_mcp_port) as served:
        yield served


# --- valid tokens work -----------------------------------------------------------------------


def test_token_from_the_embedded_server_is_an_rfc9068_token_for_the_registry_and_lists_agents(
    http: httpx.Client, registry: ServedComponent, token: str
) -> None:
    header, claims = decode(token)
    assert (header["typ"], header["alg"]) == ("at+jwt", "RS256")
    assert (claims["iss"], claims["aud"], claims["client_id"]) == (registry.url, registry.url, "reader")
    assert_listed(agents(http, registry, token))


def test_hand_made_token_signed_with_the_registry_key_is_accepted(
    http: httpx.Client, registry: ServedComponent, embedded: EmbeddedIssuer
) -> None:
    # The control for rows 4-6, 11 and 12: their tokens differ from this one only as each row says.
    assert_listed(agents(http, registry, embedded.forge()))


# --- rows 1-3: no or malformed credentials ---------------------------------------------------


def test_row_01_no_authorization_is_401_with_a_bearer_challenge_and_no_resource_metadata(
    http: httpx.Client, registry: ServedComponent
) -> None:
    assert_unauthorized(agents(http, registry, None), CHALLENGE)
    # Not an MCP server: no RFC 9728 document to point a challenge at.
    assert http.get(f"{registry.url}/.well-known/oauth-protected-resource").status_code == 404


@pytest.mark.parametrize(
    "authorization",
    ["Basic dGVzdC1jbGllbnQ6c2VjcmV0", "Bearer", "Bearer not-a-jwt", "Bearer a.b.c", "Token abc"],
    ids=["basic", "bearer-alone", "garbage", "three-garbage-segments", "other-scheme"],
)
def test_row_02_non_bearer_or_garbage_credentials_are_401(
    http: httpx.Client, registry: ServedComponent, authorization: str
) -> None:
    assert_unauthorized(agents(http, registry, None, Authorization=authorization))


def test_row_02_valid_token_under_another_scheme_or_with_extra_words_is_401(
    http: httpx.Client, registry: ServedComponent, token: str
) -> None:
    assert_unauthorized(agents(http, registry, None, Authorization=f"Basic {token}"))
    assert_unauthorized(agents(http, registry, None, Authorization=f"Bearer {token} {token}"))


def test_row_03_token_only_in_access_token_query_parameter_is_401(
    http: httpx.Client, registry: ServedComponent, token: str
) -> None:
    response = http.get(f"{registry.url}/agents", params={"access_token": token})
    assert_unauthorized(response, CHALLENGE)


# --- rows 4-12: tokens that must not be accepted ---------------------------------------------


def test_row_04_token_of_the_embedded_server_for_prometheus_mcp_is_401(
    http: httpx.Client, registry: ServedComponent, embedded: EmbeddedIssuer, prometheus_mcp_port: int
) -> None:
    audience = f"http://127.0.0.1:{prometheus_mcp_port}/mcp"
    foreign = embedded.token("triage", resource=audience)
    assert decode(foreign)[1]["aud"] == audience

    assert_unauthorized(agents(http, registry, foreign))


@pytest.mark.parametrize(
    "audience", ["prometheus-mcp", "two-other-servers", "trailing-slash", "sub-path", "localhost-alias"]
)
def test_row_04_token_for_another_audience_is_401(
    http: httpx.Client, registry: ServedComponent, embedded: EmbeddedIssuer, prometheus_mcp_port: int, audience: str
) -> None:
    other = f"http://127.0.0.1:{prometheus_mcp_port}/mcp"
    aud = {
        "prometheus-mcp": other,
        "two-other-servers": [other, "http://127.0.0.1:8702/mcp"],
        "trailing-slash": f"{registry.url}/",
        "sub-path": f"{registry.url}/agents",
        "localhost-alias": f"http://localhost:{registry.port}",
    }[audience]
    assert_unauthorized(agents(http, registry, embedded.forge(claims={"aud": aud})))


@pytest.mark.parametrize("claims", [{"aud": OMIT}, {"aud": "account"}, {"aud": []}, {"aud": None}])
def test_row_05_token_without_the_registry_audience_is_401(
    http: httpx.Client, registry: ServedComponent, embedded: EmbeddedIssuer, claims: dict[str, Any]
) -> None:
    assert_unauthorized(agents(http, registry, embedded.forge(claims=claims)))


def test_row_06_token_expired_within_leeway_is_accepted(
    http: httpx.Client, registry: ServedComponent, embedded: EmbeddedIssuer
) -> None:
    assert_listed(agents(http, registry, embedded.forge(claims=from_now({"iat": -310, "exp": -10}))))


@pytest.mark.parametrize("times", list(UNTIMELY.values()), ids=list(UNTIMELY))
def test_row_06_expired_not_yet_valid_or_future_issued_token_is_401(
    http: httpx.Client, registry: ServedComponent, embedded: EmbeddedIssuer, times: dict[str, Any]
) -> None:
    assert_unauthorized(agents(http, registry, embedded.forge(claims=from_now(times))))


@pytest.mark.parametrize("alg", ["RS256", "ES256"])
def test_row_07_token_signed_by_unknown_key_reusing_the_published_kid_is_401(
    http: httpx.Client, registry: ServedComponent, embedded: EmbeddedIssuer, alg: str
) -> None:
    kid = published_kid(http, registry)
    impostor: Key = (
        RSAKey.generate_key(2048, parameters={"kid": kid})
        if alg == "RS256"
        else ECKey.generate_key("P-256", parameters={"kid": kid})
    )
    assert_unauthorized(agents(http, registry, embedded.forge(key=impostor, alg=alg)))


@pytest.mark.parametrize("alg", ["none", "None", "NONE"])
def test_row_08_unsigned_token_is_401(
    http: httpx.Client, registry: ServedComponent, embedded: EmbeddedIssuer, alg: str
) -> None:
    token = embedded.forge(alg="none", header={"alg": alg})
    assert token.endswith(".")
    assert_unauthorized(agents(http, registry, token))


@pytest.mark.parametrize("alg", ["HS256", "HS512"])
@pytest.mark.parametrize("encoding", ["pem", "jwk-json"])
def test_row_09_hmac_token_keyed_with_the_published_rsa_key_is_401(
    http: httpx.Client, registry: ServedComponent, embedded: EmbeddedIssuer, alg: str, encoding: str
) -> None:
    published = http.get(f"{registry.url}/jwks.json").json()["keys"][0]
    secret = RSAKey.import_key(published).as_pem(private=False) if encoding == "pem" else json.dumps(published).encode()
    token = embedded.forge(key=secret, alg=alg, header={"kid": published["kid"]})
    assert_unauthorized(agents(http, registry, token))


@pytest.mark.parametrize("way", KEYS_IN_HEADER)
def test_row_10_key_or_key_url_in_token_header_is_ignored_and_never_fetched(
    http: httpx.Client,
    registry: ServedComponent,
    embedded: EmbeddedIssuer,
    attacker: tuple[RecordingServer, RSAKey],
    way: str,
) -> None:
    server, key = attacker
    header = key_in_header(way, key, server, published_kid(http, registry))

    assert_unauthorized(agents(http, registry, embedded.forge(key=key, header=header)))
    assert server.requests == []


@pytest.mark.parametrize(
    "iss", ["{issuer}/", "{issuer}//", "{issuer_upper}", "https://127.0.0.1:{port}", "http://localhost:{port}", ""]
)
def test_row_11_issuer_that_differs_slightly_is_401(
    http: httpx.Client, registry: ServedComponent, embedded: EmbeddedIssuer, iss: str
) -> None:
    claimed = iss.format(issuer=registry.url, issuer_upper=registry.url.upper(), port=registry.port)
    assert claimed != registry.url
    assert_unauthorized(agents(http, registry, embedded.forge(claims={"iss": claimed})))


@pytest.mark.parametrize(("header", "claims"), list(NOT_ACCESS_TOKENS.values()), ids=list(NOT_ACCESS_TOKENS))
def test_row_12_token_that_is_not_an_rfc9068_access_token_is_401(
    http: httpx.Client,
    registry: ServedComponent,
    embedded: EmbeddedIssuer,
    header: dict[str, Any],
    claims: dict[str, Any],
) -> None:
    assert_unauthorized(agents(http, registry, embedded.forge(header=header, claims=claims)))


# --- row 13: JWKS refetch storm and key rotation ---------------------------------------------


def jwks_requests_served(http: httpx.Client, registry: ServedComponent, token: str) -> float:
    """GET /jwks.json requests the registry has answered, from its own /metrics."""
    response = http.get(f"{registry.url}/metrics", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200, response.text
    return sum(
        sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
        if sample.name == "sre_http_requests_total" and sample.labels.get("route") == "/jwks.json"
    )


def test_row_13_random_kids_cost_at_most_one_jwks_fetch_per_cooldown_and_rotation_needs_no_restart(
    serve_registry: ServeRegistry,
) -> None:
    cooldown = 2.0
    settings = {"SRE_AUTH_JWKS_REFETCH_COOLDOWN_SECONDS": str(cooldown), "REGISTRY_KEY_PUBLISH_DELAY_SECONDS": "1"}
    with (
        serve_registry(**settings) as registry,
        httpx.Client(timeout=10.0, trust_env=False, limits=httpx.Limits(max_connections=16)) as http,
    ):
        embedded = EmbeddedIssuer(registry, http)
        reader = embedded.token("reader")
        assert_listed(agents(http, registry, reader))
        tokens = [embedded.forge(header={"kid": secrets.token_urlsafe(32)}) for _ in range(1000)]
        fetches_before = jwks_requests_served(http, registry, reader)
        started = time.monotonic()
        with ThreadPoolExecutor(max_workers=16) as pool:
            statuses = list(pool.map(lambda token: agents(http, registry, token).status_code, tokens))
        elapsed = time.monotonic() - started
        fetches = jwks_requests_served(http, registry, reader) - fetches_before

        assert statuses == [401] * len(tokens)
        assert elapsed < 20
        assert fetches <= 1 + elapsed / cooldown, (fetches, elapsed)

        rotated = embedded.keys.rotate()  # what `sre auth rotate-keys` does, in the registry's data directory
        token = eventually(
            lambda: t if decode(t := embedded.token("reader"))[0]["kid"] == rotated.kid else None,
            timeout=15,
            interval=0.1,
            what="the rotated key to start signing",
        )
        response = accepted_after_rotation(lambda: agents(http, registry, token), timeout=15, what="the registry")

        assert_listed(response)
        assert_listed(agents(http, registry, reader))  # the old key stays published
        assert registry.running


# --- row 14: oversized header ----------------------------------------------------------------


def test_row_14_300_kib_authorization_header_is_refused_fast_with_bounded_memory(
    http: httpx.Client, registry: ServedComponent
) -> None:
    def send(headers: dict[str, str]) -> httpx.Response:
        return agents(http, registry, None, **headers)

    started = time.monotonic()
    status = oversized_token_status(send, 300)
    elapsed = time.monotonic() - started
    statuses, growth = oversized_token_flood(send, registry.pid)

    assert (status, statuses) == (431, [431] * 40)
    assert elapsed < 1.0
    # Each connection buffers at most 64 KiB of its head.
    assert growth < 16 * 1024 * 1024, growth
    assert http.get(f"{registry.url}/healthz").status_code == 200


# Row 19 (RFC 9728 metadata) is about MCP servers; the registry is not one.


# --- row 31: registry writes -------------------------------------------------------------------


WRITES = [
    ("POST", "/agents", {"name": "row31-agent", "url": "http://127.0.0.1:9/row31-agent"}),
    ("POST", "/servers", {"name": "row31-server", "url": "http://127.0.0.1:9/row31-server/mcp"}),
    ("DELETE", "/agents/row31-agent", None),
    ("DELETE", "/servers/row31-server", None),
]


@pytest.mark.parametrize(("method", "path", "body"), WRITES, ids=[f"{m} {p}" for m, p, _ in WRITES])
def test_row_31_write_without_registry_write_scope_is_403_naming_it_and_without_token_401(
    http: httpx.Client, registry: ServedComponent, embedded: EmbeddedIssuer, method: str, path: str, body: Any
) -> None:
    reader = embedded.token("reader")

    refused = http.request(method, f"{registry.url}{path}", json=body, headers={"Authorization": f"Bearer {reader}"})
    anonymous = http.request(method, f"{registry.url}{path}", json=body)

    assert refused.status_code == 403, refused.text
    assert refused.json()["error"] == "insufficient_scope"
    assert WRITE in refused.json()["error_description"]
    assert refused.headers["WWW-Authenticate"] == f'{CHALLENGE}, error="insufficient_scope", scope="{WRITE}"'
    assert_unauthorized(anonymous, CHALLENGE)


def test_row_31_write_with_registry_write_token_of_the_embedded_server_registers_and_deregisters(
    http: httpx.Client, registry: ServedComponent, embedded: EmbeddedIssuer, token: str
) -> None:
    writer = {"Authorization": f"Bearer {embedded.token('writer', [WRITE])}"}
    (_, path, body), *_ = WRITES

    created = http.post(f"{registry.url}{path}", json=body, headers=writer)
    listed = [agent["name"] for agent in agents(http, registry, token).json()["agents"]]
    deleted = http.delete(f"{registry.url}/agents/row31-agent", headers=writer)

    assert created.status_code == 201, created.text
    assert "row31-agent" in listed
    assert deleted.status_code == 204


# --- row 37: the token endpoint --------------------------------------------------------------


def test_row_37_wrong_secret_and_unknown_client_are_the_same_401_invalid_client(
    registry: ServedComponent, embedded: EmbeddedIssuer
) -> None:
    secret = embedded.secret("row37")
    wrong_secret = embedded.request_token("row37", secret[:-2] + "xx", registry.url)
    unknown_client = embedded.request_token("nobody", secret, registry.url)

    for response in (wrong_secret, unknown_client):
        assert response.status_code == 401, response.text
        assert response.headers["WWW-Authenticate"].startswith("Basic ")
        assert response.json()["error"] == "invalid_client"
    assert wrong_secret.json() == unknown_client.json()
    assert secret not in wrong_secret.text + unknown_client.text


@pytest.mark.parametrize(
    "resource",
    ["http://127.0.0.1:9/mcp", "{registry}/", "{registry}/agents", "{prometheus_mcp}/", "https://evil.example/mcp"],
)
def test_row_37_unknown_resource_is_400_invalid_target(
    registry: ServedComponent, embedded: EmbeddedIssuer, prometheus_mcp_port: int, resource: str
) -> None:
    secret = embedded.secret("row37-target")
    prometheus_mcp = f"http://127.0.0.1:{prometheus_mcp_port}/mcp"
    response = embedded.request_token(
        "row37-target", secret, resource.format(registry=registry.url, prometheus_mcp=prometheus_mcp)
    )

    assert response.status_code == 400, response.text
    assert response.json()["error"] == "invalid_target"


def test_row_37_token_requests_are_rate_limited_and_the_registry_stays_responsive(
    serve_registry: ServeRegistry, http: httpx.Client
) -> None:
    with serve_registry(REGISTRY_TOKEN_REQUESTS_PER_MINUTE="3") as registry:
        embedded = EmbeddedIssuer(registry, http)
        secret = embedded.secret("eager")
        granted = [embedded.request_token("eager", secret, registry.url) for _ in range(3)]
        limited = embedded.request_token("eager", secret, registry.url)
        guessing = embedded.request_token("eager", "not-the-secret", registry.url)

        assert [response.status_code for response in granted] == [200] * 3
        for response in (limited, guessing):  # refused before any secret is checked
            assert response.status_code == 429, response.text
            assert response.json()["error"] == "too_many_requests"
            assert 1 <= int(response.headers["Retry-After"]) <= 60
        assert http.get(f"{registry.url}/healthz").status_code == 200
        assert http.get(f"{registry.url}/jwks.json").status_code == 200
        assert_listed(agents(http, registry, granted[0].json()["access_token"]))


# --- row 38: request flood ----------------------------------------------------------------------


def test_row_38_flood_from_one_client_is_429_after_the_configured_rate_and_the_registry_stays_responsive(
    serve_registry: ServeRegistry,
) -> None:
    rate = 20
    with (
        serve_registry(SRE_REQUESTS_PER_SECOND=str(rate)) as registry,
        httpx.Client(timeout=10.0, trust_env=False, limits=httpx.Limits(max_connections=16)) as http,
    ):
        embedded = EmbeddedIssuer(registry, http)
        busy, other = embedded.token("busy"), embedded.token("other")
        health_latencies: list[float] = []
        started = time.monotonic()
        with ThreadPoolExecutor(max_workers=8) as pool:
            flood = [pool.submit(agents, http, registry, busy) for _ in range(400)]
            while not all(request.done() for request in flood):
                before = time.monotonic()
                assert http.get(f"{registry.url}/healthz").status_code == 200
                health_latencies.append(time.monotonic() - before)
            answers = [request.result() for request in flood]
        elapsed = time.monotonic() - started
        other_client = agents(http, registry, other)
        garbage = [agents(http, registry, "garbage").status_code for _ in range(2 * rate)]

    served = sum(answer.status_code == 200 for answer in answers)
    refused = [answer for answer in answers if answer.status_code != 200]
    assert rate <= served <= rate + rate * elapsed + 1, (served, elapsed)
    assert refused, "the flood was never limited"
    for answer in refused:
        assert answer.status_code == 429, answer.text
        assert answer.json()["error"] == "rate_limited"
        assert int(answer.headers["Retry-After"]) >= 1
    assert health_latencies
    assert max(health_latencies) < 1.0
    assert_listed(other_client)  # one client's flood does not lock out another
    assert set(garbage) == {401, 429}  # invalid tokens are limited by address


# --- row 41: entries belong to the client that registered them --------------------------------

ADMIN = "registry:admin"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture(scope="module")
def reserving_registry(serve_registry: ServeRegistry) -> Iterator[ServedComponent]:
    """A registry that reserves the name `row41-triage` for the client `row41-triage`, as `sre up` does."""
    with serve_registry(REGISTRY_RESERVED_NAMES=json.dumps({"row41-triage": "row41-triage"})) as component:
        yield component


@pytest.fixture(scope="module")
def reserving(reserving_registry: ServedComponent, http: httpx.Client) -> EmbeddedIssuer:
    return EmbeddedIssuer(reserving_registry, http)


@pytest.mark.parametrize("kind", ["agents", "servers"])
def test_row_41_another_writer_cannot_overwrite_or_delete_an_entry_and_is_not_told_whose_it_is(
    http: httpx.Client, registry: ServedComponent, embedded: EmbeddedIssuer, token: str, kind: str
) -> None:
    owner = bearer(embedded.token("row41-owner", [WRITE]))
    impostor = bearer(embedded.token("row41-impostor", [WRITE]))
    name = f"row41-{kind}"
    body = {"name": name, "url": f"http://127.0.0.1:9/{name}/mcp"}

    created = http.post(f"{registry.url}/{kind}", json=body, headers=owner)
    overwrite = http.post(
        f"{registry.url}/{kind}", json={**body, "url": "http://127.0.0.1:9/evil/mcp"}, headers=impostor
    )
    delete = http.delete(f"{registry.url}/{kind}/{name}", headers=impostor)
    kept = http.get(f"{registry.url}/{kind}/{name}", headers=bearer(token))

    assert created.status_code == 201, created.text
    assert overwrite.status_code == 409, overwrite.text
    assert delete.status_code == 403, delete.text
    for refusal in (overwrite, delete):
        description = refusal.json()["error_description"]
        assert name in description
        assert "another client" in description
        assert "row41-owner" not in refusal.text
    assert kept.json()["url"] == body["url"]
    # The owner still updates and deletes its own entry.
    assert http.post(f"{registry.url}/{kind}", json=body, headers=owner).status_code == 200
    assert http.delete(f"{registry.url}/{kind}/{name}", headers=owner).status_code == 204


def test_row_41_an_admin_may_change_or_delete_any_entry_and_the_entry_keeps_its_owner(
    http: httpx.Client, registry: ServedComponent, embedded: EmbeddedIssuer
) -> None:
    owner = bearer(embedded.token("row41-owner", [WRITE]))
    admin = bearer(embedded.token("row41-admin", [WRITE, ADMIN]))
    body = {"name": "row41-admin-agent", "url": "http://127.0.0.1:9/row41-admin-agent"}

    assert http.post(f"{registry.url}/agents", json=body, headers=owner).status_code == 201
    fixed = http.post(f"{registry.url}/agents", json={**body, "description": "fixed"}, headers=admin)
    owner_again = http.post(f"{registry.url}/agents", json=body, headers=owner)
    removed = http.delete(f"{registry.url}/agents/row41-admin-agent", headers=admin)

    assert fixed.status_code == 200, fixed.text
    assert owner_again.status_code == 200, owner_again.text  # still its owner's
    assert removed.status_code == 204, removed.text


def test_row_41_a_reserved_name_is_refused_to_others_even_before_its_client_registers(
    http: httpx.Client, reserving_registry: ServedComponent, reserving: EmbeddedIssuer
) -> None:
    impostor = bearer(reserving.token("row41-impostor", [WRITE]))
    triage = bearer(reserving.token("row41-triage", [WRITE]))
    body = {"name": "row41-triage", "url": "http://127.0.0.1:9/evil"}

    squatted = http.post(f"{reserving_registry.url}/agents", json=body, headers=impostor)
    registered = http.post(
        f"{reserving_registry.url}/agents", json={**body, "url": "http://127.0.0.1:9/triage"}, headers=triage
    )

    assert squatted.status_code == 409, squatted.text
    assert "reserved for another client" in squatted.json()["error_description"]
    assert registered.status_code == 201, registered.text
    assert registered.json()["reserved"] is True


def test_row_41_an_impostor_with_the_same_skills_does_not_win_the_routers_skill_matching(
    http: httpx.Client, reserving_registry: ServedComponent, reserving: EmbeddedIssuer
) -> None:
    from agents.router.routing import rank
    from common.agents.peers import PeerAgent

    skill = {"id": "triage-alert", "name": "Triage", "tags": ["latency", "errors"], "examples": ["why is it slow"]}
    genuine = {"name": "row41-triage", "url": "http://127.0.0.1:9/triage", "skills": [skill]}
    # More matching tags and words than the genuine agent, and a name that sorts first.
    stuffed = {**skill, "tags": ["latency", "errors", "checkout", "slow"], "examples": ["why is checkout slow"]}
    shadow = {"name": "a-row41-shadow", "url": "http://127.0.0.1:9/evil", "skills": [stuffed]}
    headers = {
        "row41-triage": bearer(reserving.token("row41-triage", [WRITE])),
        "a-row41-shadow": bearer(reserving.token("row41-impostor", [WRITE])),
    }
    for body in (genuine, shadow):
        response = http.post(f"{reserving_registry.url}/agents", json=body, headers=headers[body["name"]])
        assert response.status_code in (200, 201), response.text

    listed = http.get(f"{reserving_registry.url}/agents", headers=headers["row41-triage"]).json()["agents"]
    peers = [PeerAgent.model_validate(entry) for entry in listed]
    best = rank("why is checkout slow? latency errors", peers)[0]

    assert {entry["name"]: entry["reserved"] for entry in listed} == {"a-row41-shadow": False, "row41-triage": True}
    assert best.agent.name == "row41-triage"


# --- row 42: failed client authentications are limited apart from successful ones ---------------


def test_row_42_a_flood_of_failed_authentications_from_one_address_does_not_starve_its_legitimate_clients(
    serve_registry: ServeRegistry, http: httpx.Client
) -> None:
    with serve_registry(REGISTRY_TOKEN_REQUESTS_PER_MINUTE="20", REGISTRY_TOKEN_FAILURES_PER_MINUTE="5") as registry:
        embedded = EmbeddedIssuer(registry, http)
        secret = embedded.secret("row42-legit")
        flood: list[httpx.Response] = []
        legit: list[httpx.Response] = []
        # As in the report: bad requests from the legitimate client's own address, between its requests.
        for n in range(15):
            flood += [embedded.request_token(f"row42-guess-{n}-{k}", "wrong", registry.url) for k in range(3)]
            legit.append(embedded.request_token("row42-legit", secret, registry.url))

    assert [response.status_code for response in legit] == [200] * 15
    assert {response.status_code for response in flood} == {401, 429}
    assert sum(response.status_code == 401 for response in flood) <= 5 + 1  # one may refill meanwhile
    for response in flood:
        if response.status_code == 429:
            assert response.json()["error"] == "too_many_requests"
            assert 1 <= int(response.headers["Retry-After"]) <= 60
        else:
            assert response.json()["error"] == "invalid_client"


def test_row_42_failed_authentications_naming_one_client_are_limited_from_any_address_and_spare_the_others(
    serve_registry: ServeRegistry, http: httpx.Client
) -> None:
    with (
        serve_registry(REGISTRY_TOKEN_FAILURES_PER_MINUTE="3") as registry,
        httpx.Client(timeout=10.0, trust_env=False, transport=httpx.HTTPTransport(local_address="127.0.0.5")) as away,
    ):
        embedded = EmbeddedIssuer(registry, http)
        embedded.secret("row42-target")
        guesses = [embedded.request_token("row42-target", f"guess-{n}", registry.url).status_code for n in range(5)]
        form = {"grant_type": "client_credentials", "resource": registry.url}
        from_away = away.post(f"{registry.url}/oauth/token", data=form, auth=("row42-target", "guess"))
        other = embedded.request_token("row42-other", embedded.secret("row42-other"), registry.url)

    assert guesses == [401, 401, 401, 429, 429]
    assert from_away.status_code == 429
    # The flooded address has spent its failure budget; a client that proves its secret is still served.
    assert other.status_code == 200, other.text


# --- tokens of the embedded server are for one audience each ------------------------------------


def test_prometheus_mcp_trusting_the_registry_accepts_a_token_for_itself(
    http: httpx.Client, prometheus_mcp: ServedComponent, embedded: EmbeddedIssuer
) -> None:
    token = embedded.token("triage", resource=prometheus_mcp.mcp_url)
    assert_initialized(initialize(http, prometheus_mcp, token))


def test_prometheus_mcp_trusting_the_registry_refuses_a_token_for_the_registry(
    http: httpx.Client, registry: ServedComponent, prometheus_mcp: ServedComponent, embedded: EmbeddedIssuer
) -> None:
    token = embedded.token("triage")
    assert_listed(agents(http, registry, token))  # a good token, for another resource

    response = initialize(http, prometheus_mcp, token)

    assert response.status_code == 401
    challenge = response.headers["WWW-Authenticate"]
    assert f'resource_metadata="{prometheus_mcp.url}/.well-known/oauth-protected-resource/mcp"' in challenge
