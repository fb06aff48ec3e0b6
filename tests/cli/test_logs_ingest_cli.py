"""`sre logs ingest`: files land in loki-mcp's embedded store and its tools find them."""

from __future__ import annotations

import json
import os
import resource
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import anyio
import pytest
from support.mcp_session import call, loki_session

from cli.main import main


def test_ingested_files_are_queried_through_loki_mcp(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    minute_ago = time.strftime("%Y-%m-%dT%H:%M", time.gmtime(time.time() - 60))
    log = tmp_path / "checkout.log"
    log.write_text(
        f"{minute_ago}:00Z ERROR connection refused to 10.0.0.1:5432\n"
        "    at Db.connect(Db.java:10)\n"
        f"{minute_ago}:01Z INFO GET /api/cart took 12ms\n"
    )
    monkeypatch.setenv("SRE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("LOKI_URL", raising=False)

    assert main(["logs", "ingest", "--label", "service=checkout", str(log)]) == 0
    assert "3 lines read as plain, 3 new (1 without a time of their own)" in capsys.readouterr().out
    assert main(["logs", "ingest", "--label", "service=checkout", str(log)]) == 0
    assert "3 lines read as plain, 0 new" in capsys.readouterr().out

    async def query() -> dict[str, Any]:
        async with loki_session(tmp_path / "data") as client:
            return await call(client, "loki_query_logs", query='{service="checkout", level="error"}', start="now-1h")

    result = anyio.run(query)
    (stream,) = result["streams"]
    assert [line["line"] for line in stream["lines"]] == [
        "    at Db.connect(Db.java:10)",
        f"{minute_ago}:00Z ERROR connection refused to 10.0.0.1:5432",
    ]
    assert stream["labels"]["filename"] == "checkout.log"


def test_bad_labels_and_a_configured_loki_are_clear_errors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    log = tmp_path / "a.log"
    log.write_text("hello\n")
    monkeypatch.setenv("SRE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("LOKI_URL", raising=False)
    assert main(["logs", "ingest", "--label", "service", str(log)]) == 2
    assert "is not NAME=VALUE" in capsys.readouterr().err
    monkeypatch.setenv("LOKI_URL", "http://loki.example:3100")
    assert main(["logs", "ingest", str(log)]) == 2
    assert "ship the files with Promtail or Grafana Alloy" in capsys.readouterr().err
    assert not (tmp_path / "data" / "logs.db").exists()


# --- hostile files (checklist row 44) ------------------------------------------------------------

INGEST_TIMEOUT = 60


def _ingest(tmp_path: Path, *args: str, timeout: float = INGEST_TIMEOUT) -> tuple[int, str, str, int]:
    """`sre logs ingest ARGS` in a child process capped at 4 GiB of address space.

    Returns the exit code, stdout, stderr and the child's peak RSS in KiB.

    A child, so a file that makes ingest hang fails the test at `timeout` instead of hanging it,
    and one that makes it read without end meets the cap instead of the machine's memory.
    """
    script = (
        "import resource, sys\n"
        "from cli.main import main\n"
        "code = main(sys.argv[1:])\n"
        "print(f'peak-rss-kib={resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}', file=sys.stderr)\n"
        "sys.exit(code)\n"
    )
    env = {**os.environ, "SRE_DATA_DIR": str(tmp_path / "data"), "LOKI_URL": ""}
    completed = subprocess.run(
        [sys.executable, "-c", script, "logs", "ingest", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        cwd=Path(__file__).parents[2],
        preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_AS, (4 * 1024**3, 4 * 1024**3)),
        check=False,
    )
    peak = int(completed.stderr.rsplit("peak-rss-kib=", 1)[1].split()[0]) if "peak-rss-kib=" in completed.stderr else 0
    return completed.returncode, completed.stdout, completed.stderr, peak


def _stored(tmp_path: Path) -> list[tuple[str, str | None]]:
    """(line, metadata JSON) of every stored entry, oldest first."""
    with sqlite3.connect(tmp_path / "data" / "logs.db") as db:
        return db.execute("SELECT line, metadata FROM entries ORDER BY ts_ns").fetchall()


def test_a_50_mb_line_is_stored_cut_and_marked_in_bounded_memory(tmp_path: Path) -> None:
    small = tmp_path / "small.log"
    small.write_text("2026-11-21T10:00:00Z INFO started\n")
    big = tmp_path / "big.log"
    with big.open("w") as out:
        out.write("2026-11-21T10:00:00Z INFO started\n")
        out.write("2026-11-21T10:00:01Z ERROR dump " + "x" * (50 * 1024 * 1024) + "\n")
        out.write("2026-11-21T10:00:02Z INFO after the dump\n")

    code, _, _, baseline = _ingest(tmp_path / "a", str(small))
    assert code == 0
    code, out, err, peak = _ingest(tmp_path / "b", str(big))

    assert code == 0, err
    assert "3 lines read" in out
    assert "1 line cut to 262144 characters" in out
    lines = _stored(tmp_path / "b")
    assert [len(line) for line, _ in lines] == [33, 262144, 40]
    assert lines[1][0].startswith("2026-11-21T10:00:01Z ERROR dump xxx")
    assert json.loads(lines[1][1] or "{}")["truncated_from"] == str(
        len("2026-11-21T10:00:01Z ERROR dump ") + 50 * 1024 * 1024
    )
    # The 50 MB line is never held whole: a few MB over reading a one-line file.
    assert peak - baseline < 40 * 1024, (baseline, peak)


@pytest.mark.parametrize("special", ["/dev/zero", "fifo"])
def test_a_device_or_named_pipe_is_refused_naming_the_flag(tmp_path: Path, special: str) -> None:
    path = special
    if special == "fifo":
        path = str(tmp_path / "pipe")
        os.mkfifo(path)

    code, _, err, _ = _ingest(tmp_path, path)

    assert code == 2, err
    assert "not a regular file" in err
    assert "--allow-special-files" in err


def test_a_named_pipe_is_read_to_its_end_with_allow_special_files(tmp_path: Path) -> None:
    path = tmp_path / "pipe"
    os.mkfifo(path)

    def feed() -> None:
        with path.open("w") as writer:
            writer.write("2026-11-21T10:00:00Z INFO one\n2026-11-21T10:00:01Z INFO two\n")

    feeder = threading.Thread(target=feed, daemon=True)
    feeder.start()
    code, out, err, _ = _ingest(tmp_path, "--allow-special-files", str(path))
    feeder.join(timeout=5)

    assert code == 0, err
    assert "2 lines read" in out


@pytest.mark.parametrize(
    ("line", "when"),
    [("9999-12-31T23:59:59Z ERROR from the far future", "9999-12-31"), ("1960-01-01T00:00:00Z INFO old", "1960-01-01")],
)
def test_a_line_timed_outside_1970_to_2262_is_a_clear_error_naming_the_line(
    tmp_path: Path, line: str, when: str
) -> None:
    log = tmp_path / "times.log"
    log.write_text(f"2026-11-21T10:00:00Z INFO fine\n{line}\n")

    code, _, err, _ = _ingest(tmp_path, str(log))

    assert code == 2, err
    assert "Traceback" not in err
    assert f"{log} line 2" in err
    assert "from 1970-01-01T00:00:00Z to 2262-04-11T23:47:16Z" in err
