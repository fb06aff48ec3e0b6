"""Settings of the registry and its embedded authorization server (keys `REGISTRY_*`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, StringConstraints
from sqlalchemy.engine import make_url

from common.settings import DEFAULT_DATA_DIR, ComponentSettings, ServeSettings
from registry.models import NAME_PATTERN

__all__ = ["RegistrySettings"]


#: An entry's name, or a client id: `registry.clients` allows client names of the same form.
Name = Annotated[str, StringConstraints(pattern=NAME_PATTERN)]


class RegistrySettings(ComponentSettings):
    component = "registry"

    serve: ServeSettings
    data_dir: Path = Field(default=Path(DEFAULT_DATA_DIR), description="SRE_DATA_DIR: keys, clients, database.")
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy async URL (postgresql+asyncpg://...); unset: SQLite in SRE_DATA_DIR/registry.db.",
    )
    clients_file: Path | None = Field(
        default=None, description="TOML file of OAuth clients; unset: SRE_DATA_DIR/clients.toml."
    )
    auth_storage: Literal["auto", "files", "database"] = Field(
        default="auto",
        description=(
            "Where the authorization server keeps its signing keys and OAuth clients: `files` (SRE_DATA_DIR/keys "
            "and the clients file, one registry process), `database` (tables `signing_keys` and `oauth_clients` "
            "of the registry's database, shared by every replica; whoever can read that database can sign "
            "tokens), or `auto`: `database` when the database is PostgreSQL, else `files`."
        ),
    )
    auth_refresh_seconds: float = Field(
        default=5.0,
        gt=0,
        le=20,
        description=(
            "With keys and clients in the database: how often each replica re-reads them. A client added or "
            "removed, or a key rotated, with `sre auth` takes effect on every replica within this time (keep it "
            "well under the key publication delay minus verifiers' 30 s JWKS cooldown)."
        ),
    )
    token_ttl_seconds: int = Field(default=600, ge=300, le=900, description="Lifetime of issued access tokens.")
    signing_algorithm: Literal["RS256", "ES256"] = Field(default="RS256", description="Signature of issued tokens.")
    key_publish_delay_seconds: float = Field(
        default=60.0,
        ge=0,
        description="A rotated-in key is published this long before it signs (beyond verifiers' JWKS cooldown).",
    )
    resources: tuple[str, ...] = Field(
        default=(),
        description="Audiences tokens may be issued for besides registered servers and agents (canonical URLs).",
    )
    token_requests_per_minute: int = Field(
        default=60,
        ge=1,
        description=(
            "Token requests of an authenticated client, per minute (429 above, for it only). Counted by each "
            "replica on its own: N replicas behind a load balancer admit up to N times this."
        ),
    )
    token_failures_per_minute: int = Field(
        default=10,
        ge=1,
        description=(
            "Failed client authentications allowed per claimed client id and per address, per minute. Above it, "
            "that client id is refused (429), and so are unknown client ids from that address; other clients "
            "from the address still get tokens. Counted per replica, like the requests."
        ),
    )
    reserved_names: dict[Name, Name] = Field(
        default_factory=dict,
        description=(
            "Registry names reserved for one client each, as a JSON object of name to client id (a TOML table "
            "in the file): only that client (or a `registry:admin` one) may register, change or delete an agent "
            "or server of that name. `sre up` reserves each component's name for its own client."
        ),
    )
    health_interval_seconds: float = Field(default=15.0, gt=0, description="How often entries are probed.")
    stale_after_seconds: float = Field(
        default=300.0, gt=0, description="Entries not re-registered nor healthy for this long expire."
    )

    @property
    def issuer(self) -> str:
        return self.serve.base_url

    @property
    def database(self) -> str:
        return self.database_url or f"sqlite+aiosqlite:///{self.data_dir / 'registry.db'}"

    @property
    def auth_in_database(self) -> bool:
        """Whether signing keys and OAuth clients live in the registry's database (`auth_storage`)."""
        if self.auth_storage == "auto":
            return make_url(self.database).get_backend_name() == "postgresql"
        return self.auth_storage == "database"

    @property
    def clients_path(self) -> Path:
        return self.clients_file or self.data_dir / "clients.toml"

    @property
    def keys_dir(self) -> Path:
        return self.data_dir / "keys"
