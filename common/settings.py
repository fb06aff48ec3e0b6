"""Settings: frozen models built once from the environment and an optional TOML file.

Keys are environment variable names (`PROMETHEUS_URL`, `PROMETHEUS_MCP_MAX_SERIES`). The TOML
file named by `SRE_CONFIG` may set the same keys, flat (`PROMETHEUS_URL = "..."`) or in a table
named after the prefix (`[prometheus_mcp]` / `max_series = 50`); the environment wins. A
component reads the keys of its prefix with `section()` and validates them into its model, so
an unknown or malformed key is a `ConfigError` naming the key, not a silent default.

Every component's settings model is a `ComponentSettings`: one loader maps its prefixed keys
into its fields, nested groups included, and the shared serving keys (`SRE_*`) into `serve`.

Secrets are `SecretStr` and print as `**********`.
"""

from __future__ import annotations

import ipaddress
import json
import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal, Self, TypeVar
from urllib.parse import urlsplit

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

from common.components import COMPONENTS
from common.errors import ConfigError

__all__ = [
    "DEFAULT_DATA_DIR",
    "DEFAULT_REGISTRY_URL",
    "AuthConfig",
    "Backends",
    "ClientIdentity",
    "ComponentSettings",
    "FrozenModel",
    "ServeSettings",
    "SettingsSource",
    "Upstream",
    "build",
    "decode_json_text",
    "http_url",
    "is_loopback",
    "pop_backends",
]

DEFAULT_REGISTRY_URL = f"http://127.0.0.1:{COMPONENTS['registry'].port}"
DEFAULT_DATA_DIR = ".sre"

ModelT = TypeVar("ModelT", bound=BaseModel)


