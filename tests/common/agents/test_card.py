"""The Agent Card and the registry entry an agent derives from its spec and serve settings."""

from __future__ import annotations

import json

import pytest
from a2a.server.request_handlers.response_helpers import agent_card_to_dict
from google.protobuf.json_format import MessageToDict
from pydantic import ValidationError

from common.agents import AGENTS_INVOKE, AgentCardSpec, SkillSpec, agent_card, registration
from common.agents.executor import result_parts
from common.settings import AuthConfig, ClientIdentity, ServeSettings
from registry.models import AgentRegistration

SPEC = AgentCardSpec(
    name="triage",
    description="Finds the likely cause of an alert.",
    skills=(SkillSpec(id="triage-alert", name="Triage an alert", description="Ranks hypotheses.", tags=("alert",)),),
)
SERVE = ServeSettings(
    host="0.0.0.0",
    port=8721,
    public_url="https://triage.sre.example",
    registry_url="http://10.0.0.5:8700",
    auth=AuthConfig(issuer="https://login.example/realms/sre"),
    identity=ClientIdentity(id="triage", secret="s3cret-value"),  # type: ignore[arg-type]
)


def test_card_names_the_public_url_and_the_issuer_but_no_private_address_or_secret() -> None:
    card = agent_card(SPEC, SERVE)
    text = json.dumps(agent_card_to_dict(card))

    assert card.supported_interfaces[0].url == "https://triage.sre.example"
    flow = card.security_schemes["oauth2"].oauth2_security_scheme.flows.client_credentials
    assert flow.token_url == "https://login.example/realms/sre/oauth/token"
    assert dict(flow.scopes) == {AGENTS_INVOKE: "Call any agent over A2A."}
    assert "0.0.0.0" not in text
    assert "10.0.0.5" not in text
    assert "s3cret" not in text


def test_card_without_auth_declares_no_security_scheme() -> None:
    serve = ServeSettings(port=8721, auth=AuthConfig(disabled=True))

    card = agent_card(SPEC, serve)

    assert not card.security_schemes
    assert not card.security_requirements


def test_registration_is_a_valid_registry_agent_entry() -> None:
    body = AgentRegistration.model_validate(registration(SPEC, SERVE))

    assert (body.name, body.url) == ("triage", "https://triage.sre.example")
    assert [skill.id for skill in body.skills] == ["triage-alert"]
    assert body.security is not None
    assert (body.security.type, body.security.flow, body.security.scopes) == (
        "oauth2",
        "client_credentials",
        [AGENTS_INVOKE],
    )


def test_spec_rejects_a_name_the_registry_would_refuse() -> None:
    with pytest.raises(ValidationError):
        AgentCardSpec(name="not a name", description="x")


def test_result_without_markdown_renders_the_json_as_a_code_block() -> None:
    data, markdown = result_parts({"ok": True}, None)

    assert MessageToDict(data.data) == {"ok": True}
    assert markdown.text == '```json\n{\n  "ok": true\n}\n```'
    assert markdown.media_type == "text/markdown"
