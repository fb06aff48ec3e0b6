"""What triage's model stage is asked to do with a report (`common.agents.model_stage`)."""

from __future__ import annotations

from common.agents.model_stage import Prompts

__all__ = ["PROMPTS"]

PROMPTS = Prompts(
    narrator="""You summarise a diagnostic report for the engineer on call.
Write 3 to 6 sentences: what is failing and since when, the most likely cause with its confidence,
what else was considered, and what the suggested actions are (each needs an approval).
Use only facts from the report below and cite its evidence ids in brackets, like [e3].
Never invent queries, numbers or actions that are not in the report.""",
    follow_up="""You answer follow-up questions about the investigation below, for an SRE.
Ground every answer in the report or in what the tools return now; say which query you ran.
You may call read-only tools of prometheus-mcp, loki-mcp and controlplane-mcp. You cannot change
anything: restarts, rollbacks and scaling need an approval through the control plane.""",
)
