"""`sre logs ingest`: files land in loki-mcp's embedded store and its tools find them."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp_session import call, loki_session

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
    assert [line["line"] for line in result["lines"]] == [
        "    at Db.connect(Db.java:10)",
        f"{minute_ago}:00Z ERROR connection refused to 10.0.0.1:5432",
    ]
    assert result["lines"][0]["labels"]["filename"] == "checkout.log"


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
