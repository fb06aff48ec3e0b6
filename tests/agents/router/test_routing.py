"""Choosing the skill a request goes to: pure functions, no federation."""

from __future__ import annotations

import json

import pytest

from agents.router.routing import KeywordChooser, rank, read_request, words
from common.agents.peers import PeerAgent

pytestmark = pytest.mark.anyio

AGENTS = [
    PeerAgent.model_validate(
        {
            "name": "triage",
            "url": "http://127.0.0.1:8721",
            "skills": [
                {
                    "id": "triage-investigate",
                    "name": "Investigate an incident",
                    "description": "Finds why a service is slow or failing.",
                    "tags": ["incident", "alert"],
                }
            ],
        }
    ),
    PeerAgent.model_validate(
        {
            "name": "capacity",
            "url": "http://127.0.0.1:8723",
            "skills": [
                {
                    "id": "capacity-forecast",
                    "name": "Forecast capacity",
                    "description": "When a service runs out of memory or disk.",
                    "tags": ["capacity", "forecast"],
                    "examples": ["When will checkout run out of memory?"],
                },
                {"id": "capacity-report", "name": "Capacity report", "description": "Headroom per service."},
            ],
        }
    ),
]


def test_words_drop_common_words_short_words_and_plurals() -> None:
    assert words("Why is the checkout slow? Alerts on 2 pods") == {"checkout", "slow", "alert", "pod"}


def test_an_exact_skill_id_beats_tags_and_words() -> None:
    (best, *_) = rank("please run capacity-report for checkout, the forecast can wait", AGENTS)

    assert best.skill.id == "capacity-report"
    assert "skill:capacity-report" in best.reasons


def test_tags_beat_description_words() -> None:
    (best, *_) = rank("an incident: checkout is slow and failing", AGENTS)

    assert (best.agent.name, best.skill.id) == ("triage", "triage-investigate")
    assert best.reasons[0] == "tag:incident"


def test_examples_and_descriptions_match_on_words() -> None:
    (best, *_) = rank("memory of checkout runs out soon", AGENTS)

    assert best.skill.id == "capacity-forecast"


def test_nothing_in_common_is_no_match() -> None:
    assert rank("sing me a song", AGENTS) == []


def test_ties_go_to_the_agent_then_the_skill_first_by_name() -> None:
    ranked = rank("capacity", AGENTS)

    assert [m.skill.id for m in ranked] == ["capacity-forecast", "capacity-report"]


def test_requests_are_read_from_json_or_text() -> None:
    alert = read_request([json.dumps({"version": "4", "alerts": []})])
    deployment = read_request([json.dumps({"type": "deployment", "service": "checkout"})])
    question = read_request([json.dumps({"question": "capacity of checkout?", "service": "checkout"})])
    text = read_request(["capacity of checkout?", ""])

    assert (alert.kind, deployment.kind, question.kind, text.kind) == ("alert", "deployment", "question", "question")
    assert question.text == "capacity of checkout?"
    assert question.data == {"question": "capacity of checkout?", "service": "checkout"}
    assert (text.text, text.data) == ("capacity of checkout?", None)


async def test_alerts_and_deployments_go_to_the_configured_triage_agent_whatever_their_words() -> None:
    chooser = KeywordChooser(triage_agent="triage")
    payload = json.dumps({"version": "4", "alerts": [{"labels": {"alertname": "CapacityForecastLow"}}]})

    match = await chooser.choose(read_request([payload]), AGENTS)

    assert match is not None
    assert (match.agent.name, match.skill.id, match.reasons) == ("triage", "triage-investigate", ("trigger:alert",))
    assert await KeywordChooser(triage_agent="elsewhere").choose(read_request([payload]), AGENTS) is None
