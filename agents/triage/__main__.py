"""Run the triage agent over A2A: `sre serve triage` (port 8721)."""

from __future__ import annotations

from typing import Literal

from agents.triage.agent import TriageAgent
from agents.triage.card import CARD
from common.agents import serve_agent
from common.errors import ConfigError
from common.settings import SettingsSource


async def serve(transport: Literal["stdio", "http"], source: SettingsSource) -> None:
    if transport != "http":
        raise ConfigError("The triage agent is served over A2A (HTTP) only: run `sre serve triage`.")
    agent = TriageAgent.from_source(source)
    await serve_agent(agent, CARD, agent.settings.agent)
