"""The signal catalogue: which PromQL series an investigation reads for a resource, and what each one means.

It is configuration, not code (SCENARIOS.md): the bundled profiles (`profiles/*.toml`, chosen by
`catalogue.CatalogueSource` from the metrics Prometheus has) cover the common exporters and
instrumentations, and an agent's setting (triage's TRIAGE_SIGNALS_FILE) replaces them for other
setups. A template names the resource through `$selector`, the label matchers that select its
series in the signal's label scheme (`labels`, `identity.matchers`), or through `$service` and
`$namespace`; every value is escaped for a PromQL string, so a name can never change the query.
"""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path
from typing import Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from common.errors import ConfigError
from common.investigation.identity import SCHEMES, matchers
from common.investigation.scope import Resource

__all__ = ["Signal", "SignalKind", "load_catalogue", "load_signals"]

SignalKind = Literal["symptom", "traffic", "saturation", "availability"]
M = TypeVar("M", bound=BaseModel)
_PLACEHOLDER = re.compile(r"\$(\w+)")
# A metric's selector naming the resource: `http_requests_total{$selector,code=~"5.."}`.
_SELECTED_METRIC = re.compile(r"([a-zA-Z_:][a-zA-Z0-9_:]*)\s*\{[^}]*\$selector")
_KNOWN = frozenset({"selector", "service", "namespace"})


class Signal(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    kind: SignalKind
    description: str = ""
    #: The label scheme `$selector` is written in (`identity.matchers`).
    labels: str = "service"
    #: The kinds of resource the signal is read for (a node's own signals); empty: every kind.
    kinds: tuple[str, ...] = ()
    #: The bundled profile it comes from (set by `catalogue.load_profiles`); empty in a user's catalogue file.
    profile: str = ""
    query: str = Field(min_length=1, max_length=4000)

    @field_validator("query")
    @classmethod
    def _known_placeholders(cls, query: str) -> str:
        unknown = sorted(set(_PLACEHOLDER.findall(query)) - _KNOWN)
        if unknown:
            known = "use $selector, $service, $namespace"
            raise ValueError(f"unknown placeholder(s) {', '.join('$' + u for u in unknown)}; {known}")
        return query

    @field_validator("labels")
    @classmethod
    def _known_scheme(cls, labels: str) -> str:
        if labels not in SCHEMES:
            raise ValueError(f"unknown label scheme {labels!r}; use one of {', '.join(SCHEMES)}")
        return labels

    def reads(self, resource: Resource) -> bool:
        return not self.kinds or resource.kind in self.kinds

    def metric_names(self) -> frozenset[str]:
        """The metrics the query selects with `$selector`: the resource's own series it reads.

        A resource that has none of them in the signal's scheme has no data for the signal
        (`metric_names.MetricNames` lists them once per scheme, so the query need not be asked).
        Empty for a query that names the resource otherwise (`$service`), which is always asked.
        """
        return frozenset(_SELECTED_METRIC.findall(self.query))

    def render(self, resource: Resource, namespace: str | None) -> str:
        """The query for one resource whose series carry `namespace` (None: no namespace matcher)."""
        values = {"service": resource.name, "namespace": namespace or ""}
        selector = matchers(resource, self.labels, namespace)

        def value(match: re.Match[str]) -> str:
            if match.group(1) == "selector":
                return selector  # already escaped by identity.matchers
            return json.dumps(values[match.group(1)], ensure_ascii=False)[1:-1]

        query = _PLACEHOLDER.sub(value, self.query)
        if namespace is None:
            # A resource without a namespace: drop the namespace matcher rather than match "".
            query = query.replace(',namespace=""', "").replace('namespace="",', "")
        return query


class _Catalogue(BaseModel):
    model_config = ConfigDict(extra="forbid")

    signal: list[Signal] = Field(min_length=1)


def load_catalogue(path: Path, *, setting: str | None = None) -> tuple[Signal, ...]:
    """The signals of a user's catalogue file, which replaces the bundled profiles; ConfigError naming the
    problem, and for a file that cannot be read the `setting` that named it."""
    signals = load_signals(path, _Catalogue, setting=setting).signal
    names = [signal.name for signal in signals]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise ConfigError(f"The signal catalogue {path} names {', '.join(duplicates)} more than once.")
    return tuple(signals)


def load_signals(path: Path, model: type[M], *, setting: str | None = None) -> M:
    """A TOML file of signals (a catalogue, a profile) read as `model`; ConfigError naming the problem."""
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        named_by = "" if setting is None else f" ({setting})"
        raise ConfigError(f"Cannot read the signal catalogue {path}{named_by}: {exc.strerror}.") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"The signal catalogue {path} is not valid TOML: {exc}.") from None
    try:
        return model.model_validate(document)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise ConfigError(f"The signal catalogue {path} is invalid: {problems}.") from None