class FrozenModel(BaseModel):
    """Base of every settings model: immutable, unknown keys rejected."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class SettingsSource:
    """The merged view of the TOML file and the environment, keyed by upper-case names."""

    def __init__(self, values: Mapping[str, Any]) -> None:
        self._values = {key.upper(): value for key, value in values.items()}

    @classmethod
    def load(cls, environ: Mapping[str, str] | None = None) -> SettingsSource:
        environ = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        config_file = environ.get("SRE_CONFIG")
        if config_file:
            values.update(_read_toml(Path(config_file)))
        values.update({key.upper(): value for key, value in environ.items()})
        return cls(values)

    def with_overrides(self, overrides: Mapping[str, Any]) -> SettingsSource:
        return SettingsSource({**self._values, **overrides})

    def get(self, key: str, default: Any = None) -> Any:
        return self._values.get(key.upper(), default)

    def section(self, prefix: str) -> dict[str, Any]:
        """Keys starting with `prefix`, the prefix removed and lower-cased (`PROMETHEUS_MCP_X` -> `x`)."""
        prefix = prefix.upper()
        return {
            key[len(prefix) :].lower(): decode_json_text(value)
            for key, value in self._values.items()
            if key.startswith(prefix) and len(key) > len(prefix)
        }


def build(model: type[ModelT], values: Mapping[str, Any], *, prefix: str = "") -> ModelT:
    """Validate `values` into `model`, turning a validation error into a `ConfigError` naming the keys."""
    try:
        return model.model_validate(dict(values))
    except ValidationError as exc:
        problems = "; ".join(
            f"{prefix}{'_'.join(str(part) for part in error['loc']).upper()}: {error['msg']}" for error in exc.errors()
        )
        raise ConfigError(f"Invalid configuration for {model.__name__}: {problems}.") from None


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class Upstream(FrozenModel):
    """One backend a server talks to, with the credentials it presents there."""

    name: str = Field(default="default", description="Name tools use to pick this backend.")
    url: str = Field(
        description="Base URL of the backend's HTTP API (in a backends list; else PROMETHEUS_URL or LOKI_URL)."
    )
    bearer_token: SecretStr | None = Field(default=None, description="Sent as `Authorization: Bearer ...`.")
    username: str | None = Field(default=None, description="Basic auth user name.")
    password: SecretStr | None = Field(default=None, description="Basic auth password.")
    tenant: str | None = Field(default=None, description="Sent as X-Scope-OrgID (Thanos, Mimir, Cortex, Loki).")
    headers: dict[str, SecretStr] = Field(default_factory=dict, description="Extra request headers (JSON object).")
    ca_file: Path | None = Field(default=None, description="CA bundle to verify the backend's TLS certificate.")
    cert_file: Path | None = Field(default=None, description="Client certificate for mutual TLS.")
    key_file: Path | None = Field(default=None, description="Private key of the client certificate.")
    insecure_skip_verify: bool = Field(default=False, description="Skip TLS verification (testing only).")

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        return http_url(value)


def _unique_names(backends: tuple[Upstream, ...]) -> tuple[Upstream, ...]:
    names = [backend.name for backend in backends]
    if len(set(names)) != len(names):
        raise ValueError(f"backend names must be unique, got {names}")
    return backends


#: A server's backends: tools name one by its `name`, so names are unique.
Backends = Annotated[tuple[Upstream, ...], AfterValidator(_unique_names)]


def http_url(value: str) -> str:
    """`value` without a trailing slash, or ValueError when it is not an http(s) URL (for validators).

    A user name or password in the URL is refused: URLs are logged, shown in errors and stored
    (the registry shows its entries to every caller), so credentials go in their own settings.
    """
    parts = urlsplit(value)
    if "@" in parts.netloc:
        # The value is not echoed: it holds a credential.
        raise ValueError(
            "the URL holds a user name or password (user@host); remove them, since URLs are logged and shown to "
            "others: credentials have settings of their own"
        )
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"expected an http(s) URL, got {value!r}")
    return value.rstrip("/")


def pop_backends(section: dict[str, Any], url: str | None, *, prefix: str, url_key: str) -> list[Any]:
    """Take a component's backends out of its settings `section` (keys without `prefix`).

    Either an explicit list (`<prefix>BACKENDS`, JSON in the environment) or one backend from flat
    keys: the URL plus `<prefix>BEARER_TOKEN`, `<prefix>TENANT`, ... Empty when neither is set.
    """
    backends = section.pop("backends", None)
    flat_keys = set(Upstream.model_fields) - {"name", "url"}
    flat = {key: section.pop(key) for key in list(section) if key in flat_keys}
    if backends is not None:
        if not isinstance(backends, list):
            raise ConfigError(f"{prefix}BACKENDS must be a list of backends (JSON in the environment).")
        if flat:
            keys = ", ".join(f"{prefix}{key.upper()}" for key in sorted(flat))
            raise ConfigError(f"{keys} cannot be combined with {prefix}BACKENDS: set them on each backend instead.")
        return backends
    if url is None:
        if flat:
            keys = ", ".join(f"{prefix}{key.upper()}" for key in sorted(flat))
            raise ConfigError(f"{keys} configure a backend, but {url_key} is not set. Set {url_key} as well.")
        return []
    return [{**flat, "url": url}]


class AuthConfig(FrozenModel):
    """How an HTTP surface validates the bearer tokens it receives (keys `SRE_AUTH_*`)."""

    issuer: str | None = Field(default=None, description="Token issuer; unset: the registry's embedded server.")
    jwks_url: str | None = Field(default=None, description="JWKS location; unset: `<issuer>/jwks.json`.")
    profile: Literal["rfc9068", "keycloak"] = Field(
        default="rfc9068", description="`rfc9068` (typ at+jwt, the embedded server) or `keycloak` (typ Bearer, azp)."
    )
    algorithms: tuple[str, ...] = Field(default=("RS256", "ES256"), description="Accepted signature algorithms.")
    leeway_seconds: int = Field(default=30, ge=0, le=60, description="Clock skew tolerated on exp/nbf (at most 60).")
    jwks_refetch_cooldown_seconds: float = Field(
        default=30.0, gt=0, description="Least time between two JWKS fetches caused by unknown key ids."
    )
    disabled: bool = Field(
        default=False,
        description="Serve without authentication. Refused unless the server binds a loopback address.",
    )


class ClientIdentity(FrozenModel):
    """The component's own OAuth client, to get tokens for calling others (keys `SRE_CLIENT_*`)."""

    id: str = Field(description="SRE_CLIENT_ID")
    secret: SecretStr = Field(description="SRE_CLIENT_SECRET")
    token_url: str | None = Field(default=None, description="Token endpoint; unset: `<issuer>/oauth/token`.")

    @classmethod
    def from_source(cls, source: SettingsSource) -> ClientIdentity | None:
        """None when the component has no client configured (it then calls nothing that needs one)."""
        values = source.section("SRE_CLIENT_")
        if not values:
            return None
        return build(cls, values, prefix="SRE_CLIENT_")


class ServeSettings(FrozenModel):
    """Where an HTTP component listens and the canonical URL it is known by."""

    host: str = "127.0.0.1"
    port: int = Field(ge=0, le=65535)
    public_url: str | None = Field(default=None, description="Canonical base URL; unset: http://HOST:PORT.")
    max_body_bytes: int = 1024 * 1024
    requests_per_second: int = Field(default=200, ge=1, description="Requests allowed per caller, per second.")
    reuse_port: bool = Field(
        default=False,
        description="Bind with SO_REUSEPORT (Linux): several processes of the component share HOST:PORT and the "
        "kernel spreads connections among them (replicas of an agent on one host).",
    )
    name: str | None = Field(default=None, description="Name registered in the registry; unset: the component's.")
    registry_url: str = DEFAULT_REGISTRY_URL
    auth: AuthConfig = Field(default_factory=AuthConfig)
    identity: ClientIdentity | None = Field(default=None, description="Own OAuth client (SRE_CLIENT_*).")

    @property
    def base_url(self) -> str:
        if self.public_url:
            return self.public_url.rstrip("/")
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @classmethod
    def from_source(cls, source: SettingsSource, *, default_port: int) -> ServeSettings:
        values: dict[str, Any] = {"port": default_port}
        for key in ("host", "port", "public_url", "max_body_bytes", "requests_per_second", "reuse_port", "name"):
            if (value := source.get(f"SRE_{key}")) is not None:
                values[key] = value
        registry_url = str(source.get("REGISTRY_URL") or DEFAULT_REGISTRY_URL).rstrip("/")
        auth = build(AuthConfig, source.section("SRE_AUTH_"), prefix="SRE_AUTH_")
        if auth.issuer is None:
            auth = auth.model_copy(update={"issuer": registry_url})
        values |= {"auth": auth, "registry_url": registry_url, "identity": ClientIdentity.from_source(source)}
        return build(cls, values, prefix="SRE_")


