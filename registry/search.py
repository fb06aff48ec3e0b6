"""Ranking agents for `GET /search?skill=...&q=...`: pure, deterministic, no I/O.

An agent's score has three parts, compared in this order (each capped at 99 so a lower part
can never outweigh a higher one):

1. exact skill id matches: a skill whose `id` equals `skill` (case-insensitive), 10000 each;
2. tag matches: distinct tags equal to `skill` or to a word of `q`, 100 each;
3. text matches: for each search word, 1 per place it occurs as a substring: the agent's name,
   its descriptions (agent, skill names and descriptions) and its skills' examples.

Agents with a score of 0 are left out; ties are broken by name, so the order is stable.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from registry.models import AgentEntry, SearchHit

__all__ = ["MAX_TERMS", "rank_agents", "search_terms"]

#: Words of `q` beyond this many are ignored; a search is a few keywords, not a document.
MAX_TERMS = 16
_CAP = 99
_WORD = re.compile(r"\w+")


def search_terms(skill: str | None, q: str | None) -> list[str]:
    """The distinct, case-folded words searched for: `skill` whole, then the words of `q`."""
    terms = [skill.strip().casefold()] if skill and skill.strip() else []
    words = list(dict.fromkeys(_WORD.findall((q or "").casefold())))[:MAX_TERMS]
    return terms + [word for word in words if word not in terms]


def rank_agents(agents: Iterable[AgentEntry], skill: str | None, q: str | None) -> list[SearchHit]:
    wanted_skill = skill.strip().casefold() if skill and skill.strip() else None
    terms = search_terms(skill, q)
    hits = [hit for agent in agents if (hit := _score(agent, wanted_skill, terms)) is not None]
    hits.sort(key=lambda hit: (-hit.score, hit.agent.name))
    return hits


def _score(agent: AgentEntry, skill: str | None, terms: Sequence[str]) -> SearchHit | None:
    matched: list[str] = []
    skill_hits = 0
    if skill is not None:
        for declared in agent.skills:
            if declared.id.casefold() == skill:
                skill_hits += 1
                matched.append(f"skill:{declared.id}")

    tags = sorted({tag.casefold() for declared in agent.skills for tag in declared.tags})
    wanted = set(terms)
    tag_hits = [tag for tag in tags if tag in wanted]
    matched.extend(f"tag:{tag}" for tag in tag_hits)

    places = (
        agent.name.casefold(),
        " ".join([agent.description, *(f"{s.name} {s.description}" for s in agent.skills)]).casefold(),
        " ".join(example for s in agent.skills for example in s.examples).casefold(),
    )
    text_hits = 0
    for term in terms:
        found = sum(term in place for place in places)
        if found:
            text_hits += found
            matched.append(f"text:{term}")

    score = min(skill_hits, _CAP) * 10_000 + min(len(tag_hits), _CAP) * 100 + min(text_hits, _CAP)
    if score == 0:
        return None
    return SearchHit(score=score, matched=matched, agent=agent)
