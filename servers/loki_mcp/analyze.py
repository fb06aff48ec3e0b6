"""`loki_analyze_logs`: a log file or pasted text analysed on its own, with no Loki.

The format is detected (`analysis.log_records`), each line's message is mined into templates,
lines are counted per time bucket, and buckets far above the usual count are reported with the
templates that filled them. File paths are confined to configured directories: over HTTP the
caller is a remote client, and the server's files are not theirs to read.
"""

from __future__ import annotations

import datetime
import io
import itertools
import stat
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from analysis.anomaly import high_counts
from analysis.log_patterns import TemplateCount, TemplateCounter
from analysis.log_records import LogFormat, LogRecord, looks_binary, message_of, parse_records, read_head, sniff_format
from analysis.templates import TemplateMiner
from common.contracts.loki import AnalyzeLogsResult, AnomalousWindow, LogPattern
from common.errors import Forbidden, InputError, NotFound
from common.timerange import iso

__all__ = ["LogAnalyzer", "pattern_result"]

# Bucket sizes for the volume profile: the smallest giving at most MAX_BUCKETS buckets is used.
_BUCKET_SECONDS = (1, 5, 10, 30, 60, 300, 600, 1800, 3600, 6 * 3600, 86400)
MAX_BUCKETS = 240
WINDOWS_REPORTED = 5
#: What a file that cannot be read is, for a program reading the refusal (`common.errors`).
_READ_REFUSALS: dict[type[OSError], type[InputError]] = {FileNotFoundError: NotFound, PermissionError: Forbidden}

Render = Callable[[str], str]


def pattern_result(count: TemplateCount, lines: int, render: Render) -> LogPattern:
    return LogPattern(
        template_id=count.template_id,
        template=render(count.template),
        count=count.count,
        share=round(count.count / lines, 4) if lines else 0.0,
        error_lines=count.errors,
        first_seen=iso(count.first_ns / 1e9) if count.first_ns is not None else None,
        last_seen=iso(count.last_ns / 1e9) if count.last_ns is not None else None,
        examples=[render(line) for line in count.examples],
    )


