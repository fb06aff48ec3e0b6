"""Issuing access tokens: authlib's framework-neutral `AuthorizationServer`, adapted.

`TokenIssuer.create_token_response(TokenRequest)` runs the client-credentials grant (RFC 6749
4.4) and returns a Starlette response. It is synchronous (authlib is) and meant for a worker
thread: checking a secret (scrypt) and signing take milliseconds of CPU. The HTTP side (form
parsing, limits, routes) is `registry.oauth`.

- clients come from the `ClientDirectory` (the file or the database: `registry.auth_storage`);
  `client_secret_basic` and `client_secret_post` only. An unknown client and a wrong secret fail
  the same way: 401 `invalid_client`, one fixed message;
- `scope` must be a subset of the client's scopes (`invalid_scope`); none asked means all of them;
- `resource` (RFC 8707) is required (`invalid_request`), single, and one of
  `TokenRequest.known_resources` (`invalid_target`); it becomes the token's only `aud`;
- tokens are RFC 9068 JWTs (`typ: at+jwt`, `kid` of the active key of the `SigningKeys`), with
  `iss`, `sub` = `client_id`, `aud`, `scope`, `iat`, `exp`, `jti`; no refresh token; no token
  is stored (they are self-contained) or logged.
"""

# authlib ships no type information; its classes are Any here.
# mypy: disable-error-code="import-untyped"

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any, cast

from authlib.oauth2.rfc6749 import AuthorizationServer, ClientMixin, JsonRequest, OAuth2Request
from authlib.oauth2.rfc6749.errors import InvalidClientError, InvalidRequestError, InvalidScopeError, OAuth2Error
from authlib.oauth2.rfc6749.grants import ClientCredentialsGrant
from authlib.oauth2.rfc6749.requests import OAuth2Payload
from authlib.oauth2.rfc9068 import JWTBearerTokenGenerator
from joserfc.jwk import KeySet
from starlette.responses import JSONResponse, Response

from registry.clients import KNOWN_SCOPES, ClientDirectory, OAuthClient
from registry.keys import SigningKeys
from registry.settings import RegistrySettings

__all__ = ["AUTH_METHODS", "InvalidTargetError", "TokenIssuer", "TokenRequest"]

logger = logging.getLogger(__name__)

AUTH_METHODS = ("client_secret_basic", "client_secret_post")


class InvalidTargetError(OAuth2Error):  # type: ignore[misc]
    """RFC 8707 2: the requested resource is unknown, invalid or not one this server issues for."""

    error = "invalid_target"


class TokenRequest(OAuth2Request):  # type: ignore[misc]
    """A token request, read and parsed in the event loop, handed to authlib in a worker thread."""

    def __init__(
        self, uri: str, headers: Mapping[str, str], form: dict[str, list[str]], resources: frozenset[str], address: str
    ) -> None:
        super().__init__("POST", uri, headers=headers)
        self.payload = _FormPayload(form)
        self.known_resources = resources
        self.address = address

    @property
    def authenticated(self) -> bool:
        """Whether the client proved its secret (set once authlib has authenticated it)."""
        return isinstance(self.client, _Client) and self.client.record is not None

    @property
    def form(self) -> dict[str, str]:
        data: dict[str, str] = self.payload.data
        return data

    @property
    def args(self) -> dict[str, str]:
        return {}


class _FormPayload(OAuth2Payload):  # type: ignore[misc]
    def __init__(self, form: dict[str, list[str]]) -> None:
        self._datalist = form
        self._data = {name: values[0] for name, values in form.items()}

    @property
    def data(self) -> dict[str, str]:
        return self._data

    @property
    def datalist(self) -> dict[str, list[str]]:
        return self._datalist


class _Client(ClientMixin):  # type: ignore[misc]
    """authlib's view of a client; also stands in for an unknown one, which never authenticates."""

    def __init__(self, client_id: str, store: ClientDirectory) -> None:
        self.client_id = client_id
        self._store = store
        self.record: OAuthClient | None = None
        #: The audience of the token being issued, set once the request is validated.
        self.resource = ""

    def get_client_id(self) -> str:
        return self.client_id

    def check_client_secret(self, client_secret: str) -> bool:
        self.record = self._store.verify(self.client_id, client_secret)
        return self.record is not None

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return endpoint == "token" and method in AUTH_METHODS

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type == "client_credentials"

    def get_allowed_scope(self, scope: str | None) -> str:
        allowed = self.record.scopes if self.record else ()
        return " ".join(sorted(set(scope.split()))) if scope else " ".join(allowed)

    def check_response_type(self, response_type: str) -> bool:
        return False

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return False

    def get_default_redirect_uri(self) -> None:
        return None


