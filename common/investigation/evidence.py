"""The evidence an investigation collects, numbered as it comes (`e1`, `e2`, ...), and the sources that failed."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from common.diagnostic_report import Evidence, Source, SourceFailure
from common.errors import BackendError

__all__ = ["EvidenceLog", "at"]


def at(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


class EvidenceLog:
    def __init__(self) -> None:
        self.items: list[Evidence] = []
        self.failures: dict[str, list[str]] = {}

    def add(
        self,
        source: Source,
        query: str,
        summary: str,
        *,
        start: float | None = None,
        end: float | None = None,
        data: dict[str, Any] | None = None,
    ) -> str:
        evidence_id = f"e{len(self.items) + 1}"
        self.items.append(
            Evidence(
                id=evidence_id,
                source=source,
                query=query,
                start=None if start is None else at(start),
                end=None if end is None else at(end),
                summary=summary,
                data=data or {},
            )
        )
        return evidence_id

    def unavailable(self, servers: Mapping[str, str]) -> None:
        """The servers that could not be reached at all (a toolbox's `unavailable`), each with its reason."""
        for server, reason in servers.items():
            self.failures.setdefault(server, []).append(reason)

    def failed(self, server: str, what: str, error: BackendError) -> None:
        """`what` (e.g. "error_ratio of payments") could not be read from `server`."""
        self.failures.setdefault(server, []).append(f"{what}: {error}")

    def degraded(self) -> list[SourceFailure]:
        return [
            SourceFailure(
                source=server,
                reason=reasons[0] if len(reasons) == 1 else f"{reasons[0]} (and {len(reasons) - 1} more)",
            )
            for server, reasons in sorted(self.failures.items())
        ]
