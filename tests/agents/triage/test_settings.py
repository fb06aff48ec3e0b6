"""TRIAGE_LABEL_ALIASES: an environment's own label names, read at start and refused there when malformed."""

from __future__ import annotations

import pytest

from agents.triage.settings import TriageSettings
from common.errors import ConfigError
from common.settings import SettingsSource


def test_label_aliases_are_read_from_the_environment() -> None:
    settings = TriageSettings.from_source(
        SettingsSource({"TRIAGE_LABEL_ALIASES": "service=team_service,svc;object_exporter=ksm"})
    )

    assert settings.aliases.labels_for("service") == ("service", "team_service", "svc")
    assert "ksm" in settings.aliases.object_exporters
    assert TriageSettings.from_source(SettingsSource({})).aliases.labels_for("service") == ("service",)


def test_malformed_label_aliases_stop_the_start_naming_the_problem() -> None:
    with pytest.raises(ConfigError, match="owner"):
        TriageSettings.from_source(SettingsSource({"TRIAGE_LABEL_ALIASES": "owner=team"}))
