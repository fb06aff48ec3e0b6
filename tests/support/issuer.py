"""A stand-in OAuth issuer for tests: its own keys, a real JWKS endpoint and a token mint.

`TestIssuer` serves `GET /jwks.json` from uvicorn on 127.0.0.1 (a free port, a background
thread) and counts the requests (`fetch_count`). `mint()` signs RFC 9068 access tokens by
default, with `hostile_tokens.access_token`: `header=` and `claims=` override or add fields, and
`OMIT` as a value removes one, so hostile tokens (`alg: none`, HS256 keyed with the RSA public
key, foreign `kid`, bad `typ`) are one call away. `rotate()` publishes a new RSA key and signs
with it from then on; the old key stays published, as in a real rotation.

    with TestIssuer() as issuer:
        token = issuer.mint("http://127.0.0.1:8701/mcp", ["metrics:read"])
"""

import secrets
from collections.abc import Iterable, Mapping
from types import TracebackType
from typing import Any, Self

from joserfc.jwk import ECKey, Key, RSAKey
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from support.asgi_server import ServedApp, loopback_socket
from support.hostile_tokens import CLIENT_ID, OMIT, access_token

__all__ = ["CLIENT_ID", "OMIT", "TestIssuer"]


class TestIssuer:
    """Keys, a JWKS endpoint and a token mint for one test issuer."""

    __test__ = False  # a helper, not a test class

    def __init__(self) -> None:
        self._rsa_keys: list[RSAKey] = [_new_rsa_key()]
        self.ec_key: ECKey = ECKey.generate_key("P-256", parameters={"kid": f"ec-{secrets.token_hex(4)}"})
        self._extra_entries: list[dict[str, Any]] = []
        #: Requests served on /jwks.json so far.
        self.fetch_count = 0
        self._served: ServedApp | None = None

    @property
    def port(self) -> int:
        if self._served is None:
            raise RuntimeError("TestIssuer is not started")
        return self._served.port

    @property
    def issuer(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def jwks_url(self) -> str:
        return f"{self.issuer}/jwks.json"

    @property
    def signing_key(self) -> RSAKey:
        """The RSA key `mint()` uses for RS*/PS* tokens: the newest one."""
        return self._rsa_keys[-1]

    def rotate(self) -> RSAKey:
        """Publish a new RSA key with a new kid and sign with it from now on."""
        key = _new_rsa_key()
        self._rsa_keys.append(key)
        return key

    def publish(self, entry: dict[str, Any]) -> None:
        """Add a raw entry to the JWKS as is (for keys a verifier must ignore)."""
        self._extra_entries.append(entry)

    def mint(
        self,
        audience: str | list[str],
        scopes: Iterable[str] = (),
        *,
        lifetime: int = 300,
        header: Mapping[str, Any] | None = None,
        claims: Mapping[str, Any] | None = None,
        key: Key | bytes | None = None,
        alg: str = "RS256",
    ) -> str:
        """A compact JWS signed with `key` (default: this issuer's key for `alg`).

        `key` may be raw bytes for HS* algorithms; `alg="none"` yields an empty signature.
        """
        signing_key = key if key is not None else self._key_for(alg)
        return access_token(
            self.issuer, audience, scopes, key=signing_key, alg=alg, lifetime=lifetime, header=header, claims=claims
        )

    def start(self) -> Self:
        app = Starlette(routes=[Route("/jwks.json", self._serve_jwks)])
        self._served = ServedApp(app, sock=loopback_socket(), lifespan="off").start()
        return self

    def stop(self) -> None:
        if self._served is not None:
            self._served.stop()
        self._served = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.stop()

    def _key_for(self, alg: str) -> Key | None:
        if alg.startswith("ES"):
            return self.ec_key
        if alg.startswith(("RS", "PS")):
            return self.signing_key
        return None

    async def _serve_jwks(self, request: Request) -> JSONResponse:
        self.fetch_count += 1
        keys = [key.as_dict(private=False) for key in (*self._rsa_keys, self.ec_key)]
        return JSONResponse({"keys": [*keys, *self._extra_entries]})


def _new_rsa_key() -> RSAKey:
    return RSAKey.generate_key(2048, parameters={"kid": f"rsa-{secrets.token_hex(4)}"})
