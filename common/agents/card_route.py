"""The route of the public Agent Card, cacheable as A2A 1.0 §8.6.1 asks.

a2a-sdk's card route sends a weak `ETag` and answers `If-None-Match` with 304; it sends
`Cache-Control` only when told, and no `Last-Modified`. Here the card also says how long it may be
reused (`Cache-Control: public, max-age=N`) and when it last changed: the card is built once, when
the app is, so that is the time the app was built, to the second (HTTP dates have no finer unit).
`If-Modified-Since` is answered with 304 when the card has not changed since; `If-None-Match`,
when sent, takes precedence (RFC 9110 §13.1.3) and stays the SDK's.
"""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime

from a2a.server.routes import create_agent_card_routes
from a2a.types import AgentCard
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

__all__ = ["CARD_MAX_AGE_SECONDS", "card_routes"]

#: How long a caller may reuse the card without asking again; cards change with a deployment, rarely.
CARD_MAX_AGE_SECONDS = 300


def card_routes(card: AgentCard, path: str, *, max_age_seconds: int = CARD_MAX_AGE_SECONDS) -> list[Route]:
    """The route serving `card` at `path`, with `Cache-Control`, `ETag` and `Last-Modified`."""
    last_modified = datetime.now(UTC).replace(microsecond=0)
    http_date = format_datetime(last_modified, usegmt=True)
    cache_control = f"public, max-age={max_age_seconds}"
    (sdk_route,) = create_agent_card_routes(card, card_url=path, cache_control=cache_control)
    if not isinstance(sdk_route, Route):
        raise TypeError(f"Expected a Starlette Route from a2a-sdk, got {type(sdk_route).__name__}.")
    sdk_endpoint = sdk_route.endpoint

    async def get_card(request: Request) -> Response:
        response: Response = await sdk_endpoint(request)
        response.headers["Last-Modified"] = http_date
        # If-None-Match, when sent, decides alone (RFC 9110 §13.1.3); the SDK has answered it.
        unchanged = "if-none-match" not in request.headers and _unchanged_since(request, last_modified)
        if response.status_code == 200 and unchanged:
            kept = {name: response.headers[name] for name in ("ETag", "Cache-Control", "Last-Modified")}
            return Response(status_code=304, headers=kept)
        return response

    return [Route(path, get_card, methods=["GET"])]


def _unchanged_since(request: Request, last_modified: datetime) -> bool:
    """Whether the request's `If-Modified-Since` is a valid date no earlier than `last_modified`."""
    header = request.headers.get("if-modified-since")
    if not header:
        return False
    try:
        since = parsedate_to_datetime(header)
    except (TypeError, ValueError):
        return False  # an invalid date is ignored (RFC 9110 §13.1.3)
    if since.tzinfo is None:
        return False
    return last_modified <= since
