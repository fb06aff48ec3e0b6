"""Scoring a diagnostic report against a scenario's ground truth (SCENARIOS.md, "Scoring")."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from scenarios import BUNDLED_DIR, load_scenario
from scenarios.records import GroundTruth
from scenarios.score import Score, expects_change, score, top_hypothesis, totals

ONSET = datetime(2026, 11, 5, 11, 28, tzinfo=UTC)
DEPLOY = GroundTruth("deployment", "checkout", "prod-abc123", "v2.4.0", ONSET)
DEPENDENCY = GroundTruth("dependency", "orders-db", "prod-abc123", None, ONSET)
UNKNOWN = GroundTruth("unknown", None, None, None, None)


def hypothesis(
    kind: str, resource: str, *, ref: str | None = None, confidence: float = 0.8, rationale: str = "because"
) -> dict[str, Any]:
    return {
        "kind": kind,
        "target": {"resource": resource, "namespace": "prod-abc123", "ref": ref},
        "confidence": confidence,
        "evidence_ids": ["e1"],
        "rationale": rationale,
    }


def report(*hypotheses: dict[str, Any], onset: str | None = None, changes: list[dict[str, Any]] | None = None) -> dict:
    return {
        "id": "r-1",
        "onset": {"at": onset, "signal": "error ratio", "evidence_ids": []} if onset is not None else None,
        "hypotheses": list(hypotheses),
        "changes": changes or [],
    }


def change(resource: str | None, *, ref: str | None = None, summary: str = "", before: float | None = 4.0) -> dict:
    return {
        "at": "2026-11-05T11:24:00Z",
        "type": "deployment",
        "resource": resource,
        "summary": summary,
        "ref": ref,
        "minutes_before_onset": before,
    }


def scored(truth: GroundTruth, given: dict[str, Any] | None, change_expected: bool = False) -> Score:
    return score(truth, given, change_expected=change_expected)


# --- hit@1 and hit@3 -----------------------------------------------------------------------------


def test_a_top_hypothesis_of_the_right_kind_service_and_ref_hits_at_1_and_3() -> None:
    result = scored(DEPLOY, report(hypothesis("deployment", "checkout", ref="v2.4.0")))
    assert (result.hit_at_1, result.hit_at_3) == (True, True)


def test_the_ref_may_be_found_in_the_rationale_only_and_in_any_case() -> None:
    top = hypothesis("deployment", "checkout", ref=None, rationale="5xx rose 2 min after checkout V2.4.0 rolled out")
    assert scored(DEPLOY, report(top)).hit_at_1


def test_the_ref_matches_as_a_substring_of_the_target_ref() -> None:
    assert scored(DEPLOY, report(hypothesis("deployment", "checkout", ref="checkout:v2.4.0-rc1"))).hit_at_1


def test_a_hypothesis_without_the_ref_anywhere_misses() -> None:
    result = scored(DEPLOY, report(hypothesis("deployment", "checkout", ref="v2.3.9", rationale="a deploy")))
    assert (result.hit_at_1, result.hit_at_3) == (False, False)


def test_a_truth_without_ref_needs_only_kind_and_service() -> None:
    assert scored(DEPENDENCY, report(hypothesis("dependency", "orders-db", ref=None))).hit_at_1


def test_the_right_kind_on_the_wrong_service_misses() -> None:
    result = scored(DEPLOY, report(hypothesis("deployment", "catalog", ref="v2.4.0")))
    assert (result.hit_at_1, result.hit_at_3) == (False, False)


def test_the_right_service_with_the_wrong_kind_misses() -> None:
    assert not scored(DEPLOY, report(hypothesis("config_change", "checkout", ref="v2.4.0"))).hit_at_1


def test_services_are_compared_by_name_not_namespace() -> None:
    top = hypothesis("deployment", "prod-ffffff/checkout", ref="v2.4.0")
    top["target"]["namespace"] = "elsewhere"
    assert scored(DEPLOY, report(top)).hit_at_1


def test_the_expected_cause_second_or_third_hits_at_3_only() -> None:
    wrong = hypothesis("deployment", "catalog", ref="v4.8.0", confidence=0.7)
    right = hypothesis("deployment", "checkout", ref="v2.4.0", confidence=0.6)
    for given in (report(wrong, right), report(wrong, wrong, right)):
        result = scored(DEPLOY, given)
        assert (result.hit_at_1, result.hit_at_3) == (False, True)


def test_the_expected_cause_fourth_misses_at_3() -> None:
    wrong = hypothesis("dependency", "payments-db")
    result = scored(DEPLOY, report(wrong, wrong, wrong, hypothesis("deployment", "checkout", ref="v2.4.0")))
    assert (result.hit_at_1, result.hit_at_3) == (False, False)


def test_a_report_without_hypotheses_misses_a_real_incident() -> None:
    result = scored(DEPLOY, report())
    assert (result.hit_at_1, result.hit_at_3) == (False, False)
    assert top_hypothesis(report()) is None


def test_a_malformed_report_misses_without_raising() -> None:
    malformed = {"hypotheses": "none", "onset": "soon", "changes": {"a": 1}}
    assert scored(DEPLOY, malformed, change_expected=True) == Score(False, False, None, False)
    no_target = {"hypotheses": [{"kind": "deployment", "confidence": "high"}]}
    assert not scored(DEPLOY, no_target).hit_at_1


# --- kind: unknown -------------------------------------------------------------------------------


def test_unknown_truth_is_hit_by_an_unknown_top_hypothesis() -> None:
    result = scored(UNKNOWN, report(hypothesis("unknown", "checkout", confidence=0.9)))
    assert (result.hit_at_1, result.hit_at_3) == (True, True)


def test_unknown_truth_is_hit_when_no_hypothesis_is_above_half_confidence() -> None:
    timid = [hypothesis("deployment", "catalog", confidence=0.5), hypothesis("dependency", "stripe", confidence=0.3)]
    result = scored(UNKNOWN, report(*timid))
    assert (result.hit_at_1, result.hit_at_3) == (True, True)


def test_unknown_truth_is_hit_by_a_report_without_hypotheses() -> None:
    assert scored(UNKNOWN, report()).hit_at_1


def test_unknown_truth_is_missed_by_a_confident_cause() -> None:
    result = scored(UNKNOWN, report(hypothesis("deployment", "catalog", confidence=0.8)))
    assert (result.hit_at_1, result.hit_at_3) == (False, False)


def test_unknown_truth_with_unknown_second_hits_at_3_only() -> None:
    given = report(
        hypothesis("deployment", "catalog", confidence=0.8), hypothesis("unknown", "catalog", confidence=0.2)
    )
    result = scored(UNKNOWN, given)
    assert (result.hit_at_1, result.hit_at_3) == (False, True)


def test_unknown_truth_has_no_onset_error_and_no_change() -> None:
    result = scored(UNKNOWN, report(hypothesis("unknown", "x"), onset="2026-11-05T11:00:00Z"))
    assert (result.onset_error_minutes, result.change_found) == (None, None)


# --- onset ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("at", "minutes"),
    [("2026-11-05T11:30:30Z", 2.5), ("2026-11-05T11:25:00+00:00", 3.0), ("2026-11-05T12:28:00+01:00", 0.0)],
)
def test_onset_error_is_the_absolute_difference_in_minutes(at: str, minutes: float) -> None:
    assert scored(DEPLOY, report(onset=at)).onset_error_minutes == pytest.approx(minutes)


def test_onset_error_is_none_when_the_report_has_no_onset_or_an_unreadable_one() -> None:
    assert scored(DEPLOY, report()).onset_error_minutes is None
    assert scored(DEPLOY, report(onset="yesterday")).onset_error_minutes is None
    assert scored(DEPLOY, report(onset="2026-11-05T11:30:00")).onset_error_minutes is None  # no offset


# --- change found --------------------------------------------------------------------------------


def test_the_change_is_found_by_its_ref_or_summary_on_the_expected_service() -> None:
    by_ref = report(changes=[change("checkout", ref="v2.4.0")])
    by_summary = report(changes=[change("prod-abc123/checkout", summary="Deployed checkout V2.4.0 (ci-bot)")])
    assert scored(DEPLOY, by_ref, change_expected=True).change_found is True
    assert scored(DEPLOY, by_summary, change_expected=True).change_found is True


def test_the_change_is_not_found_on_another_service_with_another_ref_or_without_its_distance_to_the_onset() -> None:
    for changes in (
        [change("catalog", ref="v2.4.0")],
        [change("checkout", ref="v2.3.9", summary="previous release")],
        [change("checkout", ref="v2.4.0", before=None)],
        [],
    ):
        assert scored(DEPLOY, report(changes=changes), change_expected=True).change_found is False


def test_change_found_is_none_when_the_root_cause_is_not_a_change() -> None:
    given = report(changes=[change("orders-db")])
    assert scored(DEPENDENCY, given, change_expected=False).change_found is None


def test_a_node_change_is_found_by_the_node_it_changed() -> None:
    truth = GroundTruth("infrastructure", "ip-10-0-3-17", "default-abc123", "ip-10-0-3-17", ONSET)
    node_change = change("ip-10-0-3-17", ref="i-0a7c3e9d2f14b6c81", summary="EC2 instance scheduled for retirement")
    assert scored(truth, report(changes=[node_change]), change_expected=True).change_found is True


def test_without_a_report_every_measure_is_a_miss() -> None:
    assert scored(DEPLOY, None, change_expected=True) == Score(False, False, None, False)
    assert scored(UNKNOWN, None) == Score(False, False, None, None)


@pytest.mark.parametrize(
    ("name", "applies"),
    [
        ("checkout-bad-deploy-errors", True),
        ("payments-config-timeout", True),
        ("red-herring-deploy-cart-config", True),
        ("node-failure", True),
        ("frontend-traffic-surge", False),
        ("orders-db-down", False),
        ("notifications-memory-leak", False),
        ("noisy-baseline", False),
    ],
)
def test_a_change_is_expected_when_the_root_cause_is_one_of_the_scenarios_events(name: str, applies: bool) -> None:
    assert expects_change(load_scenario(BUNDLED_DIR / f"{name}.yaml")) is applies


# --- totals --------------------------------------------------------------------------------------


def test_totals_average_over_scenarios_and_take_medians_and_percentiles_over_what_is_known() -> None:
    scores = [
        Score(True, True, 1.0, True),
        Score(False, True, 2.0, None),
        Score(True, True, None, False),
        Score(False, False, 5.0, None),
    ]
    result = totals(scores, latencies=[1.0, 2.0, 3.0, 4.0])
    assert result == {
        "scenarios": 4,
        "hit_at_1": 0.5,
        "hit_at_3": 0.75,
        "onset_error_minutes_median": 2.0,
        "change_found": 0.5,
        "latency_p50_s": 2.5,
        "latency_p95_s": 3.85,
        "reports": 4,
    }
    assert list(result)[:7] == [
        "scenarios",
        "hit_at_1",
        "hit_at_3",
        "onset_error_minutes_median",
        "change_found",
        "latency_p50_s",
        "latency_p95_s",
    ]


def test_totals_of_a_run_without_reports_say_so_with_nones() -> None:
    result = totals([Score(False, False, None, None)], latencies=[])
    assert result["hit_at_1"] == 0.0
    assert result["reports"] == 0
    assert result["onset_error_minutes_median"] is None
    assert result["change_found"] is None
    assert (result["latency_p50_s"], result["latency_p95_s"]) == (None, None)


def test_one_latency_is_its_own_p50_and_p95() -> None:
    result = totals([Score(True, True, 0.0, None)], latencies=[1.234])
    assert (result["latency_p50_s"], result["latency_p95_s"]) == (1.234, 1.234)


def test_onset_errors_are_exact_to_the_second() -> None:
    at = (ONSET + timedelta(seconds=15)).isoformat()
    assert scored(DEPLOY, report(onset=at)).onset_error_minutes == pytest.approx(0.25)
