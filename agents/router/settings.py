"""Settings of the router (keys `ROUTER_*`, port 8720)."""

from __future__ import annotations

from pathlib import Path
from typing import Self

from pydantic import Field, SecretStr, field_validator, model_validator

from agents.router.grouping import GROUP_JOIN_SECONDS, GROUP_WAIT_SECONDS
from common.agents.pipeline import PipelineSettings
from common.alertmanager import MAX_ALERTS
from common.errors import ConfigError
from common.investigation.identity import ROLES, LabelAliases, checked_aliases
from common.settings import FrozenModel, ServeSettings, http_url

__all__ = ["BasicCredentials", "RouterSettings"]

#: The name the router's webhook callers authenticated by HTTP basic own their tasks under.
BASIC_OWNER = "webhook-basic"


class BasicCredentials(FrozenModel):
    username: str
    password: SecretStr


class RouterSettings(PipelineSettings):
    """`agent`: where it listens, and its database: its A2A tasks and the tasks it started (`ROUTER_TASK_STORE_URL`)."""

    component = "router"

    triage_agent: str = Field(
        default="triage",
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$",
        description="Registry name of the agent that investigates alerts and deployment events.",
    )
    triage_url: str | None = Field(
        default=None, description="The triage agent's A2A URL, used instead of looking it up in the registry."
    )
    webhook_basic_username: str | None = Field(
        default=None,
        min_length=1,
        description="HTTP basic user the webhooks accept besides bearer tokens (Alertmanager's `basic_auth`); "
        "unset: bearer tokens only.",
    )
    webhook_basic_password_file: Path | None = Field(
        default=None, description="File holding that user's password (required with the user name)."
    )
    max_body_bytes: int = Field(
        default=1024 * 1024, ge=1024, description="Largest webhook or REST request body (413 above)."
    )
    max_alerts: int = Field(
        default=MAX_ALERTS, ge=1, le=MAX_ALERTS, description="Most alerts one payload may carry (413 above)."
    )
    dedup_ttl_seconds: float = Field(
        default=4 * 3600.0,
        gt=0,
        description="A webhook delivery re-sent within this long answers with the task it already started.",
    )
    peer_timeout_seconds: float = Field(
        default=30.0,
        gt=0,
        le=300,
        description="How long the router waits for an agent or the registry to connect, start a task for /execute "
        "or the route skill, or read one (504 past it); a queued delivery waits ROUTER_DELIVERY_TIMEOUT_SECONDS, a "
        "followed stream between events regardless.",
    )
    delivery_timeout_seconds: float = Field(
        default=120.0,
        gt=0,
        le=3600,
        description="How long the router waits for triage to take a queued webhook or /diagnostics delivery "
        "(nobody waits for it; past it the task is failed, not re-sent, so that it never runs twice).",
    )
    delivery_max_age_seconds: float = Field(
        default=600.0,
        gt=0,
        description="How long a queued delivery is retried (with back-off) while triage cannot be reached; "
        "then its task is failed with the reason.",
    )
    delivery_concurrency: int = Field(
        default=8, ge=1, le=256, description="Queued deliveries this replica sends to triage at once."
    )
    delivery_lease_seconds: float = Field(
        default=30.0,
        ge=1,
        le=3600,
        description="How long a replica's claim on a queued delivery lasts unless renewed (it is renewed while "
        "the delivery is sent); a replica that died leaves its deliveries to another after this long.",
    )
    delivery_poll_seconds: float = Field(
        default=2.0,
        gt=0,
        le=300,
        description="How often a replica looks in the task store for deliveries to send besides those it records "
        "itself: other replicas', retries that fell due, claims whose lease ran out.",
    )
    max_pending_deliveries: int = Field(
        default=500,
        ge=1,
        description="Deliveries waiting to be sent to triage (every replica's) past which the webhooks refuse new "
        "ones with 429 and Retry-After (Alertmanager retries them). It bounds how long a page waits behind a busy "
        "triage (a busy triage never ages a delivery out): 500 is about 8 minutes at one investigation a second.",
    )
    group_wait_seconds: float = Field(
        default=GROUP_WAIT_SECONDS,
        ge=0,
        le=300,
        description="How long an Alertmanager delivery waits for related ones before they are planned as groups "
        "(one investigation of the service the others depend on, read from controlplane-mcp with the router's "
        "client, which then needs controlplane:read); 0: no grouping, each delivery is sent at once.",
    )
    group_join_seconds: float = Field(
        default=GROUP_JOIN_SECONDS,
        ge=0,
        le=24 * 3600,
        description="How long after an outage's investigation was started a page of that outage planned later (it "
        "arrived after the group wait, or another replica planned it) joins it instead of starting another, while "
        "it runs (or ended less than the group wait before the page came); a later page starts a new investigation "
        "(a recurrence). Ten minutes covers a page that waited behind a busy triage and Alertmanager's next "
        "notification (group_interval, 5 min). "
        "0: late pages are never joined.",
    )
    label_aliases: str | None = Field(
        default=None,
        description=(
            "Extra label names by role, read to find what an alert is about when grouping (as "
            "TRIAGE_LABEL_ALIASES, and best set the same): `role=label,label;role=...`, e.g. "
            f"`service=app_name;namespace=k8s_ns`. Roles: {', '.join(ROLES)}, namespace; `object_exporter=` and "
            "`node_exporter=` add jobs whose series describe other objects or their host."
        ),
    )
    model: str | None = Field(default=None, description="SRE_MODEL (routing stays deterministic for now).")

    _aliases_read = field_validator("label_aliases")(checked_aliases)

    @property
    def aliases(self) -> LabelAliases:
        return LabelAliases.parse(self.label_aliases or "")

    @field_validator("triage_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        return None if value is None else http_url(value)

    @model_validator(mode="after")
    def _basic_pair(self) -> Self:
        if (self.webhook_basic_username is None) != (self.webhook_basic_password_file is None):
            raise ValueError(
                "set both ROUTER_WEBHOOK_BASIC_USERNAME and ROUTER_WEBHOOK_BASIC_PASSWORD_FILE, or neither"
            )
        return self

    @property
    def serve(self) -> ServeSettings:
        return self.agent.serve

    def basic_credentials(self) -> BasicCredentials | None:
        """The webhook's basic credentials, the password read from its file; ConfigError when unreadable or empty."""
        if self.webhook_basic_username is None or self.webhook_basic_password_file is None:
            return None
        path = self.webhook_basic_password_file
        try:
            password = path.read_text(encoding="utf-8").strip("\r\n")
        except OSError as exc:
            raise ConfigError(
                f"Cannot read ROUTER_WEBHOOK_BASIC_PASSWORD_FILE {path}: {exc.strerror or exc}."
            ) from None
        if not password:
            raise ConfigError(f"ROUTER_WEBHOOK_BASIC_PASSWORD_FILE {path} is empty: write the password in it.")
        return BasicCredentials(username=self.webhook_basic_username, password=SecretStr(password))
