"""JwtVerifier against tokens from a real JWKS on 127.0.0.1 (security checklist rows 4-14)."""

import asyncio
import base64
import json
import logging
import secrets
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from joserfc import jws
from support.eventually import eventually_async
from support.issuer import CLIENT_ID, OMIT, TestIssuer

from common.auth import JwtVerifier, TokenValidation

pytestmark = pytest.mark.anyio

AUDIENCE = "http://127.0.0.1:8701/mcp"
OTHER_AUDIENCE = "http://127.0.0.1:8702/mcp"
B64URL_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


def make_verifier(
    issuer: TestIssuer,
    http_client: httpx.AsyncClient,
    /,
    *,
    clock: Callable[[], float] = time.time,
    **policy: Any,
) -> JwtVerifier:
    fields = {"issuer": issuer.issuer, "jwks_url": issuer.jwks_url, "audience": AUDIENCE, **policy}
    return JwtVerifier(TokenValidation(**fields), http_client, clock=clock)


def keycloak_token(issuer: TestIssuer, **claims: Any) -> str:
    """A token shaped like a Keycloak client-credentials access token."""
    defaults = {"typ": "Bearer", "azp": "kc-client", "client_id": OMIT}
    return issuer.mint(AUDIENCE, ["metrics:read"], header={"typ": "JWT"}, claims={**defaults, **claims})


async def test_valid_token_yields_client_scopes_expiry_resource_and_identity_claims(
    issuer: TestIssuer, http_client: httpx.AsyncClient
) -> None:
    token = issuer.mint(AUDIENCE, ["metrics:read", "logs:read"], claims={"jti": "jti-1"})
    expires_at = json.loads(_segment(token, 1))["exp"]

    access = await make_verifier(issuer, http_client).verify_token(token)

    assert access is not None
    assert access.token == token
    assert access.client_id == CLIENT_ID
    assert access.scopes == ["metrics:read", "logs:read"]
    assert access.expires_at == expires_at
    assert access.resource == AUDIENCE
    assert access.subject == CLIENT_ID
    assert access.claims == {"iss": issuer.issuer, "sub": CLIENT_ID, "jti": "jti-1"}


async def test_es256_token_signed_by_the_jwks_ec_key_verifies(
    issuer: TestIssuer, http_client: httpx.AsyncClient
) -> None:
    access = await make_verifier(issuer, http_client).verify_token(issuer.mint(AUDIENCE, alg="ES256"))

    assert access is not None


async def test_token_longer_than_max_token_bytes_is_rejected_before_any_key_lookup(
    issuer: TestIssuer, http_client: httpx.AsyncClient, sent_urls: list[str]
) -> None:
    token = issuer.mint(AUDIENCE, claims={"padding": "x" * 300 * 1024})

    assert await make_verifier(issuer, http_client).verify_token(token) is None
    assert sent_urls == []


@pytest.mark.parametrize(
    "token",
    ["", "abc", "a.b", "a.b.c.d", "a..c", "a+b.c.d", "a.b.c=", "a.b.c\n", "é.b.c", "..."],
)
async def test_token_not_made_of_three_base64url_segments_is_rejected(
    issuer: TestIssuer, http_client: httpx.AsyncClient, sent_urls: list[str], token: str
) -> None:
    assert await make_verifier(issuer, http_client).verify_token(token) is None
    assert sent_urls == []


async def test_alg_none_is_rejected_before_any_key_lookup(
    issuer: TestIssuer, http_client: httpx.AsyncClient, sent_urls: list[str]
) -> None:
    token = issuer.mint(AUDIENCE, alg="none", header={"kid": issuer.signing_key.kid})

    assert await make_verifier(issuer, http_client).verify_token(token) is None
    assert sent_urls == []


async def test_hs256_keyed_with_the_rsa_public_key_is_rejected_before_any_key_lookup(
    issuer: TestIssuer, http_client: httpx.AsyncClient, sent_urls: list[str]
) -> None:
    public_pem = issuer.signing_key.as_pem(private=False)
    token = issuer.mint(AUDIENCE, alg="HS256", key=public_pem, header={"kid": issuer.signing_key.kid})

    assert await make_verifier(issuer, http_client).verify_token(token) is None
    assert sent_urls == []


