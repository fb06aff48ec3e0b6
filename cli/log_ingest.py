"""`sre logs ingest FILE...`: load log files into loki-mcp's embedded store, no Loki needed.

Files go to the store loki-mcp uses (LOKI_MCP_LOCAL_PATH, default SRE_DATA_DIR/logs.db), which a
running loki-mcp picks up at its next query. Each file's lines are stored at their own times with
the labels `filename` and `job` (from the path) plus `--label`s; reading a file again adds only
what is new. With LOKI_URL set logs belong in that Loki: ship them with Promtail or Alloy.
Lines over LOKI_MCP_LOCAL_MAX_LINE_CHARS are stored cut (the output says how many); named pipes
and devices are refused unless --allow-special-files.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import anyio

from common.errors import ConfigError, InputError
from common.settings import SettingsSource
from servers.loki_mcp.local.ingest import FORMATS, FileFormat, IngestReport, ingest_file
from servers.loki_mcp.local.line_cap import TRUNCATED_FROM
from servers.loki_mcp.local.store import SqliteLogStore, validate_labels
from servers.loki_mcp.settings import LocalStore, LokiMcpSettings

__all__ = ["FORMATS", "run_ingest"]


def run_ingest(args: argparse.Namespace) -> int:
    try:
        labels = _labels(args.label)
        settings = LokiMcpSettings.from_source(SettingsSource.load())
        if not settings.uses_local_store:
            raise ConfigError(
                "LOKI_URL is set, so logs belong in that Loki: ship the files with Promtail or Grafana Alloy, "
                "or unset LOKI_URL to load them into the embedded store."
            )
        files = [Path(f) for f in args.files]
        reports = anyio.run(_ingest, settings.local, files, labels, args.format, args.allow_special_files)
    except (InputError, ConfigError) as exc:
        print(f"sre logs ingest: {exc}", file=sys.stderr)
        return 2
    for report in reports:
        cut = ""
        if report.lines_cut:
            plural = "line" if report.lines_cut == 1 else "lines"
            cut = (
                f"; {report.lines_cut} {plural} cut to {report.max_line_chars} characters "
                f"(marked {TRUNCATED_FROM}, LOKI_MCP_LOCAL_MAX_LINE_CHARS)"
            )
        print(
            f"{report.path}: {report.lines_read} lines read as {report.format}, {report.entries_written} new "
            f"({report.without_timestamp} without a time of their own){cut}"
        )
    print(f"Stored in {settings.local.path}; query them with loki-mcp (sre stdio loki-mcp).")
    return 0


async def _ingest(
    local: LocalStore, files: list[Path], labels: dict[str, str], fmt: FileFormat, allow_special_files: bool
) -> list[IngestReport]:
    async with SqliteLogStore(local.path) as store:
        return [
            await ingest_file(
                store,
                path,
                labels=labels,
                format=fmt,
                max_line_chars=local.max_line_chars,
                allow_special_files=allow_special_files,
            )
            for path in files
        ]


def _labels(pairs: list[str]) -> dict[str, str]:
    labels = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not value:
            raise InputError(f"--label {pair!r} is not NAME=VALUE; write it like --label service=checkout.")
        labels[name] = value
    if labels:
        validate_labels(labels)
    return labels
