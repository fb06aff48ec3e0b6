"""Counting log templates over a window, and finding those that rose against a baseline.

Lines are mined with one `TemplateMiner` for both windows, so a template seen in the baseline
and again now has one id. A template "rose" when its count in the current window is improbably
high for its baseline rate: with the baseline rate r (lines/s) and a current window of T seconds,
a Poisson count would be about rT; the score is (count - rT) / sqrt(rT + 1), so a template that
went from 0 to 3 lines scores below one that went from 0 to 300, and a steady chatty template
scores near zero however many lines it has.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from analysis.templates import TemplateMiner

__all__ = [
    "ERROR_LEVELS",
    "RisingTemplate",
    "TemplateCount",
    "TemplateCounter",
    "count_templates",
    "is_error",
    "rising_templates",
]

ERROR_LEVELS = frozenset(
    {"error", "err", "fatal", "critical", "crit", "panic", "emerg", "emergency", "alert", "severe"}
)
LEVEL_LABELS = ("level", "severity", "detected_level", "lvl", "loglevel")
_ERROR_WORDS = re.compile(
    r"(?i)\b(?:error|errors|exception|fatal|panic|fail(?:ed|ure|ing)?|refused|timed?[ -]?out|denied|"
    r"unavailable|traceback|oom|out of memory|killed|unreachable|crash(?:ed)?)\b"
)
EXAMPLES_KEPT = 3


@dataclass
class TemplateCount:
    template_id: str
    template: str
    count: int = 0
    errors: int = 0
    first_ns: int | None = None
    last_ns: int | None = None
    examples: list[str] = field(default_factory=list)

    def add(self, timestamp_ns: int | None, line: str, error: bool) -> None:
        self.count += 1
        self.errors += error
        if timestamp_ns is not None:
            self.first_ns = timestamp_ns if self.first_ns is None else min(self.first_ns, timestamp_ns)
            self.last_ns = timestamp_ns if self.last_ns is None else max(self.last_ns, timestamp_ns)
        if len(self.examples) < EXAMPLES_KEPT and line not in self.examples:
            self.examples.append(line)

    @property
    def is_error(self) -> bool:
        """Most of its lines are errors (by level or wording)."""
        return self.errors * 2 > self.count


@dataclass(frozen=True)
class RisingTemplate:
    template_id: str
    template: str
    baseline_count: int
    current_count: int
    baseline_per_minute: float
    current_per_minute: float
    new: bool
    score: float
    is_error: bool
    first_seen_ns: int | None
    examples: tuple[str, ...]


def is_error(line: str, labels: Mapping[str, str]) -> bool:
    """An error line: its level label says so, or (without a level) its wording does."""
    for name in LEVEL_LABELS:
        level = labels.get(name)
        if level:
            return level.lower() in ERROR_LEVELS
    return _ERROR_WORDS.search(line) is not None


class TemplateCounter:
    """Mines lines one at a time and counts them per template."""

    def __init__(self, miner: TemplateMiner) -> None:
        self.miner = miner
        self.counts: dict[str, TemplateCount] = {}

    def add(self, timestamp_ns: int | None, message: str, line: str, labels: Mapping[str, str]) -> str:
        """Count one line (its time, the text to mine, the line to show, its labels); returns its template id."""
        match = self.miner.add(message)
        entry = self.counts.get(match.template_id)
        if entry is None:
            entry = self.counts[match.template_id] = TemplateCount(match.template_id, match.template)
        entry.add(timestamp_ns, line, is_error(line, labels))
        return match.template_id

    def result(self) -> dict[str, TemplateCount]:
        """The counts, each with the template its cluster has now, so it reads the same for all its lines."""
        current = {template.id: template.template for template in self.miner.templates()}
        for entry in self.counts.values():
            entry.template = current.get(entry.template_id, entry.template)
        return self.counts


def count_templates(
    miner: TemplateMiner, entries: Iterable[tuple[int | None, str, str, Mapping[str, str]]]
) -> dict[str, TemplateCount]:
    """Templates of `entries` (timestamp ns, text to mine, line to show, labels), by template id."""
    counter = TemplateCounter(miner)
    for entry in entries:
        counter.add(*entry)
    return counter.result()


def rising_templates(
    baseline: Mapping[str, TemplateCount],
    current: Mapping[str, TemplateCount],
    *,
    baseline_seconds: float,
    current_seconds: float,
    min_count: int = 2,
    min_score: float = 2.0,
) -> list[RisingTemplate]:
    """Templates whose current count is improbably high for their baseline rate, highest score first."""
    rising = []
    for template_id, now in current.items():
        before = baseline.get(template_id)
        before_count = before.count if before else 0
        expected = before_count / baseline_seconds * current_seconds
        score = (now.count - expected) / math.sqrt(expected + 1.0)
        if now.count < min_count or score < min_score:
            continue
        rising.append(
            RisingTemplate(
                template_id=template_id,
                template=now.template,
                baseline_count=before_count,
                current_count=now.count,
                baseline_per_minute=before_count / baseline_seconds * 60,
                current_per_minute=now.count / current_seconds * 60,
                new=before_count == 0,
                score=round(score, 3),
                is_error=now.is_error,
                first_seen_ns=now.first_ns,
                examples=tuple(now.examples),
            )
        )
    rising.sort(key=lambda r: (-r.score, r.template_id))
    return rising
