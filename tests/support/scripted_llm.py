"""A scripted ADK model: each model turn answers with the next step of a script, and every request is kept.

The one stand-in for an LLM the tests use (no model is reachable offline). A step is a response,
or a function of the request (to answer with what a tool returned, as a model would).
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable
from typing import Any

from google.adk.models import BaseLlm, LlmRequest, LlmResponse
from google.genai import types as genai
from pydantic import Field

Step = LlmResponse | Callable[[LlmRequest], LlmResponse]


def text(value: str) -> LlmResponse:
    return LlmResponse(content=genai.Content(role="model", parts=[genai.Part(text=value)]))


def call(name: str, **arguments: Any) -> LlmResponse:
    return LlmResponse(
        content=genai.Content(
            role="model", parts=[genai.Part(function_call=genai.FunctionCall(name=name, args=arguments))]
        )
    )


def function_responses(request: LlmRequest) -> list[genai.FunctionResponse]:
    return [
        part.function_response
        for content in request.contents
        for part in content.parts or []
        if part.function_response is not None
    ]


class ScriptedLlm(BaseLlm):
    model: str = "scripted"
    script: list[Step] = Field(default_factory=list)
    requests: list[LlmRequest] = Field(default_factory=list)

    async def generate_content_async(
        self, llm_request: LlmRequest, stream: bool = False
    ) -> AsyncGenerator[LlmResponse, None]:
        self.requests.append(llm_request)
        if not self.script:
            raise AssertionError("The model was called more often than the script says.")
        step = self.script.pop(0)
        yield step(llm_request) if callable(step) else step
