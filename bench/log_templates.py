"""Throughput and grouping accuracy of `analysis.templates` on generated logs with known templates.

    .venv/bin/python bench/log_templates.py                  # 200 000 lines per format, ~1 minute
    .venv/bin/python bench/log_templates.py --lines 50000 --seed 7

Each line is drawn from one of the templates below, its variables filled at random (IPs, ports,
numbers with units, durations, UUIDs, hex ids, paths, quoted strings, e-mails, URLs, user and
service names), then written as plain text (timestamp, level, message), JSON lines or logfmt.
Rows per format:

    miner   TemplateMiner.add over the messages, already in memory (the algorithm alone)
    cli     what `sre logs templates` does, from the lines in memory: format detection, message
            extraction, mining and the JSON output line (to a buffer instead of a file)

and one row `mask` for `mask()` alone on the plain lines. Grouping accuracy (GA, as in Zhu et
al., "Tools and Benchmarks for Automated Log Parsing", ICSE-SEIP 2019): the share of lines whose
cluster holds exactly the lines of their true template. ARI: the adjusted Rand index of the
clustering against the true templates. The process is pinned to one CPU where the OS allows.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import random
import time
from collections import Counter
from collections.abc import Callable, Sequence

from analysis.templates import TemplateMiner, mask
from cli.logs import messages, write_templates

USERS = ["alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy"]
SERVICES = ["payments", "orders", "inventory", "search", "checkout", "billing"]
WORDS = ["timeout", "not found", "bad gateway", "quota exceeded", "invalid token", "reset by peer"]


def _ip(r: random.Random) -> str:
    return f"10.{r.randrange(256)}.{r.randrange(256)}.{r.randrange(1, 255)}"


def _uuid(r: random.Random) -> str:
    h = f"{r.getrandbits(128):032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def _dur(r: random.Random) -> str:
    return r.choice(
        [f"{r.randrange(1, 999)}ms", f"{r.uniform(0.1, 60):.2f}s", f"{r.randrange(1, 59)}m{r.randrange(60)}s"]
    )


def _path(r: random.Random) -> str:
    return "/" + "/".join(
        r.choice(["var", "lib", "data", "srv", "tmp", "cache", "db"]) for _ in range(r.randrange(2, 5))
    )


def _hex(r: random.Random) -> str:
    return f"{r.getrandbits(64):016x}"


# (level, message template): `{...}` fields are filled by the generator of the same name.
TEMPLATES: list[tuple[str, str]] = [
    ("ERROR", "connection refused to {ip}:{port}"),
    ("WARN", "connection to {ip}:{port} timed out after {dur}"),
    ("INFO", "accepted connection from {ip}:{port}"),
    ("INFO", "user {user} logged in from {ip}"),
    ("INFO", "user {user} logged out after {dur}"),
    ("WARN", "failed login for user {user} from {ip}: {quoted}"),
    ("INFO", "GET {path} returned {status} in {dur}"),
    ("INFO", "POST {path} returned {status} in {dur} ({bytes} bytes)"),
    ("ERROR", "request {uuid} failed: upstream {service} returned {status}"),
    ("INFO", "request {uuid} completed in {dur}"),
    ("DEBUG", "cache hit for key {quoted} ({num} entries)"),
    ("DEBUG", "cache miss for key {quoted}, loading from {path}"),
    ("WARN", "disk {path} is {pct} full"),
    ("ERROR", "disk {path} is full, {size} free"),
    ("INFO", "checkpoint written to {path} ({size}, took {dur})"),
    ("INFO", "scheduled job {hex} for {ts}"),
    ("WARN", "job {hex} retried {num} times, last error: {quoted}"),
    ("ERROR", "job {hex} gave up after {num} attempts"),
    ("INFO", "sent notification to {email} via {url}"),
    ("ERROR", "webhook {url} answered {status} after {dur}"),
    ("INFO", "pool {service} resized from {num} to {num} connections"),
    ("WARN", "pool {service} exhausted, {num} waiters, oldest waiting {dur}"),
    ("INFO", "config reloaded from {path}, {num} keys changed"),
    ("ERROR", "could not parse config {path}: unexpected token {quoted} at line {num}"),
    ("INFO", "leader elected: node {ip} term {num}"),
    ("WARN", "heartbeat from node {ip} missed ({num} in a row)"),
    ("INFO", "transaction {hex} committed, {num} rows in {dur}"),
    ("ERROR", "transaction {hex} rolled back: {quoted}"),
    ("INFO", "memory usage {size} of {size} ({pct})"),
    ("DEBUG", "gc pause {dur}, heap {size}"),
    ("INFO", "listening on {ip}:{port}"),
    ("INFO", "shutting down, {num} requests in flight"),
    ("WARN", "slow query on {service}: {dur} for {quoted}"),
    ("ERROR", "certificate for {host} expires on {ts}"),
    ("INFO", "uploaded {size} to {url} in {dur}"),
    ("DEBUG", "span {hex} parent {hex} service {service} duration {dur}"),
    ("INFO", "rate limit for client {uuid} set to {num} per second"),
    ("WARN", "rate limit exceeded for client {uuid}: {num} requests in {dur}"),
    ("ERROR", "panic in handler {path}: index {num} out of range [{num}]"),
    ("INFO", "feature flag {quoted} turned on for {pct} of users"),
]

FIELDS: dict[str, Callable[[random.Random], str]] = {
    "ip": _ip,
    "port": lambda r: str(r.choice([80, 443, 5432, 6379, 8080, 9090, r.randrange(1024, 65535)])),
    "dur": _dur,
    "user": lambda r: r.choice(USERS),
    "quoted": lambda r: '"' + r.choice(WORDS) + '"',
    "path": _path,
    "status": lambda r: str(r.choice([200, 201, 204, 400, 404, 500, 502, 503])),
    "bytes": lambda r: str(r.randrange(10, 10**6)),
    "uuid": _uuid,
    "service": lambda r: r.choice(SERVICES),
    "num": lambda r: str(r.randrange(0, 10 ** r.randrange(1, 6))),
    "pct": lambda r: f"{r.randrange(1, 100)}%",
    "size": lambda r: f"{r.uniform(1, 999):.1f}{r.choice(['KB', 'MB', 'GB', 'MiB'])}",
    "hex": _hex,
    "ts": lambda r: f"2026-11-{r.randrange(1, 30):02d}T{r.randrange(24):02d}:{r.randrange(60):02d}:00Z",
    "email": lambda r: f"{r.choice(USERS)}@example.com",
    "url": lambda r: f"https://{r.choice(SERVICES)}.example.com/hooks/{r.randrange(1000)}",
    "host": lambda r: f"{r.choice(SERVICES)}.example.com",
}


def generate(n: int, seed: int) -> list[tuple[int, str, str]]:
    """n (template index, level, message), templates drawn with skewed (Zipf-like) frequencies."""
    r = random.Random(seed)
    weights = [1 / (rank + 1) for rank in range(len(TEMPLATES))]
    indices = r.choices(range(len(TEMPLATES)), weights=weights, k=n)
    out = []
    for index in indices:
        level, template = TEMPLATES[index]
        pieces = template.split("{")
        message = pieces[0] + "".join(FIELDS[p.split("}", 1)[0]](r) + p.split("}", 1)[1] for p in pieces[1:])
        out.append((index, level, message))
    return out


def render(rows: Sequence[tuple[int, str, str]], fmt: str, seed: int) -> list[str]:
    r = random.Random(seed)
    lines = []
    for i, (_, level, message) in enumerate(rows):
        ts = f"2026-11-22T{i // 3_600_000 % 24:02d}:{i // 60_000 % 60:02d}:{i // 1000 % 60:02d}.{i % 1000:03d}Z"
        if fmt == "plain":
            lines.append(f"{ts} {level} {message}\n")
        elif fmt == "jsonl":
            lines.append(json.dumps({"ts": ts, "level": level, "msg": message, "trace_id": _hex(r)}) + "\n")
        else:
            quoted = json.dumps(message)
            lines.append(f"ts={ts} level={level} msg={quoted} trace_id={_hex(r)}\n")
    return lines


def grouping_accuracy(truth: Sequence[int], predicted: Sequence[str]) -> float:
    """Share of lines whose predicted cluster is exactly the set of lines of their true template."""
    pairs = Counter(zip(predicted, truth, strict=True))
    cluster_sizes = Counter(predicted)
    template_sizes = Counter(truth)
    exact = sum(n for (c, t), n in pairs.items() if n == cluster_sizes[c] == template_sizes[t])
    return exact / len(truth)


def adjusted_rand_index(truth: Sequence[int], predicted: Sequence[str]) -> float:
    def pairs(n: int) -> int:
        return n * (n - 1) // 2

    joint = sum(pairs(n) for n in Counter(zip(predicted, truth, strict=True)).values())
    a = sum(pairs(n) for n in Counter(predicted).values())
    b = sum(pairs(n) for n in Counter(truth).values())
    expected = a * b / pairs(len(truth))
    top = (a + b) / 2
    return 1.0 if top == expected else (joint - expected) / (top - expected)


def _miner_only(texts: Sequence[str]) -> tuple[float, list[str]]:
    miner = TemplateMiner()
    add = miner.add
    start = time.perf_counter()
    ids = [add(text).template_id for text in texts]
    return time.perf_counter() - start, ids


def _cli_path(lines: Sequence[str]) -> tuple[float, list[str]]:
    out = io.StringIO()
    start = time.perf_counter()
    write_templates(lines, "auto", out)
    seconds = time.perf_counter() - start
    return seconds, [json.loads(line)["template_id"] for line in out.getvalue().splitlines()]


def _mask_only(lines: Sequence[str]) -> float:
    start = time.perf_counter()
    for line in lines:
        mask(line)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lines", type=int, default=200_000, help="lines per format (default 200000)")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    rows = generate(args.lines, args.seed)
    truth = [index for index, _, _ in rows]
    print(
        f"{args.lines} lines per format, {len(TEMPLATES)} templates, seed {args.seed}, "
        f"Python {platform.python_version()}, 1 CPU of {os.cpu_count()}"
    )
    print(f"{'format':7} {'path':6} {'seconds':>8} {'lines/s':>9} {'us/line':>8} {'clusters':>9} {'GA':>6} {'ARI':>6}")
    for fmt in ("plain", "jsonl", "logfmt"):
        lines = render(rows, fmt, args.seed)
        extracted = [message for _, message in messages(lines, "auto")]
        for path, (seconds, ids) in (("miner", _miner_only(extracted)), ("cli", _cli_path(lines))):
            print(
                f"{fmt:7} {path:6} {seconds:8.2f} {len(lines) / seconds:9.0f} {seconds / len(lines) * 1e6:8.1f} "
                f"{len(set(ids)):9d} {grouping_accuracy(truth, ids):6.3f} {adjusted_rand_index(truth, ids):6.3f}"
            )
        if fmt == "plain":
            seconds = _mask_only(lines)
            print(f"{fmt:7} {'mask':6} {seconds:8.2f} {len(lines) / seconds:9.0f} {seconds / len(lines) * 1e6:8.1f}")


if __name__ == "__main__":
    main()