class ComponentSettings(FrozenModel):
    """A component's settings, read by one loader from the keys of its prefix (`COMPONENTS[component]`).

    `from_source` maps `<PREFIX><FIELD>` to each field; a field that is a settings group (a
    `FrozenModel`, such as `limits`) takes its own fields' keys, `PROMETHEUS_MCP_MAX_SERIES` for
    `limits.max_series`, or `<PREFIX><GROUP>_<FIELD>` for a group listed in `named_groups`
    (`LOKI_MCP_LOCAL_PATH`). A key under the prefix that names no setting is refused, naming it,
    so a typo is not a silent default. Values that come from elsewhere (the shared `SRE_*` keys,
    or keys of a shape of their own) are `outside_values`, the one hook.
    """

    #: The component whose record (`common.components`) gives the prefix and the default port.
    component: ClassVar[str]
    #: Groups whose keys carry the group's name (`LOKI_MCP_LOCAL_PATH`); the others' keys do not.
    named_groups: ClassVar[frozenset[str]] = frozenset()

    @classmethod
    def from_source(cls, source: SettingsSource) -> Self:
        component = COMPONENTS[cls.component]
        section = component.settings_section(source)
        values = cls.outside_values(source, section)
        for name, group in cls._groups():
            if isinstance(values.get(name), BaseModel):
                continue
            key_prefix = f"{name}_" if name in cls.named_groups else ""
            keys = {key: key[len(key_prefix) :] for key in section if key.startswith(key_prefix)}
            picked = {field: section.pop(key) for key, field in keys.items() if field in group.model_fields}
            values[name] = build(
                group, {**values.get(name, {}), **picked}, prefix=component.prefix + key_prefix.upper()
            )
        unknown = sorted(key for key in section if key not in cls.model_fields or key in values)
        if unknown:
            keys_text = ", ".join(f"{component.prefix}{key.upper()}" for key in unknown)
            raise ConfigError(f"Unknown {component.name} setting(s): {keys_text}. See docs/configuration.md.")
        return build(cls, {**section, **values}, prefix=component.prefix)

    @classmethod
    def outside_values(cls, source: SettingsSource, section: dict[str, Any]) -> dict[str, Any]:
        """Values not read from the prefixed keys: `serve` from the shared `SRE_*` keys, `data_dir` from
        `SRE_DATA_DIR`. A component whose keys have a shape of their own (several backends, say) extends it,
        popping from `section` the keys it takes. For a group it returns a model (taken as it is) or a
        mapping: that group's defaults, which its keys override."""
        component = COMPONENTS[cls.component]
        values: dict[str, Any] = {}
        if "serve" in cls.model_fields:
            values["serve"] = ServeSettings.from_source(source, default_port=component.port)
        if "data_dir" in cls.model_fields:
            values["data_dir"] = source.get("SRE_DATA_DIR") or DEFAULT_DATA_DIR
        return values

    @classmethod
    def _groups(cls) -> list[tuple[str, type[FrozenModel]]]:
        return [
            (name, field.annotation)
            for name, field in cls.model_fields.items()
            if isinstance(field.annotation, type) and issubclass(field.annotation, FrozenModel)
        ]


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"Cannot read the configuration file {path} named by SRE_CONFIG: {exc.strerror}.") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"The configuration file {path} is not valid TOML: {exc}.") from None
    flat: dict[str, Any] = {}
    for key, value in document.items():
        if isinstance(value, dict):
            # A table is a prefix: [prometheus_mcp] max_series = 5 -> PROMETHEUS_MCP_MAX_SERIES.
            for inner, inner_value in value.items():
                flat[f"{key}_{inner}".upper()] = inner_value
        else:
            flat[key.upper()] = value
    return flat


def decode_json_text(value: Any) -> Any:
    """A list or object sent as JSON text (environment values, some MCP clients' arguments), decoded."""
    if isinstance(value, str) and value[:1] in ("[", "{"):
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value
    return value
