"""Triage in a chat with no model and no federation (what `adk web agents` gives someone trying it out).

The report's Markdown is the answer and its JSON the artifact; a follow-up is answered from the
report where it can be, and otherwise says it needs SRE_MODEL, never re-running the investigation;
what any refusal or reply says to send is accepted as written.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from support.chat import Chat, texts

from agents.triage.agent import TriageAgent
from agents.triage.follow_up import answer
from common.agents.executor import INVALID_REQUEST
from common.agents.pipeline import LAST_RESULT
from common.diagnostic_report import Change, DiagnosticReport
from common.settings import SettingsSource

pytestmark = pytest.mark.anyio


def triage(tmp_path: Path) -> TriageAgent:
    # An empty data dir: no identity, every source unavailable (each says which variables to set).
    source = SettingsSource({"SRE_DATA_DIR": str(tmp_path), "TRIAGE_RECORD_ANALYSES": "false"})
    return TriageAgent.from_source(source)


async def test_the_report_is_markdown_in_the_chat_and_json_in_the_artifact_and_state(tmp_path: Path) -> None:
    chat = Chat(triage(tmp_path))

    events = await chat.say('{"service": "checkout", "namespace": "prod"}')

    said = texts(events)
    assert said[0].startswith("Scoping")
    assert said[-1].startswith("# Diagnostic report: checkout")
    assert not any(text.lstrip().startswith("{") for text in said)
    report = events[-1].actions.state_delta[LAST_RESULT]
    assert events[-2].actions.artifact_delta == {"report.json": 0}
    assert {failure["source"] for failure in report["degraded"]} == {"prometheus-mcp", "loki-mcp", "controlplane-mcp"}
    reason = report["degraded"][0]["reason"]
    assert "no OAuth client" in reason
    assert all(
        variable in reason for variable in ("SRE_CLIENT_ID", "SRE_CLIENT_SECRET", "REGISTRY_URL", "SRE_DATA_DIR")
    )


@pytest.mark.parametrize(
    ("question", "heading"),
    [
        ("what changed before the onset?", "## Changes before the onset"),
        ("when did it start?", "**Onset:**"),
        ("what is the likely cause?", "## Hypotheses"),
        ("what are the hypotheses?", "## Hypotheses"),
        ("what evidence is there?", "## Evidence"),
        ("which queries did you run?", "## Evidence"),
        ("what should I do?", "## Suggested actions"),
        ("which actions do you suggest?", "## Suggested actions"),
    ],
)
def test_the_usual_follow_ups_are_answered_from_the_report(question: str, heading: str) -> None:
    said = answer(question, report_with_a_change_and_an_action())

    assert said is not None
    assert heading in said


def test_a_question_the_report_does_not_answer_gets_none() -> None:
    assert answer("tell me a story about it", report_with_a_change_and_an_action()) is None


async def test_without_a_model_a_follow_up_never_reruns_the_investigation(tmp_path: Path) -> None:
    chat = Chat(triage(tmp_path))
    await chat.say('{"service": "checkout", "namespace": "prod"}')

    (onset,) = await chat.say("when did it start?")
    (other,) = await chat.say("tell me a story about it")

    assert texts([onset])[0].endswith("**Onset:** not detected")
    (reply,) = texts([other])
    assert "Free-form follow-ups need a model: set SRE_MODEL." in reply
    assert not onset.actions.state_delta
    assert not other.actions.state_delta


async def test_every_example_a_reply_or_refusal_gives_is_accepted_as_written(tmp_path: Path) -> None:
    chat = Chat(triage(tmp_path))
    (refusal,) = await chat.say('{"hello": 1}')
    # Offline, a question naming no service cannot be looked up: the control plane is out of reach.
    *_, unresolved = await Chat(triage(tmp_path)).say("why is checkout failing?")
    await chat.say('{"service": "checkout"}')
    (reply,) = await chat.say("tell me a story about it")
    assert refusal.error_code == INVALID_REQUEST
    assert unresolved.error_code == INVALID_REQUEST
    examples = [
        example
        for said in (refusal.error_message or "", unresolved.error_message or "", *texts([reply]))
        for example in re.findall(r"\{[^{}]*\}", said)
    ]

    assert len(examples) >= 5
    for example in examples:
        events = await Chat(triage(tmp_path)).say(example)
        assert events[-1].error_code is None, (example, events[-1].error_message)
        assert texts(events)[-1].startswith("# Diagnostic report: checkout"), example


def report_with_a_change_and_an_action() -> dict[str, Any]:
    report = DiagnosticReport.model_validate(
        {
            "id": "rep-1",
            "created_at": "2026-12-05T12:00:00Z",
            "trigger": {"kind": "question", "summary": "why?"},
            "scope": {"service": "checkout", "start": "2026-12-05T06:00:00Z", "end": "2026-12-05T12:00:00Z"},
            "onset": {"at": "2026-12-05T11:00:00Z", "signal": "error ratio of checkout", "evidence_ids": ["e1"]},
            "hypotheses": [
                {
                    "kind": "deployment",
                    "target": {"resource": "checkout", "ref": "v2"},
                    "confidence": 0.8,
                    "evidence_ids": ["e1"],
                    "rationale": "errors rose 2 minutes after v2 rolled out",
                }
            ],
            "evidence": [
                {"id": "e1", "source": "prometheus", "query": "sum(rate(errors[5m]))", "summary": "errors rose"}
            ],
            "changes": [],
            "suggested_actions": [
                {"action": "rollback", "target": {"resource": "checkout"}, "parameters": {"to_version": "v1"}}
            ],
        }
    )
    report.changes.append(
        Change.model_validate(
            {"at": "2026-12-05T10:58:00Z", "type": "deployment", "resource": "checkout", "minutes_before_onset": 2}
        )
    )
    return json.loads(report.model_dump_json())
