"""Settings of the reference control plane (keys `CONTROLPLANE_*`, port 8710)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from common.components import COMPONENTS
from common.settings import DEFAULT_DATA_DIR, FrozenModel, ServeSettings, SettingsSource, build

__all__ = ["APPROVAL_TTL_MAX_SECONDS", "DEFAULT_PORT", "ControlPlaneSettings"]

DEFAULT_PORT = COMPONENTS["controlplane"].port
#: Approvals live at most this long (fixed: a longer-lived approval is a standing permission).
APPROVAL_TTL_MAX_SECONDS = 900
_KUBERNETES = "kubernetes_"


class ControlPlaneSettings(FrozenModel):
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
    def from_source(cls, source: SettingsSource) -> ControlPlaneSettings:
        values = COMPONENTS["controlplane"].settings_section(source)
        values["kubernetes"] = {
            key[len(_KUBERNETES) :]: values.pop(key) for key in list(values) if key.startswith(_KUBERNETES)
        }
        if (data_dir := source.get("SRE_DATA_DIR")) is not None:
            values["data_dir"] = data_dir
        values["serve"] = ServeSettings.from_source(source, default_port=DEFAULT_PORT)
        return build(cls, values, prefix="CONTROLPLANE_")
