"""Run the control plane: `sre serve controlplane` (or `python -m controlplane`); HTTP only, port 8710.

Its API takes tokens whose audience is its canonical URL (`SRE_PUBLIC_URL`, default
`http://SRE_HOST:SRE_PORT`), from `SRE_AUTH_ISSUER` (default: the registry's embedded
authorization server), whose keys are found by discovery unless `SRE_AUTH_JWKS_URL` is set.
"""

from __future__ import annotations

import sys
from typing import Literal

from common.auth.discovery import with_discovered_jwks
from common.auth.resource import resource_verifier
from common.errors import ConfigError
from common.http import create_http_client
from common.serving import run_http
from common.settings import SettingsSource
from controlplane.app import COMPONENT, create_app
from controlplane.settings import ControlPlaneSettings

__all__ = ["serve"]


async def serve(transport: Literal["stdio", "http"], source: SettingsSource) -> None:
    if transport != "http":
        raise ConfigError("The control plane is served over HTTP only: run `sre serve controlplane`.")
    settings = ControlPlaneSettings.from_source(source)
    async with create_http_client(timeout=10.0) as http:
        auth = await with_discovered_jwks(settings.serve.auth, http)
        serve_settings = settings.serve.model_copy(update={"auth": auth})
        verifier = resource_verifier(serve_settings, serve_settings.base_url, http)
        await run_http(create_app(settings, verifier=verifier), serve_settings)


if __name__ == "__main__":
    from cli.main import main

    sys.exit(main(["serve", COMPONENT]))
