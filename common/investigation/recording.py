"""Recording a report in the control plane as an analysis people and tools find (`controlplane_record_analysis`)."""

from __future__ import annotations

from common.contracts.controlplane import AnalysisResult, ControlplaneMcp
from common.diagnostic_report import DiagnosticReport, SourceFailure
from common.errors import BackendError
from common.investigation.sources import CONTROLPLANE
from common.mcp.toolbox import Toolbox

__all__ = ["record"]


async def record(report: DiagnosticReport, toolbox: Toolbox) -> AnalysisResult | None:
    """The report recorded as a diagnostic analysis (its id and URL); None, and the report degraded, when that
    failed: the report itself still stands."""
    top = report.hypotheses[0] if report.hypotheses else None
    title = f"{report.scope.service}: " + (
        f"{top.kind} on {top.target.resource} ({top.confidence:.0%})" if top is not None else "no cause found"
    )
    try:
        return await ControlplaneMcp(toolbox).record_analysis(
            "diagnostic",
            title=title,
            summary=report.trigger.summary[:2000],
            report=report.model_dump(mode="json"),
            markdown=report.to_markdown(),
        )
    except BackendError as exc:
        report.degraded.append(SourceFailure(source=CONTROLPLANE, reason=f"recording the report failed: {exc}"))
        return None
