"""The signal catalogue: which PromQL series an investigation reads for a service, and what each one means.

It is configuration, not code (SCENARIOS.md): the default `signals.toml` follows the common
metric names (`http_requests_total`, `container_*`, `kube_*`, `up`), and an agent's setting
(triage's TRIAGE_SIGNALS_FILE) replaces it for other setups. A template names the resource only through `$service` and
`$namespace`, which are escaped for a PromQL string, so a name can never change the query.
"""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from common.errors import ConfigError

__all__ = ["DEFAULT_CATALOGUE", "Signal", "SignalKind", "load_catalogue"]

DEFAULT_CATALOGUE = Path(__file__).with_name("signals.toml")
SignalKind = Literal["symptom", "traffic", "saturation", "availability"]
_PLACEHOLDER = re.compile(r"\$(\w+)")
_KNOWN = frozenset({"service", "namespace"})


class Signal(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    kind: SignalKind
    description: str = ""
    query: str = Field(min_length=1, max_length=4000)

    @field_validator("query")
    @classmethod
    def _known_placeholders(cls, query: str) -> str:
        unknown = sorted(set(_PLACEHOLDER.findall(query)) - _KNOWN)
        if unknown:
            raise ValueError(f"unknown placeholder(s) {', '.join('$' + u for u in unknown)}; use $service, $namespace")
        return query

    def render(self, service: str, namespace: str | None) -> str:
        """The query for one resource; the values are escaped as PromQL string contents."""
        values = {"service": service, "namespace": namespace or ""}
        query = _PLACEHOLDER.sub(lambda m: json.dumps(values[m.group(1)], ensure_ascii=False)[1:-1], self.query)
        if namespace is None:
            # A resource without a namespace: drop the namespace matcher rather than match "".
            query = query.replace(',namespace=""', "").replace('namespace="",', "")
        return query


class _Catalogue(BaseModel):
    model_config = ConfigDict(extra="forbid")

    signal: list[Signal] = Field(min_length=1)


def load_catalogue(path: Path | None = None, *, setting: str | None = None) -> tuple[Signal, ...]:
    """The signals of `path` (default: the bundled catalogue); ConfigError naming the problem, and for a file
    that cannot be read the `setting` that named it."""
    path = path or DEFAULT_CATALOGUE
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        named_by = "" if setting is None else f" ({setting})"
        raise ConfigError(f"Cannot read the signal catalogue {path}{named_by}: {exc.strerror}.") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"The signal catalogue {path} is not valid TOML: {exc}.") from None
    try:
        signals = _Catalogue.model_validate(document).signal
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise ConfigError(f"The signal catalogue {path} is invalid: {problems}.") from None
    names = [signal.name for signal in signals]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise ConfigError(f"The signal catalogue {path} names {', '.join(duplicates)} more than once.")
    return tuple(signals)
