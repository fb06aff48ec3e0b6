"""What the registry stores and answers: agent card entries and MCP server descriptors.

A component registers itself with a `*Registration` body; the registry answers with the
matching `*Entry`: the registration plus what the registry knows about it (health, when it was
registered and last seen, whether its name is reserved for its client). Every model rejects
unknown fields, so a typo is a 422 naming it.

Rules shared by both kinds:
- `name` is unique per kind and safe in a URL path (`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`);
- `url` is an absolute http(s) URL, with no user name or password in it (entries are shown to
  every caller); for an MCP server it is the canonical `/mcp` endpoint, the
  audience of the tokens it accepts; for an agent its A2A endpoint, whose origin serves
  `/.well-known/agent-card.json`;
- text is bounded in length and may not hold NUL characters or lone surrogates, which neither
  PostgreSQL text nor UTF-8 can store.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from common.rest import ErrorBody, FieldError, storable
from common.settings import http_url

__all__ = [
    "AgentEntry",
    "AgentList",
    "AgentRegistration",
    "ErrorBody",
    "FieldError",
    "Health",
    "HealthStatus",
    "ListQuery",
    "SearchHit",
    "SearchQuery",
    "SearchResult",
    "SecuritySummary",
    "ServerEntry",
    "ServerList",
    "ServerRegistration",
    "Skill",
    "ToolSummary",
]

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
# RFC 6749 3.3 scope-token characters.
SCOPE_PATTERN = r"^[\x21\x23-\x5B\x5D-\x7E]{1,128}$"

HealthStatus = Literal["healthy", "unhealthy", "unknown"]


def _http_url(value: str) -> str:
    http_url(value)  # the shared rule: http(s), and no user name or password in it
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("expected an absolute http(s) URL")
    if any(ord(char) < 0x21 or ord(char) == 0x7F for char in value):
        raise ValueError("URL may not contain spaces or control characters")
    try:
        parts.port  # noqa: B018 - raises on a port that is not a number in range
    except ValueError:
        raise ValueError("URL port must be a number between 0 and 65535") from None
    return value


# Bounded, storable strings; a field adds its own description with `Field(...)`.
Ident = Annotated[str, Field(min_length=1, max_length=128), AfterValidator(storable)]
Short = Annotated[str, Field(max_length=200), AfterValidator(storable)]
Long = Annotated[str, Field(max_length=4000), AfterValidator(storable)]
Keywords = Annotated[str, Field(max_length=1000), AfterValidator(storable)]
Name = Annotated[str, Field(pattern=NAME_PATTERN)]
Url = Annotated[str, Field(min_length=8, max_length=2048), AfterValidator(_http_url)]
Scope = Annotated[str, Field(pattern=SCOPE_PATTERN)]
Tenant = Annotated[str, Field(pattern=NAME_PATTERN)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Skill(_Model):
    """One skill of an agent, as in its A2A Agent Card."""

    id: Ident = Field(description="Stable skill identifier, e.g. `triage-alert`.")
    name: Short = Field(description="Human-readable skill name.")
    description: Long = Field(default="", description="What the skill does.")
    tags: list[Short] = Field(default_factory=list, max_length=32, description="Keywords, matched exactly by search.")
    examples: list[Long] = Field(default_factory=list, max_length=32, description="Example requests.")


class SecuritySummary(_Model):
    """How to call the agent: a summary of its card's security scheme (never a secret)."""

    type: Literal["oauth2", "openIdConnect", "http", "apiKey", "mutualTLS"] = Field(
        description="Security scheme type, as in the A2A card."
    )
    flow: Literal["client_credentials", "authorization_code", "device_code"] | None = Field(
        default=None, description="OAuth2 flow, when `type` is oauth2."
    )
    token_url: Url | None = Field(default=None, description="Token endpoint of the authorization server.")
    scopes: list[Scope] = Field(default_factory=list, max_length=64, description="Scopes a caller needs.")


