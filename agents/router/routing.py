"""Which agent skill a request goes to: pure, deterministic, no I/O.

A request is read from the message's texts (a data part arrives as its JSON text):
an Alertmanager payload (`version` and `alerts`) or a deployment event (`"type": "deployment"`)
is for triage, whatever words it holds; anything else is a question, matched against every
skill of every registered agent. A skill's score, best first:

- its id written in the request as a word (`capacity-forecast`): 1000;
- each of its tags among the request's words: 100;
- the agent's name written in the request: 50;
- each distinct request word found in the skill's name, description or examples: 1.

Words are case-folded, a plural `s` dropped, and common English words and words shorter than
three letters left out, so "why is checkout slow?" matches on `checkout` and `slow`. Ties go to
the agent, then the skill, first by name. A score of 0 is no match.

Agents whose registry entry is `reserved` (the registry's configuration reserves the name for the
client that registered it) rank before all others, whatever the scores: any client may register
an agent with copied skills and stuffed tags, and it must not win a question over a component the
operator vouches for. An unreserved agent gets the questions no reserved agent matches.

`SkillChooser` is the seam for choosing by a model (`SRE_MODEL`); only `KeywordChooser` exists.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol, runtime_checkable

from common.agents.executor import json_value
from common.agents.peers import PeerAgent, PeerSkill
from common.untrusted import code_span, markdown_text

__all__ = [
    "KeywordChooser",
    "Match",
    "RouteRequest",
    "SkillChooser",
    "describe_skills",
    "rank",
    "read_request",
    "words",
]

SKILL_ID_SCORE = 1000
TAG_SCORE = 100
AGENT_NAME_SCORE = 50
_WORD = re.compile(r"[0-9a-z][0-9a-z_-]*")
_STOPWORDS = frozenset(
    (  # noqa: SIM905 - a paragraph of words reads better than a column of strings
        "the and for are was were why what when where which who how does did has have had not but with from into "
        "this that these those there their its our your you can could would should will please about since after "
        "before any all some just now then than also been being very much many more most other only same such"
    ).split()
)


@dataclass(frozen=True)
class RouteRequest:
    kind: Literal["alert", "deployment", "question"]
    #: The words matched against skills: the question, or the whole text.
    text: str
    #: The JSON object the message carried, if it carried one: forwarded as a data part.
    data: dict[str, Any] | None = None


def read_request(texts: Sequence[str]) -> RouteRequest:
    for text in texts:
        data = json_value(text)
        if not isinstance(data, dict):
            continue
        if "alerts" in data and "version" in data:
            return RouteRequest("alert", text, data)
        if data.get("type") == "deployment":
            return RouteRequest("deployment", text, data)
        question = data.get("question")
        return RouteRequest("question", question if isinstance(question, str) else text, data)
    return RouteRequest("question", "\n".join(text for text in texts if text.strip()))


@dataclass(frozen=True)
class Match:
    agent: PeerAgent
    skill: PeerSkill
    score: int
    #: What matched: `skill:<id>`, `tag:<tag>`, `agent:<name>`, `word:<word>`, or `trigger:<kind>`.
    reasons: tuple[str, ...]


def words(text: str) -> set[str]:
    return {_stem(word) for word in _WORD.findall(text.casefold()) if len(word) >= 3 and word not in _STOPWORDS}


def _stem(word: str) -> str:
    return word[:-1] if len(word) > 3 and word.endswith("s") and not word.endswith("ss") else word


def _mentions(text: str, name: str) -> bool:
    return re.search(rf"(?<![\w-]){re.escape(name.casefold())}(?![\w-])", text) is not None


def rank(text: str, agents: Iterable[PeerAgent]) -> list[Match]:
    """Every skill that matches `text`, best first (see the module doc)."""
    folded = text.casefold()
    wanted = words(text)
    matches: list[Match] = []
    for agent in agents:
        named = _mentions(folded, agent.name)
        for skill in agent.skills:
            reasons: list[str] = []
            score = 0
            if _mentions(folded, skill.id):
                score += SKILL_ID_SCORE
                reasons.append(f"skill:{skill.id}")
            for tag in sorted({_stem(tag.casefold()) for tag in skill.tags} & wanted):
                score += TAG_SCORE
                reasons.append(f"tag:{tag}")
            if named:
                score += AGENT_NAME_SCORE
                reasons.append(f"agent:{agent.name}")
            known = words(" ".join([skill.id, skill.name, skill.description, *skill.examples]))
            for word in sorted(wanted & known):
                score += 1
                reasons.append(f"word:{word}")
            if score:
                matches.append(Match(agent, skill, score, tuple(reasons)))
    matches.sort(key=lambda match: (not match.agent.reserved, -match.score, match.agent.name, match.skill.id))
    return matches


@runtime_checkable
class SkillChooser(Protocol):
    """Chooses the skill a request goes to; None when none fits."""

    async def choose(self, request: RouteRequest, agents: Sequence[PeerAgent]) -> Match | None: ...


@dataclass(frozen=True)
class KeywordChooser:
    """The deterministic chooser: triage for alerts and deployment events, else `rank`'s best."""

    triage_agent: str

    async def choose(self, request: RouteRequest, agents: Sequence[PeerAgent]) -> Match | None:
        if request.kind == "question":
            ranked = rank(request.text, agents)
            return ranked[0] if ranked else None
        triage = next((agent for agent in agents if agent.name == self.triage_agent), None)
        if triage is None or not triage.skills:
            return None
        trigger = "alert alertmanager firing" if request.kind == "alert" else "deployment rollout rollback failed"
        ranked = rank(trigger, [triage])
        skill = ranked[0].skill if ranked else triage.skills[0]
        return Match(triage, skill, SKILL_ID_SCORE, (f"trigger:{request.kind}",))


def describe_skills(agents: Sequence[PeerAgent]) -> str:
    """The skills on offer, as a Markdown list (the answer when nothing matches).

    Agent cards are written by whoever registered the agent: their text is quoted, never markup.
    """
    lines = [
        f"- {code_span(skill.id)} ({markdown_text(agent.name)}): {markdown_text(skill.name)}"
        + (f" — {markdown_text(skill.description)}" if skill.description else "")
        for agent in agents
        for skill in agent.skills
    ]
    return "\n".join(lines) if lines else "- (no agent is registered)"
