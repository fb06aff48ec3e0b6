"""A conversation with an ADK agent in one session, as `adk web` holds one: `Chat(agent).say(text)`."""

from __future__ import annotations

from google.adk.agents import BaseAgent
from google.adk.events import Event
from google.adk.runners import InMemoryRunner
from google.genai import types as genai

__all__ = ["Chat", "texts"]


class Chat:
    def __init__(self, agent: BaseAgent, *, user_id: str = "oncall") -> None:
        self.runner = InMemoryRunner(agent=agent, app_name=agent.name)
        self.app_name = agent.name
        self.user_id = user_id
        self.session_id = ""

    async def say(self, message: str) -> list[Event]:
        """Every event of the agent's answer to `message`, in order."""
        if not self.session_id:
            session = await self.runner.session_service.create_session(app_name=self.app_name, user_id=self.user_id)
            self.session_id = session.id
        content = genai.Content(role="user", parts=[genai.Part(text=message)])
        return [
            event
            async for event in self.runner.run_async(
                user_id=self.user_id, session_id=self.session_id, new_message=content
            )
        ]


def texts(events: list[Event]) -> list[str]:
    """What the events say, as a chat shows it: their texts, in order."""
    return [part.text for event in events if event.content for part in event.content.parts or [] if part.text]
