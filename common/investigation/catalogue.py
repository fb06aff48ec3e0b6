"""The catalogue an investigation reads: the bundled profiles whose metrics Prometheus has, or the user's file.

A profile (`profiles/*.toml`, read in file-name order) is the signals one instrumentation or
exporter publishes, in the label scheme it writes (kube-prometheus-stack, OpenTelemetry,
Micrometer, Istio, ingress-nginx, node-exporter, postgres, redis, rabbitmq, and `service-label`,
the bundled scenarios' shape). It applies when Prometheus has any of its `detect` metrics, asked for
each investigation (`CatalogueSource`). Several profiles may offer a signal of the same name
(`error_ratio` from the application, the mesh and the ingress): the catalogue keeps them all, in
profile order, and the reader takes the first that has data for the resource
(`metrics.read_signals`). A user's file
(TRIAGE_SIGNALS_FILE) replaces every profile.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Sequence
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from common.contracts.prometheus import PrometheusMcp
from common.errors import BackendError, ConfigError
from common.investigation.identity import alternations, quote_meta
from common.investigation.signals import Signal, load_catalogue, load_signals

__all__ = ["PROFILES", "CatalogueSource", "Profile", "applicable", "load_profiles"]

PROFILES = Path(__file__).with_name("profiles")
#: Pages of metric names read at most (of the server's page size, 1000 by default): a bound, not a need.
MAX_NAME_PAGES = 50
logger = logging.getLogger(__name__)


class Profile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[a-z][a-z0-9-]*$")
    #: Metric names whose presence says the profile applies (any one of them).
    detect: tuple[str, ...] = Field(min_length=1)
    signal: tuple[Signal, ...] = Field(min_length=1)


def load_profiles(directory: Path = PROFILES) -> tuple[Profile, ...]:
    """Every profile of `directory`, in file-name order (the order alternatives of a signal are tried in)."""
    profiles = tuple(
        profile.model_copy(
            update={"signal": tuple(s.model_copy(update={"profile": profile.name}) for s in profile.signal)}
        )
        for profile in (load_signals(path, Profile) for path in sorted(directory.glob("*.toml")))
    )
    if not profiles:
        raise ConfigError(f"No signal profile in {directory}.")
    for path, profile in zip(sorted(directory.glob("*.toml")), profiles, strict=True):
        # Alternatives of one signal within a profile differ by the labels they select with.
        keys = [(s.name, s.labels) for s in profile.signal]
        twice = sorted({f"{name} ({labels})" for name, labels in keys if keys.count((name, labels)) > 1})
        if twice:
            raise ConfigError(f"The signal catalogue {path} names {', '.join(twice)} more than once.")
    return profiles


def applicable(profiles: Sequence[Profile], names: Collection[str] | None) -> tuple[Signal, ...]:
    """The signals of every profile with a detection metric among `names`, in profile order.

    With `names` None (Prometheus could not say) or no profile detected, every profile's signals:
    reading takes the first alternative with data, so a profile that does not apply costs
    queries, not correctness.
    """
    chosen = [p for p in profiles if names is not None and any(metric in names for metric in p.detect)]
    return tuple(signal for profile in chosen or profiles for signal in profile.signal)


class CatalogueSource:
    """The catalogue for each investigation of an agent: its user's file when set, else the applicable profiles.

    Which profiles apply is asked for each investigation, and only about the profiles' detection
    metrics (one `prometheus_list_labels` of `__name__` with a regex of their names): the answer is
    a handful of names however many the server has, and an incident that comes with the first
    metrics of a new exporter or instrumentation (a new service's first deploy) is read with its
    profile. A cache would have left that profile out until it expired.
    """

    def __init__(
        self,
        signals_file: Path | None,
        *,
        setting: str,
        lookback_seconds: float,
        profiles: Sequence[Profile] | None = None,
    ) -> None:
        self._own = None if signals_file is None else load_catalogue(signals_file, setting=setting)
        self._profiles = tuple(profiles) if profiles is not None else (() if self._own else load_profiles())
        self._lookback = lookback_seconds
        self._detect = alternations(
            quote_meta(metric) for metric in sorted({m for p in self._profiles for m in p.detect})
        )

    async def catalogue(self, prometheus: PrometheusMcp) -> tuple[Signal, ...]:
        if self._own is not None:
            return self._own
        return applicable(self._profiles, await self._detected(prometheus))

    async def _detected(self, prometheus: PrometheusMcp) -> frozenset[str] | None:
        names: set[str] = set()
        try:
            for pattern in self._detect:
                cursor = None
                for _ in range(MAX_NAME_PAGES):
                    page = await prometheus.list_labels(
                        "__name__",
                        matchers={"__name__": f"=~{pattern}"},
                        start=f"now-{int(self._lookback)}s",
                        end="now",
                        cursor=cursor,
                    )
                    names.update(page.values)
                    cursor = page.next_cursor
                    if cursor is None:
                        break
        except BackendError as exc:
            logger.warning("Cannot list Prometheus' metric names (%s); every signal profile is tried.", exc)
            return None
        return frozenset(names)
