"""The public Agent Card of an agent, built from a small spec and the serve settings.

`AgentCardSpec` is what a component writes (name, description, version, skills); `agent_card()`
adds what the deployment decides: the canonical URL (`ServeSettings.base_url`, also the audience
of the tokens the agent accepts), the JSON-RPC interface, streaming, and the OAuth2
client-credentials scheme of the configured issuer with the `agents:invoke` scope. The card
names nothing but public URLs: no secrets, no listen address other than the configured one.
"""

from __future__ import annotations

from typing import Any

from a2a.types import (
    AgentCapabilities,
    AgentCard,
    AgentInterface,
    AgentSkill,
    ClientCredentialsOAuthFlow,
    OAuth2SecurityScheme,
    OAuthFlows,
    SecurityRequirement,
    SecurityScheme,
    StringList,
)
from a2a.utils.constants import TransportProtocol
from pydantic import Field

from common.auth.discovery import metadata_urls
from common.scopes import AGENTS_INVOKE
from common.settings import FrozenModel, ServeSettings

__all__ = [
    "AGENTS_INVOKE",
    "SECURITY_SCHEME",
    "AgentCardSpec",
    "SkillSpec",
    "agent_card",
    "registration",
    "token_url",
]

#: Name of the card's security scheme.
SECURITY_SCHEME = "oauth2"
PROTOCOL_VERSION = "1.0"


class SkillSpec(FrozenModel):
    """One skill, as the card and the registry show it."""

    id: str = Field(min_length=1, max_length=128, description="Stable identifier, e.g. `triage-alert`.")
    name: str = Field(min_length=1, max_length=200)
    description: str = Field(min_length=1, max_length=4000)
    tags: tuple[str, ...] = ()
    examples: tuple[str, ...] = ()


class AgentCardSpec(FrozenModel):
    """What a component says about its agent; the rest of the card comes from the deployment."""

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$", description="Also the registry name.")
    description: str = Field(max_length=4000)
    version: str = "0.1.0"
    skills: tuple[SkillSpec, ...] = ()
    input_modes: tuple[str, ...] = ("text/plain", "application/json")
    output_modes: tuple[str, ...] = ("application/json", "text/markdown")
    documentation_url: str | None = None


def _issuer(serve: ServeSettings) -> str:
    return (serve.auth.issuer or serve.registry_url).rstrip("/")


def token_url(serve: ServeSettings) -> str:
    """Where callers get their tokens: `<SRE_AUTH_ISSUER or registry>/oauth/token`, or the own client's override."""
    if serve.identity is not None and serve.identity.token_url:
        return serve.identity.token_url
    return f"{_issuer(serve)}/oauth/token"


def agent_card(spec: AgentCardSpec, serve: ServeSettings) -> AgentCard:
    """The public card of `spec` served at `serve.base_url`; no security scheme when auth is disabled."""
    card = AgentCard(
        name=spec.name,
        description=spec.description,
        version=spec.version,
        supported_interfaces=[
            AgentInterface(
                url=serve.base_url,
                protocol_binding=TransportProtocol.JSONRPC.value,
                protocol_version=PROTOCOL_VERSION,
            )
        ],
        # Push notifications are off: the agent never calls out to caller-chosen URLs (checklist row 30).
        capabilities=AgentCapabilities(streaming=True, push_notifications=False, extended_agent_card=False),
        default_input_modes=list(spec.input_modes),
        default_output_modes=list(spec.output_modes),
        skills=[
            AgentSkill(
                id=skill.id,
                name=skill.name,
                description=skill.description,
                tags=list(skill.tags),
                examples=list(skill.examples),
            )
            for skill in spec.skills
        ],
    )
    if spec.documentation_url:
        card.documentation_url = spec.documentation_url
    if not serve.auth.disabled:
        card.security_schemes[SECURITY_SCHEME].CopyFrom(
            SecurityScheme(
                oauth2_security_scheme=OAuth2SecurityScheme(
                    description="OAuth2 client credentials; the token audience is this agent's URL.",
                    flows=OAuthFlows(
                        client_credentials=ClientCredentialsOAuthFlow(
                            token_url=token_url(serve),
                            scopes={AGENTS_INVOKE: "Call any agent over A2A."},
                        )
                    ),
                    oauth2_metadata_url=metadata_urls(_issuer(serve))[0],
                )
            )
        )
        card.security_requirements.append(
            SecurityRequirement(schemes={SECURITY_SCHEME: StringList(list=[AGENTS_INVOKE])})
        )
    return card


def registration(spec: AgentCardSpec, serve: ServeSettings) -> dict[str, Any]:
    """The body of `POST /agents` at the registry (`registry.models.AgentRegistration`)."""
    body: dict[str, Any] = {
        "name": serve.name or spec.name,
        "url": serve.base_url,
        "description": spec.description,
        "version": spec.version,
        "skills": [skill.model_dump(mode="json") for skill in spec.skills],
    }
    if not serve.auth.disabled:
        body["security"] = {
            "type": "oauth2",
            "flow": "client_credentials",
            "token_url": token_url(serve),
            "scopes": [AGENTS_INVOKE],
        }
    return body