class LogAnalyzer:
    def __init__(self, roots: Sequence[Path], *, max_bytes: int) -> None:
        self.roots = tuple(root.resolve() for root in roots)
        self.max_bytes = max_bytes

    def analyze(
        self,
        *,
        text: str | None,
        path: str | None,
        fmt: str,
        limit: int,
        notes: list[str],
        render: Render,
    ) -> AnalyzeLogsResult:
        if (text is None) == (path is None):
            raise InputError("Give exactly one of `text` (the log content) or `path` (a file on the server).")
        if text is not None:
            source = "text"
            data = text.encode()
        else:
            assert path is not None
            source = path
            data = self._read(path)
        if len(data) > self.max_bytes:
            notes.append(f"read the first {self.max_bytes} bytes of {len(data)} (LOKI_MCP_MAX_UPLOAD_BYTES)")
            data = data[: self.max_bytes]
        lines: Iterator[str] = iter(io.StringIO(data.decode("utf-8", errors="replace")))
        head = read_head(lines)
        if looks_binary(head):
            raise InputError(f"{source} looks binary, not like a text log. Decompress it or give a text log.")
        chosen: LogFormat = sniff_format(head) if fmt == "auto" else fmt  # type: ignore[assignment]
        records = parse_records(
            itertools.chain(head, lines),
            chosen,
            year=datetime.datetime.now(datetime.UTC).year,
            strict=fmt != "auto",
            source=source,
            hint="Use format 'auto' to read such lines as plain text.",
        )
        return self._profile(records, source, chosen, limit, notes, render)

    def _read(self, path: str) -> bytes:
        if not self.roots:
            raise Forbidden(
                "This server reads no files: set LOKI_MCP_LOCAL_ANALYSIS_ROOTS to the directories it may read, "
                "or pass the log content as `text`."
            )
        resolved = Path(path).expanduser().resolve()
        if not any(resolved.is_relative_to(root) for root in self.roots):
            allowed = ", ".join(str(root) for root in self.roots)
            raise Forbidden(f"{path} is outside the directories this server may read ({allowed}).")
        try:
            # A named pipe would block until something writes to it, a device might never end.
            if not stat.S_ISREG(resolved.stat().st_mode):
                raise InputError(f"{path} is not a regular file (a named pipe or a device, say); give a log file.")
            with resolved.open("rb") as handle:
                return handle.read(self.max_bytes + 1)
        except OSError as exc:
            refusal = _READ_REFUSALS.get(type(exc), InputError)
            raise refusal(f"Cannot read {path}: {exc.strerror or exc}. Check the path.") from None

    def _profile(
        self,
        records: Iterator[LogRecord],
        source: str,
        fmt: str,
        limit: int,
        notes: list[str],
        render: Render,
    ) -> AnalyzeLogsResult:
        counter = TemplateCounter(TemplateMiner())
        # (time or None, template id) per line: continuation lines (a stack trace) take the time before.
        timeline: list[tuple[int | None, str]] = []
        last_ns: int | None = None
        stamped = 0
        for record in records:
            if record.timestamp_ns is not None:
                stamped += 1
                last_ns = record.timestamp_ns
            labels = {"level": record.level} if record.level else {}
            template_id = counter.add(last_ns, message_of(record.line), record.line, labels)
            timeline.append((last_ns, template_id))
        counts = counter.result()
        ranked = sorted(counts.values(), key=lambda c: (-c.count, c.template_id))
        errors = [c for c in ranked if c.is_error]
        times = [ts for ts, _ in timeline if ts is not None]
        windows, bucket = _anomalous_windows(timeline, counts)
        if len(ranked) > limit:
            notes.append(f"showing the {limit} most frequent of {len(ranked)} templates")
        return AnalyzeLogsResult(
            source=source,
            format=fmt,
            lines=len(timeline),
            lines_with_timestamp=stamped,
            first_timestamp=iso(min(times) / 1e9) if times else None,
            last_timestamp=iso(max(times) / 1e9) if times else None,
            templates_total=len(ranked),
            templates=[pattern_result(c, len(timeline), render) for c in ranked[:limit]],
            error_clusters=[pattern_result(c, len(timeline), render) for c in errors[:limit]],
            anomalous_windows=windows,
            window_seconds=bucket,
            limits_applied=notes,
        )


def _anomalous_windows(
    timeline: list[tuple[int | None, str]], counts: dict[str, TemplateCount]
) -> tuple[list[AnomalousWindow], float | None]:
    times = [ts for ts, _ in timeline if ts is not None]
    if len(times) < 2:
        return [], None
    first, last = min(times), max(times)
    span = (last - first) / 1e9
    bucket = next((b for b in _BUCKET_SECONDS if span / b <= MAX_BUCKETS), _BUCKET_SECONDS[-1])
    size_ns = bucket * 1_000_000_000
    origin = first - first % size_ns
    volumes = [0] * ((last - origin) // size_ns + 1)
    per_bucket: dict[int, Counter[str]] = {}
    for ts, template_id in timeline:
        if ts is None:
            continue
        index = (ts - origin) // size_ns
        volumes[index] += 1
        per_bucket.setdefault(index, Counter())[template_id] += 1
    windows = []
    for index, score, median in high_counts(volumes)[:WINDOWS_REPORTED]:
        start_ns = origin + index * size_ns
        top = [counts[t].template for t, _ in per_bucket.get(index, Counter()).most_common(3)]
        windows.append(
            AnomalousWindow(
                start=iso(start_ns / 1e9),
                end=iso((start_ns + size_ns) / 1e9),
                lines=volumes[index],
                expected=median,
                score=round(score, 2),
                top_templates=top,
            )
        )
    return windows, float(bucket)
