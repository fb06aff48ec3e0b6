"""The triage agent, `root_agent` (for `adk web agents`; `sre serve triage` serves the same class).

It runs the deterministic investigation (`investigation.investigate`) with no model: each stage
is said as it starts, and the answer is the DiagnosticReport (its Markdown in the chat, its JSON
the artifact `report.json`). A request it cannot read is refused, naming what to send. With a
model (`SRE_MODEL`) the report gets a narrative, and follow-ups are answered by the model with
the read-only MCP tools; without one, a follow-up is answered from the report where it can be
(`follow_up.answer`). Identity, toolbox, stages, refusals, artifacts and serving are the kit's
(`common.agents.pipeline`).
"""

from __future__ import annotations

from typing import Any

from pydantic import PrivateAttr

from agents.triage.card import CARD
from agents.triage.follow_up import HINT, answer
from agents.triage.investigation import investigate
from agents.triage.prompt import PROMPTS
from agents.triage.request import parse_request
from agents.triage.settings import SERVERS, TriageSettings
from common.agents.kit import Kit, Progress
from common.agents.pipeline import AgentRequest, AgentResult, PipelineAgent
from common.contracts.prometheus import PrometheusMcp
from common.errors import InputError
from common.investigation.catalogue import CatalogueSource
from common.investigation.recording import record
from common.settings import SettingsSource

__all__ = ["TriageAgent", "root_agent"]


class TriageAgent(PipelineAgent):
    card = CARD
    prompts = PROMPTS
    follow_up_servers = SERVERS
    follow_up_hint = HINT

    settings: TriageSettings
    _catalogue: CatalogueSource | None = PrivateAttr(default=None)

    def catalogue(self) -> CatalogueSource:
        """The user's TRIAGE_SIGNALS_FILE, else the bundled profiles Prometheus has metrics of (asked each time)."""
        if self._catalogue is None:
            self._catalogue = CatalogueSource(
                self.settings.signals_file,
                setting="TRIAGE_SIGNALS_FILE",
                lookback_seconds=self.settings.investigation.lookback_seconds,
            )
        return self._catalogue

    async def handle(self, request: AgentRequest, kit: Kit, progress: Progress) -> AgentResult:
        investigation = parse_request(list(request.texts), self.settings.aliases)
        settings = self.settings
        async with kit.toolbox(SERVERS, deadline_seconds=settings.source_timeout_seconds) as toolbox:
            catalogue = await self.catalogue().catalogue(PrometheusMcp(toolbox))
            report = await investigate(investigation, toolbox, catalogue, settings.investigation, progress=progress)
            report.narrative = await kit.narrate(report.model_dump(mode="json"), progress)
            if settings.record_analyses:
                await progress("Recording the report in the control plane.")
                recorded = await record(report, toolbox)
                if recorded is not None:
                    report.analysis_url = recorded.url
        return AgentResult(report, report.to_markdown())

    def is_follow_up(self, request: AgentRequest) -> bool:
        """Anything but a request naming what to investigate: a text it cannot read, or a question naming no
        resource explicitly (in a conversation, "why?" is about the last report)."""
        try:
            investigation = parse_request(list(request.texts), self.settings.aliases)
        except InputError:
            return True
        return investigation.trigger.kind == "question" and not investigation.subjects

    def answer_follow_up(self, question: str, last_result: dict[str, Any]) -> str | None:
        return answer(question, last_result)


root_agent = TriageAgent.from_source(SettingsSource.load())