async def test_alg_outside_the_configured_allowlist_is_rejected_even_with_a_valid_signature(
    issuer: TestIssuer, http_client: httpx.AsyncClient
) -> None:
    verifier = make_verifier(issuer, http_client, algorithms=("RS256",))

    assert await verifier.verify_token(issuer.mint(AUDIENCE, alg="ES256")) is None
    assert await verifier.verify_token(issuer.mint(AUDIENCE, alg="RS256")) is not None


async def test_header_alg_that_does_not_fit_the_kid_key_type_is_rejected(
    issuer: TestIssuer, http_client: httpx.AsyncClient
) -> None:
    # ES256 header naming the RSA key: the key chosen by kid must match the algorithm.
    token = issuer.mint(AUDIENCE, alg="ES256", header={"kid": issuer.signing_key.kid})

    assert await make_verifier(issuer, http_client).verify_token(token) is None


async def test_token_signed_by_an_unknown_key_reusing_a_known_kid_is_rejected(
    issuer: TestIssuer, http_client: httpx.AsyncClient
) -> None:
    with TestIssuer() as attacker:
        token = attacker.mint(AUDIENCE, header={"kid": issuer.signing_key.kid}, claims={"iss": issuer.issuer})

        assert await make_verifier(issuer, http_client).verify_token(token) is None


@pytest.mark.parametrize("kid", [OMIT, "", "no-such-kid", 7])
async def test_token_without_a_published_kid_is_rejected(
    issuer: TestIssuer, http_client: httpx.AsyncClient, kid: Any
) -> None:
    token = issuer.mint(AUDIENCE, header={"kid": kid})

    assert await make_verifier(issuer, http_client).verify_token(token) is None


async def test_embedded_jwk_header_is_never_used_as_the_verification_key(
    issuer: TestIssuer, http_client: httpx.AsyncClient
) -> None:
    with TestIssuer() as attacker:
        embedded = attacker.ec_key.as_dict(private=False)
        forged_kids = [attacker.ec_key.kid, issuer.ec_key.kid]
        tokens = [
            attacker.mint(AUDIENCE, alg="ES256", header={"jwk": embedded, "kid": kid}, claims={"iss": issuer.issuer})
            for kid in forged_kids
        ]
        verifier = make_verifier(issuer, http_client)

        assert [await verifier.verify_token(token) for token in tokens] == [None, None]


async def test_jku_x5u_and_x5c_headers_cause_no_outbound_request(
    issuer: TestIssuer, http_client: httpx.AsyncClient, sent_urls: list[str]
) -> None:
    with TestIssuer() as attacker:
        hostile = {"jku": attacker.jwks_url, "x5u": f"{attacker.issuer}/cert.pem", "x5c": ["MIIBAA=="]}
        token = attacker.mint(AUDIENCE, header=hostile, claims={"iss": issuer.issuer})

        assert await make_verifier(issuer, http_client).verify_token(token) is None
        assert attacker.fetch_count == 0
        assert set(sent_urls) == {issuer.jwks_url}


async def test_key_url_headers_on_a_genuine_token_are_ignored_not_followed(
    issuer: TestIssuer, http_client: httpx.AsyncClient, sent_urls: list[str]
) -> None:
    with TestIssuer() as attacker:
        token = issuer.mint(AUDIENCE, header={"jku": attacker.jwks_url, "x5u": f"{attacker.issuer}/cert.pem"})

        assert await make_verifier(issuer, http_client).verify_token(token) is not None
        assert attacker.fetch_count == 0
        assert set(sent_urls) == {issuer.jwks_url}


@pytest.mark.parametrize("header", [{"crit": ["kid"]}, {"crit": ["exp"], "exp": 1}, {"b64": False, "crit": ["b64"]}])
async def test_critical_headers_are_rejected(
    issuer: TestIssuer, http_client: httpx.AsyncClient, header: dict[str, Any]
) -> None:
    token = issuer.mint(AUDIENCE, header=header)

    assert await make_verifier(issuer, http_client).verify_token(token) is None


