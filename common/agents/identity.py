"""Who an agent is when it calls others: its own OAuth client, and the registry that issued it.

Served (`sre up`, `sre serve`), an agent is told: `SRE_CLIENT_ID`, `SRE_CLIENT_SECRET` and
`REGISTRY_URL`. Run beside `sre up` by `adk web agents` from the same checkout, it is told
nothing and finds what `sre up` left in `SRE_DATA_DIR` (default `.sre`, `common.local_run`):
the client provisioned under its own name, at the registry URL recorded beside it (the secret
is only good at the registry that issued it). With neither, `missing_identity` says which
variables to set. The secret stays a `SecretStr`: it is never printed.
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import SecretStr

from common.agents.serve import AgentSettings
from common.auth import ClientCredentials
from common.local_run import read_endpoints, read_secret, secret_file

__all__ = ["AgentIdentity", "agent_identity", "missing_identity"]


@dataclass(frozen=True)
class AgentIdentity:
    credentials: ClientCredentials
    registry_url: str


def agent_identity(name: str, settings: AgentSettings) -> AgentIdentity | None:
    """The agent's client: from the environment, else the one `sre up` provisioned for `name`; None without."""
    serve = settings.serve
    credentials = ClientCredentials.of_component(serve)
    if credentials is not None:
        return AgentIdentity(credentials, serve.registry_url)
    secret = read_secret(settings.data_dir, name)
    if secret is None:
        return None
    registry_url = read_endpoints(settings.data_dir).get("registry", serve.registry_url).rstrip("/")
    credentials = ClientCredentials(
        token_url=f"{registry_url}/oauth/token", client_id=name, client_secret=SecretStr(secret)
    )
    return AgentIdentity(credentials, registry_url)


def missing_identity(name: str, settings: AgentSettings) -> str:
    """What to set so that `name` has an identity (the sentence says "no OAuth client", which people search for)."""
    return (
        f"{name} has no OAuth client to call the registry, the MCP servers and other agents with: set "
        f"SRE_CLIENT_ID, SRE_CLIENT_SECRET and REGISTRY_URL, or SRE_DATA_DIR to the data directory of a running "
        f"`sre up` (`make up`), which provisions one ({secret_file(settings.data_dir, name)} does not exist)."
    )