class _Grant(ClientCredentialsGrant):  # type: ignore[misc]
    TOKEN_ENDPOINT_AUTH_METHODS = list(AUTH_METHODS)

    def validate_token_request(self) -> None:
        super().validate_token_request()  # authenticates the client, then checks the scope
        request = cast(TokenRequest, self.request)
        resources = request.payload.datalist.get("resource", [])
        if not resources:
            raise InvalidRequestError(
                "The resource parameter is required (RFC 8707): the canonical URL of the server or agent to call."
            )
        if len(resources) > 1:
            # A token for several audiences would be accepted by each of them: one token per resource.
            raise InvalidTargetError("Request a token for one resource at a time.")
        if resources[0] not in request.known_resources:
            raise InvalidTargetError("The resource is not a server or agent this authorization server knows.")
        cast(_Client, request.client).resource = resources[0]

    def validate_requested_scope(self) -> None:
        client = cast(_Client, self.request.client)
        allowed = client.record.scopes if client.record else ()
        if not set((self.request.payload.scope or "").split()) <= set(allowed):
            raise InvalidScopeError(f"The client may only request: {' '.join(allowed)}.")

    def create_token_response(self) -> tuple[int, dict[str, Any], list[tuple[str, str]]]:
        # authlib's version logs the whole token at DEBUG; this one does not.
        token = self.generate_token(scope=self.request.payload.scope, include_refresh_token=False)
        self.save_token(token)
        return 200, token, self.TOKEN_RESPONSE_HEADER


class _TokenGenerator(JWTBearerTokenGenerator):  # type: ignore[misc]
    def __init__(self, issuer: str, keys: SigningKeys, ttl: int) -> None:
        super().__init__(issuer, alg=keys.algorithm, expires_generator=ttl)
        self._keys = keys

    def get_jwks(self) -> KeySet:
        # A set of one: joserfc then writes that key's kid into the header.
        return KeySet([self._keys.signing_key().key])

    def get_audiences(self, client: _Client, user: object, scope: str) -> str:
        return client.resource


class TokenIssuer(AuthorizationServer):  # type: ignore[misc]
    """authlib's authorization server, adapted to Starlette and to the registry's stores."""

    def __init__(self, settings: RegistrySettings, keys: SigningKeys, clients: ClientDirectory) -> None:
        super().__init__(scopes_supported=list(KNOWN_SCOPES))
        self._clients = clients
        self.register_grant(_Grant)
        self.register_token_generator("default", _TokenGenerator(settings.issuer, keys, settings.token_ttl_seconds))

    def query_client(self, client_id: str) -> _Client:
        # Never None: an unknown client must fail exactly like a wrong secret (no enumeration).
        return _Client(client_id, self._clients)

    def authenticate_client(self, request: OAuth2Request, methods: list[str], endpoint: str = "token") -> _Client:
        try:
            return cast(_Client, super().authenticate_client(request, methods, endpoint))
        except InvalidClientError:
            # One fixed message whatever went wrong, so the answer reveals nothing about the client.
            raise InvalidClientError(
                status_code=401, description="Client authentication failed: unknown client or wrong secret."
            ) from None

    def save_token(self, token: dict[str, Any], request: OAuth2Request) -> None:
        # JWTs are self-contained: nothing to store, only an audit line (never the token).
        client = cast(_Client, request.client)
        logger.info(
            "Issued a token to client %r for %s, scope %r", client.client_id, client.resource, token.get("scope")
        )

    def send_signal(self, name: str, *args: object, **kwargs: object) -> None:
        return None  # no listeners

    def create_oauth2_request(self, request: OAuth2Request) -> OAuth2Request:
        return request  # already built by the route, outside the worker thread

    def create_json_request(self, request: JsonRequest) -> JsonRequest:
        return request  # no JSON endpoint is registered

    def handle_response(self, status: int, body: dict[str, Any], headers: list[tuple[str, str]]) -> Response:
        return JSONResponse(body, status_code=status, headers=dict(headers))

    def handle_error_response(self, request: OAuth2Request, error: OAuth2Error) -> Response:
        logger.info(
            "Token request from %s refused: %s", getattr(request, "address", "?"), getattr(error, "error", "error")
        )
        return cast(Response, super().handle_error_response(request, error))
