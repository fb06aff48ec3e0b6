"""The registry's embedded authorization server, served for one test by uvicorn on 127.0.0.1.

`AuthorizationServer` mounts `registry.oauth.authorization_routes` in a Starlette app, in a
background thread, over a data directory of the test's choosing (its `keys/` and
`clients.toml` are the real stores, shared with `sre auth` run against the same directory).

    with AuthorizationServer(tmp_path, resources=[AUDIENCE]) as server:
        secret = server.clients.add_client("triage", ["metrics:read"])
        response = server.request_token("triage", secret, AUDIENCE)
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, Self

import httpx
from starlette.applications import Starlette

from common.rest import HttpError, http_error
from common.settings import ServeSettings
from registry.clients import ClientStore
from registry.keys import DEFAULT_PUBLISH_DELAY_SECONDS, KeyStore
from registry.oauth import authorization_routes
from registry.settings import RegistrySettings
from support.asgi_server import ServedApp, loopback_socket

__all__ = ["AuthorizationServer"]


class AuthorizationServer:
    __test__ = False  # a helper, not a test class

    def __init__(
        self,
        data_dir: Path,
        *,
        resources: Iterable[str] = (),
        known_resources: Callable[[], Awaitable[set[str]]] | None = None,
        publish_delay: float = DEFAULT_PUBLISH_DELAY_SECONDS,
        **settings: Any,
    ) -> None:
        # Bound before the settings are built: the issuer URL names the port.
        sock = loopback_socket()
        self.port: int = sock.getsockname()[1]
        self.settings = RegistrySettings(
            serve=ServeSettings(port=self.port), data_dir=data_dir, resources=tuple(resources), **settings
        )
        self.keys = KeyStore(
            self.settings.keys_dir,
            self.settings.signing_algorithm,
            self.settings.token_ttl_seconds,
            publish_delay=publish_delay,
        )
        self.clients = ClientStore(self.settings.clients_path)
        routes = authorization_routes(self.settings, self.keys, self.clients, known_resources)
        app = Starlette(routes=routes, exception_handlers={HttpError: http_error})
        self._served = ServedApp(app, sock=sock, lifespan="off")
        # trust_env=False: a proxy from the environment must not sit between us and 127.0.0.1.
        self.http = httpx.Client(base_url=self.issuer, timeout=10.0, trust_env=False)

    @property
    def issuer(self) -> str:
        return self.settings.issuer

    @property
    def token_url(self) -> str:
        return f"{self.issuer}/oauth/token"

    @property
    def jwks_url(self) -> str:
        return f"{self.issuer}/jwks.json"

    def request_token(
        self,
        client_id: str,
        secret: str,
        resource: str | None,
        *,
        scope: str | None = None,
        method: Literal["basic", "post"] = "basic",
        http: httpx.Client | None = None,
    ) -> httpx.Response:
        """A client-credentials token request as a client library sends it (through `http` if given)."""
        http = http or self.http
        form = {"grant_type": "client_credentials"}
        if resource is not None:
            form["resource"] = resource
        if scope is not None:
            form["scope"] = scope
        if method == "post":
            return http.post("/oauth/token", data={**form, "client_id": client_id, "client_secret": secret})
        return http.post("/oauth/token", data=form, auth=(client_id, secret))

    def client_from(self, address: str) -> httpx.Client:
        """An HTTP client whose connections come from `address` (any 127.x.y.z works on Linux)."""
        transport = httpx.HTTPTransport(local_address=address)
        return httpx.Client(base_url=self.issuer, timeout=10.0, trust_env=False, transport=transport)

    def start(self) -> Self:
        self._served.start()
        return self

    def stop(self) -> None:
        self._served.stop()
        self.http.close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.stop()
