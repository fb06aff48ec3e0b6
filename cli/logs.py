"""`sre logs`: log analysis of a file or of standard input, with no backend.

`sre logs ingest FILE...` loads files into loki-mcp's embedded store (`cli.log_ingest`).

`sre logs templates FILE` mines templates (`analysis.templates`) and prints one JSON object per
input line, as it reads: `{"line": N, "template_id": "t3", "template": "..."}`, lines numbered
from 1, blank lines included (their template is ""). The template is the one the line's cluster
had when the line was read; the id does not change afterwards.

Formats: `jsonl` mines the first of `msg`, `message`, `log`, `line` that a line's object has
(else the whole line); `logfmt` the `msg` or `message` value (else the whole line); `plain`
the whole line. `auto` (the default) looks at the first non-blank lines: all JSON objects means
jsonl, all key=value pairs means logfmt, anything else (CSV included) plain; past those lines, a
line that does not fit the guess is mined whole. With an explicit format such a line is an error
(exit 2). Sniffing and message extraction are `analysis.log_records`'s.
"""

from __future__ import annotations

import argparse
import io
import itertools
import json
import logging
import os
import sys
from collections.abc import Iterable, Iterator
from typing import TextIO

from analysis.line_limit import bounded_lines
from analysis.log_records import json_message, logfmt_message, looks_binary, read_head, sniff_format
from analysis.templates import CACHE_SIZE, TemplateMiner
from cli.log_ingest import FORMATS as INGEST_FORMATS
from cli.log_ingest import run_ingest
from common.errors import InputError

__all__ = ["FORMATS", "add_logs_parser", "messages", "run_logs", "write_templates"]

logger = logging.getLogger(__name__)

FORMATS = ("auto", "jsonl", "logfmt", "plain")

_EPILOG = """\
examples:
  sre logs templates app.log                      one JSON object per line
  sre logs templates --format jsonl app.jsonl     the msg/message/log/line field of each object
  kubectl logs deploy/web | sre logs templates -
  sre logs templates app.log | jq -r .template_id | sort | uniq -c | sort -rn | head
  sre logs ingest --label service=checkout app.log  then query it with loki-mcp
"""


def add_logs_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    logs = commands.add_parser(
        "logs",
        help="analyse a log file (or standard input) with no backend",
        description="Analyse a log file or standard input locally; nothing is sent anywhere.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    actions = logs.add_subparsers(dest="logs_command", required=True, metavar="ACTION")
    templates = actions.add_parser(
        "templates",
        help="print each line's template as one JSON object per line",
        description='Mine log templates and print {"line": N, "template_id": ..., "template": ...} for every '
        "input line (numbered from 1), as the file is read.",
    )
    templates.add_argument("file", metavar="FILE", help="a log file, or - for standard input")
    templates.add_argument(
        "--format",
        choices=FORMATS,
        default="auto",
        help="jsonl, logfmt or plain; auto (default) guesses from the first lines",
    )
    ingest = actions.add_parser(
        "ingest",
        help="load log files into loki-mcp's embedded store",
        description="Store each line of the files at its own time in loki-mcp's embedded log store "
        "(LOKI_MCP_LOCAL_PATH, default SRE_DATA_DIR/logs.db), labelled filename and job from the path plus "
        "--label. Reading a file again stores only what is new.",
    )
    ingest.add_argument("files", metavar="FILE", nargs="+", help="log files (JSON lines, logfmt, CSV or plain)")
    ingest.add_argument(
        "--label", action="append", default=[], metavar="NAME=VALUE", help="a label for every line (repeatable)"
    )
    ingest.add_argument("--format", choices=INGEST_FORMATS, default="auto", help="auto (default) detects it")
    ingest.add_argument(
        "--allow-special-files",
        action="store_true",
        help="also read named pipes and devices (read until they end); by default only regular files",
    )


def run_logs(args: argparse.Namespace) -> int:
    if args.logs_command == "ingest":
        return run_ingest(args)
    name = "standard input" if args.file == "-" else args.file
    try:
        with _open(args.file) as stream:
            miner = write_templates(bounded_lines(stream), args.format, sys.stdout, source=name)
            sys.stdout.flush()
    except InputError as exc:
        print(f"sre logs templates: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        if isinstance(exc, BrokenPipeError):
            # The reader stopped (`| head`): not an error. Point stdout at nothing so the
            # interpreter's own flush at exit does not fail again.
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return 0
        print(
            f"sre logs templates: cannot read {name}: {exc.strerror or exc}. "
            "Check the path and its permissions, or pass - to read standard input.",
            file=sys.stderr,
        )
        return 2
    if miner.evicted:
        logger.warning(
            "%d templates were evicted (more than %s at once); their later lines got new ids",
            miner.evicted,
            miner.max_clusters,
        )
    return 0


def write_templates(lines: Iterable[str], fmt: str, out: TextIO, *, source: str = "input") -> TemplateMiner:
    """Write one JSON object per line of `lines` to `out` (see the module docstring); returns the miner."""
    miner = TemplateMiner()
    add = miner.add
    # Templates repeat line after line: encode each one once (bounded like the miner's own cache).
    encoded: dict[str, str] = {}
    for number, message in messages(lines, fmt, source=source):
        match = add(message)
        template = encoded.get(match.template)
        if template is None:
            if len(encoded) >= CACHE_SIZE:
                encoded.clear()
            template = encoded[match.template] = json.dumps(match.template)
        out.write(f'{{"line": {number}, "template_id": "{match.template_id}", "template": {template}}}\n')
    return miner


def _open(path: str) -> TextIO:
    # Undecodable bytes become U+FFFD rather than an error: a log with one bad line is still a log.
    if path == "-":
        return io.TextIOWrapper(sys.stdin.buffer, encoding="utf-8", errors="replace")
    return open(path, encoding="utf-8", errors="replace")


def messages(lines: Iterable[str], fmt: str, *, source: str = "input") -> Iterator[tuple[int, str]]:
    """(line number from 1, the text to mine) for each of `lines`, in format `fmt` (see the module docstring).

    Raises InputError when a line does not fit an explicit format, or the input looks binary.
    """
    stream = iter(lines)
    # Read ahead the lines `auto` decides on (all formats: the binary check uses them too).
    head = read_head(stream)
    if looks_binary(head):
        raise InputError(
            f"{source} looks like a binary file, not a text log. Give a text log; for a compressed "
            "one, decompress it first, e.g. zcat FILE.gz | sre logs templates -"
        )
    strict = fmt != "auto"
    if fmt == "auto":
        sniffed = sniff_format(head)
        # Templates of CSV rows are mined from whole rows, as plain lines.
        fmt = "plain" if sniffed == "csv" else sniffed
    extract = {"jsonl": json_message, "logfmt": logfmt_message, "plain": None}[fmt]
    for number, raw in enumerate(itertools.chain(head, stream), start=1):
        line = raw.rstrip("\r\n")
        if extract is None or not line.strip():
            yield number, line
            continue
        message = extract(line)
        if message is None:
            if strict:
                raise InputError(
                    f"{source}, line {number}, is not {_DESCRIPTION[fmt]}. "
                    "Pass --format plain to mine whole lines, or --format auto to guess the format."
                )
            message = line
        yield number, message


_DESCRIPTION = {"jsonl": "a JSON object (--format jsonl)", "logfmt": "key=value pairs (--format logfmt)"}
