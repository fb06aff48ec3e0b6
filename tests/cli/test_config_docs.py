from __future__ import annotations

from pathlib import Path

from cli.config_docs import render

DOC = Path(__file__).resolve().parents[2] / "docs" / "configuration.md"


def test_configuration_reference_matches_the_settings_models() -> None:
    assert DOC.read_text() == render(), "docs/configuration.md is stale: run python -m cli.config_docs > it"


def test_every_setting_is_described() -> None:
    rows = [line for line in render().splitlines() if line.startswith("| `")]
    assert rows
    assert all(not line.endswith("|  |") for line in rows)