async def test_deeply_nested_json_is_rejected_without_raising(
    issuer: TestIssuer, http_client: httpx.AsyncClient
) -> None:
    # Deeper than the JSON parser's recursion limit, yet well inside max_token_bytes.
    nested = "[" * 1500 + "]" * 1500
    header = f'{{"alg":"RS256","typ":"at+jwt","kid":"{issuer.signing_key.kid}","x":{nested}}}'
    nested_header = f"{_b64(header.encode())}.{_b64(b'{}')}.{_b64(b'signature')}"
    signed_nested_payload = jws.serialize_compact(
        {"alg": "RS256", "typ": "at+jwt", "kid": issuer.signing_key.kid},
        f'{{"x":{nested}}}',
        issuer.signing_key,
    )
    verifier = make_verifier(issuer, http_client)

    assert await verifier.verify_token(nested_header) is None
    assert await verifier.verify_token(signed_nested_payload) is None


async def test_signature_with_non_zero_padding_bits_is_rejected(
    issuer: TestIssuer, http_client: httpx.AsyncClient
) -> None:
    token = issuer.mint(AUDIENCE)
    # A 256-byte RSA signature leaves 2 unused bits in its last base64url character.
    last = token[-1]
    sibling = B64URL_ALPHABET[B64URL_ALPHABET.index(last) ^ 1]
    verifier = make_verifier(issuer, http_client)

    assert await verifier.verify_token(token) is not None
    assert await verifier.verify_token(token[:-1] + sibling) is None


@pytest.mark.parametrize("suffix", ["/", "//", "/oauth"])
async def test_issuer_that_differs_by_a_trailing_slash_or_path_is_rejected(
    issuer: TestIssuer, http_client: httpx.AsyncClient, suffix: str
) -> None:
    token = issuer.mint(AUDIENCE, claims={"iss": issuer.issuer + suffix})

    assert await make_verifier(issuer, http_client).verify_token(token) is None


async def test_configured_issuer_with_a_trailing_slash_rejects_tokens_without_it(
    issuer: TestIssuer, http_client: httpx.AsyncClient
) -> None:
    verifier = make_verifier(issuer, http_client, issuer=issuer.issuer + "/")

    assert await verifier.verify_token(issuer.mint(AUDIENCE)) is None


@pytest.mark.parametrize(
    "audience", [OTHER_AUDIENCE, [OTHER_AUDIENCE], AUDIENCE + "/", "account", ["account"], [], None, OMIT]
)
async def test_audience_without_this_resource_is_rejected(
    issuer: TestIssuer, http_client: httpx.AsyncClient, audience: Any
) -> None:
    token = issuer.mint(AUDIENCE, claims={"aud": audience})

    assert await make_verifier(issuer, http_client).verify_token(token) is None


async def test_audience_list_that_contains_this_resource_is_accepted(
    issuer: TestIssuer, http_client: httpx.AsyncClient
) -> None:
    token = issuer.mint(["account", AUDIENCE, OTHER_AUDIENCE])

    access = await make_verifier(issuer, http_client).verify_token(token)

    assert access is not None
    assert access.resource == AUDIENCE


async def test_token_without_exp_is_rejected(issuer: TestIssuer, http_client: httpx.AsyncClient) -> None:
    token = issuer.mint(AUDIENCE, claims={"exp": OMIT})

    assert await make_verifier(issuer, http_client).verify_token(token) is None


@pytest.mark.parametrize("exp", ["2000000000", True, 1e400, [2000000000]])
async def test_exp_that_is_not_a_numeric_date_is_rejected(
    issuer: TestIssuer, http_client: httpx.AsyncClient, exp: Any
) -> None:
    token = issuer.mint(AUDIENCE, claims={"exp": exp})

    assert await make_verifier(issuer, http_client).verify_token(token) is None


async def test_token_expired_beyond_the_leeway_is_rejected(issuer: TestIssuer, http_client: httpx.AsyncClient) -> None:
    now = int(time.time())
    token = issuer.mint(AUDIENCE, claims={"iat": now - 400, "exp": now - 30})

    verifier = make_verifier(issuer, http_client, clock=lambda: now, leeway_seconds=30)

    assert await verifier.verify_token(token) is None


async def test_token_expired_within_the_leeway_is_accepted(issuer: TestIssuer, http_client: httpx.AsyncClient) -> None:
    now = int(time.time())
    token = issuer.mint(AUDIENCE, claims={"iat": now - 400, "exp": now - 29})

    verifier = make_verifier(issuer, http_client, clock=lambda: now, leeway_seconds=30)

    assert await verifier.verify_token(token) is not None


