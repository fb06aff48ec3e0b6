"""Settings of the reference control plane (keys `CONTROLPLANE_*`, port 8710)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from common.settings import DEFAULT_DATA_DIR, ComponentSettings, ServeSettings, SettingsSource

__all__ = ["APPROVAL_TTL_MAX_SECONDS", "ControlPlaneSettings"]

#: Approvals live at most this long (fixed: a longer-lived approval is a standing permission).
APPROVAL_TTL_MAX_SECONDS = 900
_KUBERNETES = "kubernetes_"


class ControlPlaneSettings(ComponentSettings):
    component = "controlplane"

    serve: ServeSettings
    data_dir: Path = Field(default=Path(DEFAULT_DATA_DIR), description="SRE_DATA_DIR: the SQLite database.")
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy async URL (postgresql+asyncpg://...); unset: SQLite in SRE_DATA_DIR/controlplane.db.",
    )
    executor: Literal["recording", "kubernetes"] = Field(
        default="recording",
        description="What carries approved actions out: `recording` (records and state only) or `kubernetes`.",
    )
    approval_ttl_seconds: int = Field(
        default=APPROVAL_TTL_MAX_SECONDS,
        ge=1,
        le=APPROVAL_TTL_MAX_SECONDS,
        description="How long an approval lives unless its request asks for less (at most 900 s).",
    )
    kubernetes: dict[str, Any] = Field(
        default_factory=dict,
        description="`CONTROLPLANE_KUBERNETES_*` keys, passed to the Kubernetes executor as they are.",
    )

    @property
    def database(self) -> str:
        return self.database_url or f"sqlite+aiosqlite:///{self.data_dir / 'controlplane.db'}"

    @classmethod
    def outside_values(cls, source: SettingsSource, section: dict[str, Any]) -> dict[str, Any]:
        # Passed to the Kubernetes executor as they are: it checks them when it is the one chosen.
        kubernetes = {key[len(_KUBERNETES) :]: section.pop(key) for key in list(section) if key.startswith(_KUBERNETES)}
        return {**super().outside_values(source, section), "kubernetes": kubernetes}
