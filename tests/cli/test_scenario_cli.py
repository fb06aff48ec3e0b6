"""`sre scenario run` as a user runs it: argument errors, and a federation that is not there."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from support.backends import free_port

from cli.main import main
from cli.scenario import scenario_paths
from common.local_run import write_endpoints
from scenarios import BUNDLED_DIR, load_scenarios
from scenarios.score import totals as run_totals

SCENARIO = "checkout-bad-deploy-errors"


@pytest.fixture
def nothing_running(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """Credentials as `sre up` left them, every URL pointing where nothing listens; the router's URL."""
    credentials = tmp_path / "credentials"
    credentials.mkdir()
    for client in ("cli", "scenario"):
        (credentials / f"{client}.secret").write_text("not-a-real-secret\n")
    for name in ("SRE_CONFIG", "LOKI_URL", "TRIAGE_URL", "SRE_AUTH_ISSUER"):
        monkeypatch.delenv(name, raising=False)
    router = f"http://127.0.0.1:{free_port()}"
    monkeypatch.setenv("SRE_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("ROUTER_URL", router)
    for name in ("REGISTRY_URL", "PROMETHEUS_URL", "CONTROLPLANE_URL"):
        monkeypatch.setenv(name, f"http://127.0.0.1:{free_port()}")
    return router


def test_run_without_a_file_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["scenario", "run"])
    assert exit_.value.code == 2
    assert "FILE" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("option", "value", "reason"),
    [
        ("--timeout", "0", "more than 0 seconds"),
        ("--timeout", "soon", "not a number of seconds"),
        ("--concurrency", "0", "at least 1"),
        ("--concurrency", "-3", "at least 1"),
        ("--concurrency", "two", "not a whole number"),
    ],
)
def test_run_refuses_a_timeout_or_concurrency_that_is_not_a_positive_number(
    option: str, value: str, reason: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["scenario", "run", SCENARIO, option, value])
    assert exit_.value.code == 2
    assert reason in capsys.readouterr().err


def test_run_of_an_unknown_name_exits_2_listing_the_bundled_scenarios(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["scenario", "run", "no-such-incident"]) == 2
    err = capsys.readouterr().err
    assert "no-such-incident is neither a scenario file, a directory, nor a bundled scenario" in err
    assert SCENARIO in err
    assert "`bundled` for all of them" in err


def test_run_of_an_invalid_file_exits_2_naming_file_and_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = yaml.safe_load((BUNDLED_DIR / f"{SCENARIO}.yaml").read_text())
    data["expected"]["root_cause"]["kind"] = "gremlins"
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(data))
    assert main(["scenario", "run", str(path)]) == 2
    err = capsys.readouterr().err
    assert str(path) in err
    assert "expected.root_cause.kind" in err


def test_bundled_names_and_the_word_bundled_resolve_to_the_bundled_files(tmp_path: Path) -> None:
    own = tmp_path / "own.yaml"
    own.touch()
    assert scenario_paths(["bundled", SCENARIO, str(own), str(tmp_path)]) == [
        BUNDLED_DIR,
        BUNDLED_DIR / f"{SCENARIO}.yaml",
        own,
        tmp_path,
    ]


def test_the_word_heldout_and_a_held_out_name_resolve_to_the_held_out_files() -> None:
    heldout = BUNDLED_DIR.parent / "heldout"
    name = sorted(heldout.glob("*.yaml"))[0].stem

    assert scenario_paths(["heldout", name]) == [heldout, heldout / f"{name}.yaml"]
    assert len(load_scenarios([heldout])) >= 8


def test_run_with_no_router_listening_exits_1_saying_to_start_sre_up(
    nothing_running: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["scenario", "run", SCENARIO, "noisy-baseline"]) == 1
    out, err = capsys.readouterr()
    header, first, second, total = out.splitlines()
    assert header.split()[:3] == ["SCENARIO", "EXPECTED", "TOP"]
    assert first.split()[:4] == [SCENARIO, "deployment", "checkout", "v2.4.0"]
    assert second.split()[:2] == ["noisy-baseline", "unknown"]
    assert total.startswith("total: 2 scenarios, 0 reports; hit@1 0.00")
    unreachable = (
        f"the router at {nothing_running} could not be reached (ConnectError): start the platform with `sre up`"
    )
    assert f"sre scenario run: {SCENARIO}: {unreachable}, or set ROUTER_URL." in err
    assert f"sre scenario run: noisy-baseline: {unreachable}" in err
    assert "2 of 2 scenarios produced no report; wall time" in err


def test_run_goes_to_the_router_sre_up_recorded_when_router_url_is_unset(
    nothing_running: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # `sre up` with SRE_UP_ROUTER_PORT moved the router and wrote where to endpoints.json.
    moved = f"http://127.0.0.1:{free_port()}"
    write_endpoints(tmp_path, {"router": moved})
    monkeypatch.delenv("ROUTER_URL")
    assert main(["scenario", "run", SCENARIO]) == 1
    assert f"the router at {moved} could not be reached" in capsys.readouterr().err


def test_router_url_set_wins_over_the_recorded_one(
    nothing_running: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_endpoints(tmp_path, {"router": f"http://127.0.0.1:{free_port()}"})
    assert main(["scenario", "run", SCENARIO]) == 1
    assert f"the router at {nothing_running} could not be reached" in capsys.readouterr().err


def test_run_json_prints_a_line_per_scenario_then_the_totals(
    nothing_running: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["scenario", "run", SCENARIO, "--json"]) == 1
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    [result, totals] = lines
    assert result["name"] == SCENARIO
    assert result["expected"]["service"] == "checkout"
    assert (result["top"], result["hit_at_1"], result["change_found"], result["report_id"]) == (
        None,
        False,
        False,
        None,
    )
    assert "could not be reached" in result["error"]
    assert list(totals) == list(run_totals([], []))  # the keys SCENARIOS.md shows, in its order
    assert totals["scenarios"] == 1
    assert totals["reports"] == 0


def test_direct_with_no_triage_listening_names_triage_url(
    nothing_running: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    triage = f"http://127.0.0.1:{free_port()}"
    monkeypatch.setenv("TRIAGE_URL", triage)
    assert main(["scenario", "run", SCENARIO, "--direct"]) == 1
    err = capsys.readouterr().err
    assert f"the triage agent at {triage} could not be reached (ConnectError): start it, or correct TRIAGE_URL." in err


def test_direct_without_triage_url_asks_the_registry(
    nothing_running: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    registry = f"http://127.0.0.1:{free_port()}"
    monkeypatch.setenv("REGISTRY_URL", registry)
    assert main(["scenario", "run", SCENARIO, "--direct"]) == 1
    assert f"the registry at {registry} could not be reached" in capsys.readouterr().err


def test_run_without_the_credentials_sre_up_keeps_exits_1_saying_so(
    nothing_running: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "credentials" / "cli.secret").unlink()
    assert main(["scenario", "run", SCENARIO]) == 1
    assert "No secret is kept for client 'cli'" in capsys.readouterr().err
