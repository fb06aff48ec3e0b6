"""The README says what exists: its component table is the records', and it names every folder."""

from __future__ import annotations

import re

from cli.component_table import README, render, with_table
from common.components import COMPONENTS


def test_readme_component_table_matches_the_component_records() -> None:
    readme = README.read_text()
    assert render() in readme
    assert with_table(readme) == readme, "the README's component table is stale: run python -m cli.component_table"


def test_the_table_gives_each_component_its_port_and_its_clients_scopes() -> None:
    rows = {row.split(" | ")[0].strip("| `"): row for row in render().splitlines()[2:]}
    assert set(rows) == set(COMPONENTS)
    assert "| 8721 | `agents:invoke` | `registry:write`, `metrics:read`, `logs:read`" in rows["triage"]
    assert "`sre stdio prometheus-mcp`, `sre serve prometheus-mcp` (`:8701/mcp`)" in rows["prometheus-mcp"]
    assert "| none |" in rows["registry"]


def test_readme_names_every_top_level_folder() -> None:
    # Not hidden ones (.venv, .git) nor what installing leaves (*.egg-info, build/).
    folders = {
        path.name
        for path in README.parent.iterdir()
        if path.is_dir() and not path.name.startswith((".", "__")) and not path.name.endswith(".egg-info")
    } - {"build", "dist", "node_modules"}
    named = set(re.findall(r"^\| `([a-z_]+)/` \|", README.read_text(), flags=re.MULTILINE))
    assert folders == named
