"""`sre logs templates` on files in each format, on standard input, and on bad input."""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
from pathlib import Path

import pytest

from cli.main import main

ROOT = Path(__file__).resolve().parents[2]


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, list[dict[str, object]], str]:
    code = main(["logs", "templates", *args])
    captured = capsys.readouterr()
    return code, [json.loads(line) for line in captured.out.splitlines()], captured.err


def write(tmp_path: Path, name: str, lines: list[str]) -> str:
    path = tmp_path / name
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return str(path)


PLAIN = [
    "2026-11-22T10:00:00Z ERROR connection refused to 10.0.0.1:5432",
    "2026-11-22T10:00:01Z INFO GET /api/users/42 took 12ms",
    "2026-11-22T10:00:02Z ERROR connection refused to 10.0.0.2:5432",
]


@pytest.mark.parametrize("fmt", ["auto", "plain"])
def test_plain_lines_get_one_object_each_numbered_from_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], fmt: str
) -> None:
    code, rows, _ = run(capsys, write(tmp_path, "app.log", PLAIN), "--format", fmt)
    assert code == 0
    assert [row["line"] for row in rows] == [1, 2, 3]
    assert rows[0]["template_id"] == rows[2]["template_id"] != rows[1]["template_id"]
    assert rows[2]["template"] == "<TS> ERROR connection refused to <IP>"
    assert set(rows[0]) == {"line", "template_id", "template"}


@pytest.mark.parametrize("fmt", ["auto", "jsonl"])
def test_jsonl_mines_the_first_message_field_present(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], fmt: str
) -> None:
    lines = [
        json.dumps({"ts": "2026-11-22T10:00:00Z", "msg": "disk /data is 91% full"}),
        json.dumps({"message": "disk /var is 95% full", "msg": None}),
        json.dumps({"log": "pod restarted 3 times"}),
        json.dumps({"line": "pod restarted 4 times", "level": "warn"}),
        json.dumps({"level": "info", "event": "no message field"}),
    ]
    code, rows, _ = run(capsys, write(tmp_path, "app.jsonl", lines), "--format", fmt)
    assert code == 0
    assert [row["template"] for row in rows[:4]] == [
        "disk <PATH> is <NUM> full",
        "disk <PATH> is <NUM> full",
        "pod restarted <NUM> times",
        "pod restarted <NUM> times",
    ]
    # No message field: the whole line is mined.
    assert rows[4]["template"] == '{"level": <STR>, "event": <STR>}'


@pytest.mark.parametrize("fmt", ["auto", "logfmt"])
def test_logfmt_mines_the_msg_value(tmp_path: Path, capsys: pytest.CaptureFixture[str], fmt: str) -> None:
    lines = [
        'ts=2026-11-22T10:00:00Z level=error msg="connection refused to 10.0.0.1:5432" caller=db.go:42',
        'ts=2026-11-22T10:00:01Z level=error error="bad msg=x" message="connection refused to 10.0.0.9:5432"',
        "ts=2026-11-22T10:00:02Z level=info msg=ready",
    ]
    code, rows, _ = run(capsys, write(tmp_path, "app.logfmt", lines), "--format", fmt)
    assert code == 0
    assert [row["template"] for row in rows] == [
        "connection refused to <IP>",
        "connection refused to <IP>",
        "ready",
    ]
    assert rows[0]["template_id"] == rows[1]["template_id"]


def test_blank_lines_keep_their_numbers(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, rows, _ = run(capsys, write(tmp_path, "gaps.log", ["first 1", "", "first 2"]))
    assert code == 0
    assert [(row["line"], row["template"]) for row in rows] == [(1, "first <NUM>"), (2, ""), (3, "first <NUM>")]


def test_a_missing_file_exits_2_naming_it(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = str(tmp_path / "nope.log")
    code, rows, err = run(capsys, missing)
    assert (code, rows) == (2, [])
    assert missing in err
    assert "No such file" in err
    assert "pass - to read standard input" in err


def test_a_directory_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, str(tmp_path))
    assert code == 2
    assert f"cannot read {tmp_path}" in err


def test_a_line_that_is_not_json_under_format_jsonl_exits_2_naming_file_and_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, "mixed.jsonl", [json.dumps({"msg": "ok 1"}), "plain text 2"])
    code, rows, err = run(capsys, path, "--format", "jsonl")
    assert code == 2
    assert [row["line"] for row in rows] == [1]  # streamed up to the bad line
    assert f"{path}, line 2, is not a JSON object" in err
    assert "--format plain" in err


def test_a_line_without_pairs_under_format_logfmt_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, write(tmp_path, "x.log", ["just words"]), "--format", "logfmt")
    assert code == 2
    assert "line 1, is not key=value pairs" in err


def test_auto_falls_back_to_the_whole_line_when_a_later_line_does_not_fit(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, "mostly.jsonl", [json.dumps({"msg": f"tick {i}"}) for i in range(25)] + ["stray 1"])
    code, rows, _ = run(capsys, path)
    assert code == 0
    assert (rows[0]["template"], rows[-1]["template"]) == ("tick <NUM>", "stray <NUM>")


def test_a_binary_file_exits_2_suggesting_decompression(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "app.log.gz"
    path.write_bytes(b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03binary")
    code, _, err = run(capsys, str(path))
    assert code == 2
    assert "binary" in err
    assert "zcat" in err


def test_an_unknown_format_is_refused_by_the_parser(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["logs", "templates", write(tmp_path, "a.log", ["x"]), "--format", "csv"])
    assert exited.value.code == 2
    assert "invalid choice" in capsys.readouterr().err


def test_dash_reads_standard_input_as_a_user_pipes_it() -> None:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("PROMETHEUS", "SRE_"))}
    result = subprocess.run(
        [sys.executable, "-m", "cli.main", "logs", "templates", "-"],
        input="\n".join(PLAIN) + "\n",
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=ROOT,
        env=clean,
    )
    assert result.returncode == 0, result.stderr
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [(row["line"], row["template_id"]) for row in rows] == [(1, "t1"), (2, "t2"), (3, "t1")]


def test_input_without_line_breaks_is_read_in_bounded_memory_and_refused_as_binary() -> None:
    # /dev/zero never breaks a line: read whole, it ran until MemoryError (here: the 2 GiB cap).
    result = subprocess.run(
        [sys.executable, "-m", "cli.main", "logs", "templates", "/dev/zero"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=ROOT,
        preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_AS, (2 * 1024**3, 2 * 1024**3)),
    )
    assert result.returncode == 2, result.stderr
    assert "binary" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_line_longer_than_the_cap_is_mined_from_its_start(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "long.log"
    path.write_text("ERROR dump " + "x" * 1_000_000 + "\nINFO ok\n")
    assert main(["logs", "templates", str(path)]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [row["line"] for row in rows] == [1, 2]
    assert len(rows[0]["template"]) <= 262144