@pytest.mark.parametrize(("offset", "accepted"), [(31, False), (29, True)])
async def test_nbf_in_the_future_is_rejected_beyond_the_leeway(
    issuer: TestIssuer, http_client: httpx.AsyncClient, offset: int, accepted: bool
) -> None:
    now = int(time.time())
    token = issuer.mint(AUDIENCE, claims={"iat": now, "nbf": now + offset})

    access = await make_verifier(issuer, http_client, clock=lambda: now, leeway_seconds=30).verify_token(token)

    assert (access is not None) is accepted


@pytest.mark.parametrize(("offset", "accepted"), [(61, False), (3600, False), (59, True)])
async def test_iat_in_the_future_is_rejected_beyond_the_allowed_skew(
    issuer: TestIssuer, http_client: httpx.AsyncClient, offset: int, accepted: bool
) -> None:
    now = int(time.time())
    token = issuer.mint(AUDIENCE, claims={"iat": now + offset, "exp": now + 7200})

    access = await make_verifier(issuer, http_client, clock=lambda: now, max_iat_skew_seconds=60).verify_token(token)

    assert (access is not None) is accepted


@pytest.mark.parametrize("typ", [OMIT, "JWT", "jwt", "at+jwt+x", "application/jwt"])
async def test_rfc9068_profile_rejects_header_typ_other_than_at_jwt(
    issuer: TestIssuer, http_client: httpx.AsyncClient, typ: Any
) -> None:
    token = issuer.mint(AUDIENCE, header={"typ": typ})

    assert await make_verifier(issuer, http_client).verify_token(token) is None


@pytest.mark.parametrize("typ", ["at+jwt", "AT+JWT", "application/at+jwt", "Application/AT+JWT"])
async def test_rfc9068_profile_accepts_at_jwt_typ_in_any_case(
    issuer: TestIssuer, http_client: httpx.AsyncClient, typ: str
) -> None:
    token = issuer.mint(AUDIENCE, header={"typ": typ})

    assert await make_verifier(issuer, http_client).verify_token(token) is not None


@pytest.mark.parametrize("claims", [{"client_id": OMIT}, {"sub": OMIT}, {"client_id": ""}, {"sub": 42}])
async def test_rfc9068_profile_requires_client_id_and_sub(
    issuer: TestIssuer, http_client: httpx.AsyncClient, claims: dict[str, Any]
) -> None:
    token = issuer.mint(AUDIENCE, claims=claims)

    assert await make_verifier(issuer, http_client).verify_token(token) is None


async def test_keycloak_profile_accepts_a_bearer_token_and_takes_the_client_from_azp(
    issuer: TestIssuer, http_client: httpx.AsyncClient
) -> None:
    access = await make_verifier(issuer, http_client, profile="keycloak").verify_token(keycloak_token(issuer))

    assert access is not None
    assert access.client_id == "kc-client"
    assert access.scopes == ["metrics:read"]


async def test_keycloak_profile_falls_back_to_the_client_id_claim(
    issuer: TestIssuer, http_client: httpx.AsyncClient
) -> None:
    token = keycloak_token(issuer, azp=OMIT, client_id="kc-other")

    access = await make_verifier(issuer, http_client, profile="keycloak").verify_token(token)

    assert access is not None
    assert access.client_id == "kc-other"


@pytest.mark.parametrize("typ", ["ID", "Refresh", "bearer", OMIT])
async def test_keycloak_profile_rejects_id_refresh_and_untyped_tokens(
    issuer: TestIssuer, http_client: httpx.AsyncClient, typ: Any
) -> None:
    token = keycloak_token(issuer, typ=typ)

    assert await make_verifier(issuer, http_client, profile="keycloak").verify_token(token) is None


async def test_keycloak_profile_requires_header_typ_jwt_and_a_client(
    issuer: TestIssuer, http_client: httpx.AsyncClient
) -> None:
    verifier = make_verifier(issuer, http_client, profile="keycloak")
    at_jwt = issuer.mint(AUDIENCE, claims={"typ": "Bearer", "azp": "kc-client"})
    no_client = keycloak_token(issuer, azp=OMIT)

    assert await verifier.verify_token(at_jwt) is None
    assert await verifier.verify_token(no_client) is None


