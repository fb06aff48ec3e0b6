"""How an approved action reaches what runs: the executor interface and the recording executor.

The API has checked the approval and owns every state change and record (resource version and
replicas, the deployment row of a rollback, the automation execution, the audit row); an
executor only carries the action out on the real system, or, for `RecordingExecutor` (the
default), does nothing beyond those records, so everything runs end to end without a cluster.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

__all__ = ["ExecutionResult", "Executor", "RecordingExecutor", "Target"]


@dataclass(frozen=True)
class Target:
    """What an action acts on, as the executor needs it."""

    resource_id: str
    name: str
    namespace: str
    kind: str
    version: str | None
    replicas: int | None


@dataclass(frozen=True)
class ExecutionResult:
    ok: bool
    detail: str
    data: dict[str, Any] = field(default_factory=dict)


class Executor(Protocol):
    name: str

    async def restart(self, target: Target) -> ExecutionResult: ...

    async def rollback(self, target: Target, to_version: str) -> ExecutionResult: ...

    async def scale(self, target: Target, replicas: int) -> ExecutionResult: ...

    async def aclose(self) -> None: ...


class RecordingExecutor:
    """Changes nothing outside the control plane: the action is recorded, and the API's state changes."""

    name = "recording"

    async def restart(self, target: Target) -> ExecutionResult:
        return ExecutionResult(True, f"recorded a restart of {target.namespace}/{target.name}")

    async def rollback(self, target: Target, to_version: str) -> ExecutionResult:
        return ExecutionResult(True, f"recorded a rollback of {target.namespace}/{target.name} to {to_version}")

    async def scale(self, target: Target, replicas: int) -> ExecutionResult:
        return ExecutionResult(True, f"recorded a scale of {target.namespace}/{target.name} to {replicas} replicas")

    async def aclose(self) -> None:
        return None
