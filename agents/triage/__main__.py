"""`sre serve triage` (port 8721): the triage agent over A2A, registered (the kit's `PipelineAgent.serve`)."""

from __future__ import annotations

from agents.triage.agent import TriageAgent

__all__ = ["serve"]

serve = TriageAgent.serve
