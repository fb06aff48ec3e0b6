"""A two-hour log dataset with a known incident, for loki-mcp's tools and the embedded store.

Times are relative to when the dataset is built (the store's retention would drop fixed old
dates). Streams, all `namespace="prod"`:
- checkout info (JSON lines), one request line every 10 s: steady.
- checkout error (JSON lines): "payment gateway timeout" every 10 min all along (steady), and
  from 30 min before the end a new error, "connection refused to db:5432", every 5 s.
- payments info (logfmt), one line every 20 s: steady; payments error: two "login failed"
  lines carrying a password and a bearer token, which must never leave the server.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass

from servers.loki_mcp.models import PushEntry, PushStream

SECRET_PASSWORD = "hunter2-very-secret"
SECRET_TOKEN = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ0ZXN0In0.c2lnbmF0dXJlLXNlY3JldA"
SPAN_SECONDS = 2 * 3600
INCIDENT_SECONDS = 30 * 60
S = 1_000_000_000


@dataclass(frozen=True)
class LogDataset:
    start_ns: int
    end_ns: int
    streams: tuple[PushStream, ...]

    @property
    def incident_start_ns(self) -> int:
        return self.end_ns - INCIDENT_SECONDS * S

    def window(self, *, last_seconds: float | None = None) -> dict[str, str]:
        """Tool arguments for the whole dataset, or for its last `last_seconds`.

        The bounds fall half a second off the entries' times (which are whole seconds apart), so
        the float seconds of a tool argument cannot round an entry in or out.
        """
        end = self.end_ns + S // 2
        start = self.start_ns - S // 2 if last_seconds is None else end - int(last_seconds * S)
        return {"start": f"{start / S:.3f}", "end": f"{end / S:.3f}"}

    def count(self, **labels: str) -> int:
        return sum(len(s.entries) for s in self.streams if all(s.labels.get(k) == v for k, v in labels.items()))

    def push_body(self) -> dict[str, object]:
        return {
            "streams": [
                {"stream": dict(s.labels), "values": [[str(e.timestamp_ns), e.line] for e in s.entries]}
                for s in self.streams
            ]
        }


def build_log_dataset(now_ns: int | None = None) -> LogDataset:
    end_ns = (now_ns or time.time_ns()) - 60 * S
    start_ns = end_ns - SPAN_SECONDS * S
    incident_ns = end_ns - INCIDENT_SECONDS * S

    def checkout(level: str, msg: str, **fields: object) -> str:
        return json.dumps({"level": level, "msg": msg, **fields})

    info = [
        PushEntry(
            t, checkout("info", f"GET /api/cart/{i % 97} 200 in {10 + i % 7}ms", status=200, duration_ms=10 + i % 7)
        )
        for i, t in enumerate(range(start_ns, end_ns, 10 * S))
    ]
    timeouts = [
        PushEntry(t + 3 * S, checkout("error", "payment gateway timeout after 3000ms", status=504))
        for t in range(start_ns, end_ns, 600 * S)
    ]
    refused = [
        PushEntry(t + 1 * S, checkout("error", f"connection refused to db:5432 (attempt {i % 5 + 1})", status=500))
        for i, t in enumerate(range(incident_ns, end_ns - S, 5 * S))
    ]
    payments = [
        PushEntry(t + 2 * S, f'level=info msg="charge ok" amount={10 + i % 40}.50 user=u{1000 + i}')
        for i, t in enumerate(range(start_ns, end_ns, 20 * S))
    ]
    leaks = [
        PushEntry(end_ns - 600 * S, f'level=error msg="login failed" user=alice password={SECRET_PASSWORD}'),
        PushEntry(
            end_ns - 300 * S, f'level=error msg="upstream said no" header="Authorization: Bearer {SECRET_TOKEN}"'
        ),
    ]
    errors = sorted(timeouts + refused, key=lambda e: e.timestamp_ns)
    return LogDataset(
        start_ns=start_ns,
        end_ns=end_ns,
        streams=(
            PushStream({"namespace": "prod", "service": "checkout", "level": "info"}, tuple(info)),
            PushStream({"namespace": "prod", "service": "checkout", "level": "error"}, tuple(errors)),
            PushStream({"namespace": "prod", "service": "payments", "level": "info"}, tuple(payments)),
            PushStream({"namespace": "prod", "service": "payments", "level": "error"}, tuple(leaks)),
        ),
    )
