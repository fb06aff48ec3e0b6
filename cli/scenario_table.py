"""The human output of `sre scenario run`: a row per scenario as it finishes, then the totals line.

`--json` prints each `ScenarioResult.to_json()` and the totals instead (`cli.scenario`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from scenarios import Scenario
    from scenarios.run import RunSummary, ScenarioResult

__all__ = ["ResultTable", "totals_line"]


class ResultTable:
    """The human output: a row per scenario as it finishes, widths fixed up front."""

    _TOP = 40

    def __init__(self, scenarios: list[Scenario]) -> None:
        self._name = max([len(s.name) for s in scenarios] + [len("SCENARIO")])
        self._expected = max(
            [len(_cause(c.kind, c.service, c.ref)) for c in (s.expected.root_cause for s in scenarios)]
            + [len("EXPECTED")]
        )

    def header(self) -> None:
        print(
            self._line(
                "SCENARIO", "EXPECTED", "TOP HYPOTHESIS (CONFIDENCE)", "@1", "@3", "ONSET±MIN", "CHANGE", "SECONDS"
            )
        )

    def row(self, result: ScenarioResult) -> str:
        truth, score, top = result.expected, result.score, result.top
        if top is not None:
            confidence = top["confidence"]
            shown = f"{confidence:.2f}" if isinstance(confidence, int | float) else "?"
            described = f"{_cause(top['kind'], top['resource'], top['ref'])} ({shown})"
        else:
            described = "-" if result.report is None else "(no hypothesis)"
        reported = result.report is not None
        return self._line(
            result.name,
            _cause(truth.kind, truth.service, truth.ref),
            described,
            _yes(score.hit_at_1) if reported else "-",
            _yes(score.hit_at_3) if reported else "-",
            _number(score.onset_error_minutes, 1),
            _yes(score.change_found),
            _number(result.latency_s, 1),
        )

    def _line(self, name: str, expected: str, top: str, *figures: str) -> str:
        at_1, at_3, onset, change, latency = figures
        return (
            f"{name:{self._name}}  {expected:{self._expected}}  {top:{self._TOP}}  "
            f"{at_1:3}  {at_3:3}  {onset:>9}  {change:6}  {latency:>7}"
        ).rstrip()


def _cause(kind: object, service: object, ref: object) -> str:
    return " ".join(str(part) for part in (kind, service, ref) if part)


def _yes(value: bool | None) -> str:
    return "-" if value is None else ("yes" if value else "no")


def _number(value: float | None, digits: int) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def totals_line(summary: RunSummary) -> str:
    totals: dict[str, Any] = summary.totals

    def figure(key: str, digits: int = 2, unit: str = "") -> str:
        value = totals[key]
        return "-" if value is None else f"{value:.{digits}f}{unit}"

    return (
        f"total: {totals['scenarios']} scenarios, {totals['reports']} reports; hit@1 {figure('hit_at_1')}, "
        f"hit@3 {figure('hit_at_3')}, onset error median {figure('onset_error_minutes_median', 1, ' min')}, "
        f"change found {figure('change_found')}, latency p50 {figure('latency_p50_s', 1, ' s')}, "
        f"p95 {figure('latency_p95_s', 1, ' s')}"
    )