async def test_scopes_come_from_the_scp_list_when_there_is_no_scope_claim(
    issuer: TestIssuer, http_client: httpx.AsyncClient
) -> None:
    token = issuer.mint(AUDIENCE, claims={"scope": OMIT, "scp": ["logs:read", "logs:write"]})

    access = await make_verifier(issuer, http_client).verify_token(token)

    assert access is not None
    assert access.scopes == ["logs:read", "logs:write"]


async def test_token_without_scope_claims_has_no_scopes(issuer: TestIssuer, http_client: httpx.AsyncClient) -> None:
    access = await make_verifier(issuer, http_client).verify_token(issuer.mint(AUDIENCE, claims={"scope": OMIT}))

    assert access is not None
    assert access.scopes == []


@pytest.mark.parametrize("claims", [{"scope": ["metrics:read"]}, {"scope": OMIT, "scp": "metrics:read"}])
async def test_malformed_scope_claims_are_rejected(
    issuer: TestIssuer, http_client: httpx.AsyncClient, claims: dict[str, Any]
) -> None:
    token = issuer.mint(AUDIENCE, claims=claims)

    assert await make_verifier(issuer, http_client).verify_token(token) is None


async def test_rejection_is_logged_at_info_with_a_reason_and_without_the_token(
    issuer: TestIssuer, http_client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="common.auth")
    token = issuer.mint(OTHER_AUDIENCE)

    assert await make_verifier(issuer, http_client).verify_token(token) is None

    rejections = [record for record in caplog.records if record.name == "common.auth.verifier"]
    assert [record.levelno for record in rejections] == [logging.INFO]
    assert "audience" in rejections[0].getMessage()
    assert not any(segment in caplog.text for segment in token.split("."))


async def test_a_thousand_tokens_with_random_kids_cause_at_most_one_jwks_fetch(http_client: httpx.AsyncClient) -> None:
    with TestIssuer() as issuer:
        verifier = make_verifier(issuer, http_client)
        # ES256 signs fast; the signature never gets checked because no kid is known.
        tokens = [issuer.mint(AUDIENCE, alg="ES256", header={"kid": secrets.token_hex(8)}) for _ in range(1000)]

        results = await asyncio.gather(*(verifier.verify_token(token) for token in tokens))

        assert results == [None] * len(tokens)
        assert issuer.fetch_count == 1
        # That one fetch loaded the real keys: a genuine token needs no further request.
        assert await verifier.verify_token(issuer.mint(AUDIENCE)) is not None
        assert issuer.fetch_count == 1


async def test_rotated_key_is_accepted_after_the_cooldown_without_a_new_verifier(
    http_client: httpx.AsyncClient,
) -> None:
    with TestIssuer() as issuer:
        verifier = make_verifier(issuer, http_client, jwks_refetch_cooldown_seconds=0.5)
        assert await verifier.verify_token(issuer.mint(AUDIENCE)) is not None
        issuer.rotate()
        rotated = issuer.mint(AUDIENCE)

        await eventually_async(lambda: verifier.verify_token(rotated), what="the rotated key to be accepted")

        # The initial fetch plus exactly one after the cooldown, however long the polling took.
        assert issuer.fetch_count == 2


@pytest.fixture(scope="module")
def genuine_token(issuer: TestIssuer) -> str:
    return issuer.mint(AUDIENCE, ["metrics:read"], lifetime=3600)


@settings(max_examples=150, deadline=None)
@given(data=st.data())
async def test_single_byte_mutations_of_a_valid_token_never_verify(
    issuer: TestIssuer, genuine_token: str, data: st.DataObject
) -> None:
    index = data.draw(st.integers(min_value=0, max_value=len(genuine_token) - 1), label="index")
    replacement = data.draw(
        st.one_of(st.sampled_from(B64URL_ALPHABET), st.integers(0, 255).map(chr)).filter(
            lambda char: char != genuine_token[index]
        ),
        label="replacement",
    )
    mutated = genuine_token[:index] + replacement + genuine_token[index + 1 :]
    # A client per example: hypothesis runs each example in its own event loop.
    async with httpx.AsyncClient(timeout=5.0, trust_env=False) as client:
        verifier = make_verifier(issuer, client)

        assert await verifier.verify_token(genuine_token) is not None
        assert await verifier.verify_token(mutated) is None


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _segment(token: str, index: int) -> bytes:
    segment = token.split(".")[index]
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
