"""Ranking of agents: exact skill id, then tags, then text; stable order; no match, no result."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from registry.models import AgentEntry
from registry.search import MAX_TERMS, rank_agents, search_terms

NOW = datetime(2026, 11, 1, tzinfo=UTC)


def entry(name: str, **fields: Any) -> AgentEntry:
    return AgentEntry.model_validate(
        {
            "name": name,
            "url": f"http://127.0.0.1:9/{name}",
            "health": {"status": "unknown"},
            "registered_at": NOW,
            "last_seen": NOW,
            **fields,
        }
    )


def names(agents: list[AgentEntry], skill: str | None, q: str | None) -> list[str]:
    return [hit.agent.name for hit in rank_agents(agents, skill, q)]


def test_one_tag_outranks_any_number_of_text_matches() -> None:
    wordy = entry(
        "wordy", description=" ".join(f"disk{i} disk" for i in range(200)), skills=[{"id": "d", "name": "disk"}]
    )
    tagged = entry("tagged", skills=[{"id": "t", "name": "T", "tags": ["disk"]}])
    hits = rank_agents([wordy, tagged], None, "disk " + " ".join(f"disk{i}" for i in range(40)))
    assert [hit.agent.name for hit in hits] == ["tagged", "wordy"]
    assert hits[1].score < 100  # text matches are capped below one tag


def test_exact_skill_id_is_case_insensitive_and_outranks_tags() -> None:
    exact = entry("exact", skills=[{"id": "Capacity-Forecast", "name": "Forecast"}])
    tags = entry("tags", skills=[{"id": "x", "name": "X", "tags": ["capacity-forecast", "capacity", "forecast"]}])
    assert names([tags, exact], "capacity-forecast", "capacity forecast") == ["exact", "tags"]


def test_equal_scores_are_ordered_by_name_and_non_matches_left_out() -> None:
    agents = [entry(name, description="checkout latency") for name in ("c", "a", "b")] + [entry("z")]
    assert names(agents, None, "latency") == ["a", "b", "c"]
    assert names(agents, None, "nothing-matches") == []


def test_search_terms_are_distinct_words_with_the_skill_first() -> None:
    assert search_terms(" Triage ", "why is TRIAGE slow, why?") == ["triage", "why", "is", "slow"]
    assert len(search_terms(None, " ".join(f"w{i}" for i in range(100)))) == MAX_TERMS
