"""An ADK agent held at a gate: it says a stage, waits until a test opens the gate, then answers.

It counts its runs (started, in flight, the most in flight at once), so a test of a concurrency
limit checks the peak once every run has ended instead of watching for a run that should not start.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncGenerator

from google.adk.agents import BaseAgent
from google.adk.agents.invocation_context import InvocationContext
from google.adk.events import Event
from google.genai import types as genai
from pydantic import Field

__all__ = ["RESULT", "GatedAgent", "Runs"]

#: What the agent answers once the gate is open: a JSON result.
RESULT = '{"released": true}'


class Runs:
    """How many runs of an agent started, are in flight, and the most there ever were at once."""

    def __init__(self) -> None:
        self.started = 0
        self.in_flight = 0
        self.peak = 0


class GatedAgent(BaseAgent):
    """`stage`, then a wait until `gate` is set (polled: a test thread sets it), then `RESULT`."""

    gate: threading.Event
    stage: str = "Waiting for the gate."
    runs: Runs = Field(default_factory=Runs)

    async def _run_async_impl(self, ctx: InvocationContext) -> AsyncGenerator[Event, None]:
        self.runs.started += 1
        self.runs.in_flight += 1
        self.runs.peak = max(self.runs.peak, self.runs.in_flight)
        try:
            yield self._say(ctx, self.stage)
            while not self.gate.is_set():
                await asyncio.sleep(0.02)
            yield self._say(ctx, RESULT)
        finally:
            self.runs.in_flight -= 1

    def _say(self, ctx: InvocationContext, text: str) -> Event:
        return Event(
            author=self.name,
            invocation_id=ctx.invocation_id,
            content=genai.Content(role="model", parts=[genai.Part(text=text)]),
        )