class ToolSummary(_Model):
    name: Ident = Field(description="Tool name, unique across servers (e.g. `prometheus_query_range`).")
    description: Long = Field(default="", description="What the tool does.")


class AgentRegistration(_Model):
    """Body of `POST /agents`: the searchable part of an agent's card."""

    name: Name = Field(description="Unique agent name.")
    url: Url = Field(description="The agent's A2A endpoint (http or https).")
    description: Long = Field(default="", description="What the agent does.")
    version: Short = Field(default="", description="The agent's version.")
    skills: list[Skill] = Field(default_factory=list, max_length=100)
    security: SecuritySummary | None = None
    tenant: Tenant | None = Field(default=None, description="Tenant the agent belongs to; unset: shared.")


class ServerRegistration(_Model):
    """Body of `POST /servers`: an MCP server's descriptor."""

    name: Name = Field(description="Unique server name.")
    url: Url = Field(description="Canonical Streamable HTTP endpoint (`.../mcp`); the audience of its tokens.")
    transport: Literal["streamable-http"] = "streamable-http"
    tools: list[ToolSummary] = Field(default_factory=list, max_length=500)
    scopes: list[Scope] = Field(default_factory=list, max_length=64, description="Scopes its tools require.")
    tenant: Tenant | None = Field(default=None, description="Tenant the server belongs to; unset: shared.")


class Health(_Model):
    status: HealthStatus = Field(description="`unknown` until the first probe.")
    last_checked: datetime | None = Field(default=None, description="When the last probe finished.")
    last_error: str | None = Field(default=None, description="Why the last probe failed; null when healthy.")


class _Known(_Model):
    health: Health
    reserved: bool = Field(
        default=False,
        description=(
            "True when the registry's configuration reserves this name for the client that registered the entry "
            "(REGISTRY_RESERVED_NAMES): the operator vouches for it, and the router prefers it."
        ),
    )
    registered_at: datetime = Field(description="First registration under this name.")
    last_seen: datetime = Field(description="Latest (re-)registration.")


class AgentEntry(_Known, AgentRegistration):
    pass


class ServerEntry(_Known, ServerRegistration):
    pass


class _Page(_Model):
    returned: int
    total: int = Field(description="Entries matching the filter, across all pages.")
    truncated: bool = Field(description="True when more entries follow: pass `next_cursor` as `cursor`.")
    next_cursor: str | None = None


class AgentList(_Page):
    agents: list[AgentEntry]


class ServerList(_Page):
    servers: list[ServerEntry]


class SearchHit(_Model):
    score: int = Field(
        description="10000 per exact skill id match, 100 per matching tag, 1 per text match (each part capped at 99)."
    )
    matched: list[str] = Field(description="What matched, e.g. `skill:triage-alert`, `tag:latency`, `text:checkout`.")
    agent: AgentEntry


class SearchResult(_Model):
    results: list[SearchHit] = Field(description="Best first; ties broken by agent name.")
    returned: int
    total: int = Field(description="Agents that matched at all.")
    truncated: bool


class ListQuery(_Model):
    """Query parameters of `GET /agents` and `GET /servers`."""

    tenant: Tenant | None = Field(default=None, description="Only entries of this tenant.")
    limit: int = Field(default=100, ge=1, le=500, description="Most entries to return.")
    cursor: str | None = Field(default=None, max_length=200, description="`next_cursor` of the previous page.")


class SearchQuery(_Model):
    """Query parameters of `GET /search`; `skill`, `q` or both must be given."""

    skill: Ident | None = Field(default=None, description="A skill id; an exact match ranks first.")
    q: Keywords | None = Field(default=None, description="Keywords matched against tags, then text.")
    tenant: Tenant | None = Field(default=None, description="Only agents of this tenant.")
    limit: int = Field(default=20, ge=1, le=100, description="Most results to return.")
