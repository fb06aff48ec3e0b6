"""Stand-in agents on the kit (`PipelineAgent`) for tests of the A2A plumbing: no model, no backends, no peers.

A stand-in gives its result the one way every agent does, an `AgentResult` (JSON and Markdown),
so what a test reads back over A2A is built as for triage or the router.

- `EchoAgent` says `ECHO_STAGE`, then answers `{"question": <the message>, "length": <its length>}`
  with the Markdown `## Echo` and the question;
- `GatedAgent` says its `stage`, waits until a test sets its `gate`, then answers `RESULT`. It
  counts its runs (started, in flight, the most in flight at once), so a test of a concurrency
  limit checks the peak once every run has ended instead of watching for a run that should not start.

`stand_in_settings(data_dir)` are the settings to build one with.
"""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

from pydantic import Field

from common.agents import AgentSettings
from common.agents.kit import Kit, Progress
from common.agents.pipeline import AgentRequest, AgentResult, PipelineAgent, PipelineSettings
from common.settings import ServeSettings

__all__ = ["ECHO_STAGE", "RESULT", "EchoAgent", "GatedAgent", "Runs", "stand_in_settings"]

ECHO_STAGE = "Looking at the checkout service"
#: What `GatedAgent` answers once its gate is set.
RESULT = {"released": True}


def stand_in_settings(data_dir: Path) -> PipelineSettings:
    """A stand-in's settings: the test serves it (the port is not read); it calls nobody, so its data directory
    (where an agent would find the identity `sre up` left) is the test's own, holding none."""
    return PipelineSettings(agent=AgentSettings(serve=ServeSettings(port=0), data_dir=data_dir))


class EchoAgent(PipelineAgent):
    async def handle(self, request: AgentRequest, kit: Kit, progress: Progress) -> AgentResult:
        question = " ".join(request.texts)
        await progress(ECHO_STAGE)
        return AgentResult({"question": question, "length": len(question)}, f"## Echo\n\n{question}")


class Runs:
    """How many runs of an agent started, are in flight, and the most there ever were at once."""

    def __init__(self) -> None:
        self.started = 0
        self.in_flight = 0
        self.peak = 0


class GatedAgent(PipelineAgent):
    gate: threading.Event
    stage: str = "Waiting for the gate."
    runs: Runs = Field(default_factory=Runs)

    async def handle(self, request: AgentRequest, kit: Kit, progress: Progress) -> AgentResult:
        self.runs.started += 1
        self.runs.in_flight += 1
        self.runs.peak = max(self.runs.peak, self.runs.in_flight)
        try:
            await progress(self.stage)
            while not self.gate.is_set():  # polled: a test thread sets it
                await asyncio.sleep(0.02)
            return AgentResult(RESULT, "Released.")
        finally:
            self.runs.in_flight -= 1
