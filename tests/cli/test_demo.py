"""`sre up --demo`: which scenario it plays, refused before anything starts when it cannot page."""

from __future__ import annotations

from pathlib import Path

import pytest

from cli.main import main


@pytest.fixture(autouse=True)
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in ("PROMETHEUS_URL", "SRE_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SRE_DATA_DIR", str(tmp_path / "data"))
    return tmp_path / "data"


def test_an_unknown_demo_exits_2_naming_the_bundled_scenarios_and_starts_nothing(
    data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["up", "--demo", "no-such-incident"]) == 2
    err = capsys.readouterr().err
    assert "--demo no-such-incident: no-such-incident is neither a scenario file" in err
    assert "checkout-bad-deploy-errors" in err
    assert not data_dir.exists()


def test_a_demo_whose_alerts_have_all_ended_is_refused(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["up", "--demo", "noisy-baseline"]) == 2
    assert "none of the scenario's alerts still fires" in capsys.readouterr().err
    assert not data_dir.exists()


def test_a_directory_of_scenarios_is_not_one_demo(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["up", "--demo", "bundled"]) == 2
    assert "scenarios; name one" in capsys.readouterr().err


def test_demo_and_no_demo_together_are_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["up", "--no-demo", "--demo", "checkout-bad-deploy-errors"])
    assert exit_.value.code == 2
    assert "not allowed with argument" in capsys.readouterr().err
