"""A webhook receiver that records what Alertmanager posts to it, served for real on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from support.asgi_server import ServedApp
from support.eventually import eventually

__all__ = ["Webhook", "recording_webhook"]


class Webhook:
    """Records every POST it receives (headers and JSON body)."""

    def __init__(self) -> None:
        self.received: list[tuple[dict[str, str], Any]] = []

        async def record(request: Request) -> Response:
            self.received.append((dict(request.headers), await request.json()))
            return Response(status_code=200)

        self.app = Starlette(routes=[Route("/webhooks/alertmanager", record, methods=["POST"])])

    def wait_for(self, alertname: str, timeout: float = 20.0) -> tuple[dict[str, str], Any]:
        def carrying() -> tuple[dict[str, str], Any] | None:
            return next(
                (
                    (headers, body)
                    for headers, body in self.received
                    if any(alert["labels"].get("alertname") == alertname for alert in body.get("alerts", []))
                ),
                None,
            )

        return eventually(
            carrying, timeout=timeout, interval=0.1, what=lambda: f"a webhook carrying {alertname}; got {self.received}"
        )


@contextmanager
def recording_webhook() -> Iterator[tuple[Webhook, str]]:
    """A recording webhook and its URL."""
    hook = Webhook()
    with ServedApp(hook.app) as served:
        yield hook, f"{served.url}/webhooks/alertmanager"
