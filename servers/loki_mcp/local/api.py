"""Loki's HTTP API over the embedded store: the routes mounted under `/loki/api/v1`.

Requests and answers are Loki's: query parameters in the URL or, for POST, a form body; JSON
answers written compactly with a trailing newline; errors as `text/plain` 400s carrying Loki's
messages; an unknown path `404 page not found`. A client cannot tell this from a Loki except by
`/status/buildinfo` and by `UnsupportedQuery` for LogQL outside the subset (`servers.loki_mcp.logql`).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
from starlette.datastructures import MultiDict
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from common.errors import InputError
from servers.loki_mcp.local import catalog
from servers.loki_mcp.local.discovery import discover
from servers.loki_mcp.local.engine import Steps, evaluate_metric, query_logs
from servers.loki_mcp.local.line_cap import TRUNCATED_FROM, cap_streams
from servers.loki_mcp.local.params import (
    check_length,
    parse_direction,
    parse_limit,
    parse_step_ns,
    parse_time_ns,
    window,
)
from servers.loki_mcp.local.patterns import patterns
from servers.loki_mcp.local.push import decode_push
from servers.loki_mcp.local.records import LogStore, Matcher
from servers.loki_mcp.logql import LogQuery, parse
from servers.loki_mcp.models import CATEGORIZE_LABELS
from servers.loki_mcp.settings import DEFAULT_MAX_LINE_CHARS, DEFAULT_QUERY_TIMEOUT_SECONDS

__all__ = ["BUILD_VERSION", "loki_api_routes"]

logger = logging.getLogger(__name__)

BUILD_VERSION = "sre-federation-local"
_ENCODING_FLAGS = "x-loki-response-encoding-flags"
_INSTANT_LOG_QUERY = (
    "log queries are not supported as an instant query type, please change your query to a range query type"
)

Handler = Callable[[Request], Awaitable[Response]]


def loki_api_routes(
    store: LogStore,
    *,
    max_push_bytes: int,
    max_line_chars: int = DEFAULT_MAX_LINE_CHARS,
    query_timeout: float = DEFAULT_QUERY_TIMEOUT_SECONDS,
) -> list[BaseRoute]:
    """Routes relative to `/loki/api/v1`, answering from `store`.

    Pushed lines over `max_line_chars` are cut and marked (`line_cap`); a query running past
    `query_timeout` seconds is stopped with a 504 saying how to narrow it.
    """

    async def push(request: Request) -> Response:
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > max_push_bytes:
            return _too_large(max_push_bytes)
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > max_push_bytes:
                return _too_large(max_push_bytes)
        streams = decode_push(
            bytes(body),
            request.headers.get("content-type"),
            request.headers.get("content-encoding"),
            max_bytes=max_push_bytes,
        )
        capped, cut = cap_streams(streams, max_line_chars)
        if cut:
            logger.warning(
                "Push: %d line(s) over %d characters were cut and marked %s", cut, max_line_chars, TRUNCATED_FROM
            )
        await store.append(discover(capped))
        return Response(status_code=204)

    async def query(request: Request) -> Response:
        params = await _params(request)
        expr = parse(_required(params, "query"))
        if isinstance(expr, LogQuery):
            raise InputError(_INSTANT_LOG_QUERY)
        at_ns = parse_time_ns(params.get("time"), time.time_ns(), "time")
        return _success(await evaluate_metric(store, expr, Steps(at_ns, 1, 1), instant=True))

    async def query_range(request: Request) -> Response:
        params = await _params(request)
        expr = parse(_required(params, "query"))
        start_ns, end_ns = window(params)
        check_length(start_ns, end_ns)
        step_ns = parse_step_ns(params.get("step"), start_ns, end_ns)
        if isinstance(expr, LogQuery):
            data = await query_logs(
                store,
                expr,
                start_ns=start_ns,
                end_ns=end_ns,
                limit=parse_limit(params.get("limit")),
                direction=parse_direction(params.get("direction")),
                categorize_labels=CATEGORIZE_LABELS in request.headers.get(_ENCODING_FLAGS, ""),
            )
            return _success(data)
        # Loki aligns a metric query's steps to multiples of the step: start down, end up.
        first_ns = start_ns - start_ns % step_ns
        last_ns = end_ns + (-end_ns % step_ns)
        steps = Steps(first_ns, step_ns, (last_ns - first_ns) // step_ns + 1)
        return _success(await evaluate_metric(store, expr, steps, instant=False))

    async def labels(request: Request) -> Response:
        params = await _params(request)
        start_ns, end_ns = window(params)
        names = await catalog.label_names(store, _optional_selector(params), start_ns, end_ns)
        return _success(names)

    async def label_values(request: Request) -> Response:
        params = await _params(request)
        start_ns, end_ns = window(params)
        name = request.path_params["name"]
        return _success(await catalog.label_values(store, name, _optional_selector(params), start_ns, end_ns))

    async def series(request: Request) -> Response:
        params = await _params(request)
        start_ns, end_ns = window(params)
        selectors = [_selector(text) for text in params.getlist("match[]")]
        return _success(await catalog.series(store, selectors, start_ns, end_ns))

    async def index_stats(request: Request) -> Response:
        params = await _params(request)
        start_ns, end_ns = window(params)
        stats = await catalog.index_stats(store, _selector(_required(params, "query")), start_ns, end_ns)
        return _json(stats)

    async def index_volume(request: Request) -> Response:
        params = await _params(request)
        start_ns, end_ns = window(params)
        targets = [name for name in params.get("targetLabels", "").split(",") if name]
        limit = parse_limit(params.get("limit"), default=100)
        selector = _selector(_required(params, "query"))
        data = await catalog.index_volume(store, selector, start_ns, end_ns, limit=limit, target_labels=targets)
        return _success(data)

    async def pattern_list(request: Request) -> Response:
        params = await _params(request)
        start_ns, end_ns = window(params)
        expr = parse(_required(params, "query"))
        if not isinstance(expr, LogQuery):
            raise InputError("only log queries are supported for patterns: give a stream selector")
        step_ns = parse_step_ns(params.get("step"), start_ns, end_ns)
        return _success(await patterns(store, expr, start_ns, end_ns, step_ns))

    async def buildinfo(request: Request) -> Response:
        info = {
            "version": BUILD_VERSION,
            "revision": "",
            "branch": "",
            "buildUser": "",
            "buildDate": "",
            "goVersion": "",
        }
        return _json(info)

    async def not_found(request: Request) -> Response:
        return PlainTextResponse("404 page not found\n", status_code=404)

    def reading(handler: Handler) -> Handler:
        async def handle(request: Request) -> Response:
            with anyio.move_on_after(query_timeout):
                return await handler(request)
            return PlainTextResponse(
                f"query timed out: it ran longer than the store's {query_timeout:g}s limit "
                "(LOKI_MCP_LOCAL_QUERY_TIMEOUT_SECONDS) and was stopped; narrow the stream selector, "
                "add a |= line filter or shorten the window",
                status_code=504,
            )

        return _errors(handle)

    read = ["GET", "POST"]
    return [
        Route("/push", _errors(push), methods=["POST"]),
        Route("/query", reading(query), methods=read),
        Route("/query_range", reading(query_range), methods=read),
        Route("/labels", reading(labels), methods=read),
        Route("/label/{name}/values", reading(label_values), methods=read),
        Route("/series", reading(series), methods=read),
        Route("/index/stats", reading(index_stats), methods=read),
        Route("/index/volume", reading(index_volume), methods=read),
        Route("/patterns", reading(pattern_list), methods=read),
        Route("/status/buildinfo", _errors(buildinfo), methods=["GET"]),
        Route("/{path:path}", not_found),
    ]


def _errors(handler: Handler) -> Handler:
    async def handle(request: Request) -> Response:
        try:
            return await handler(request)
        except InputError as exc:
            return PlainTextResponse(str(exc), status_code=400)

    return handle


async def _params(request: Request) -> MultiDict:
    items = list(request.query_params.multi_items())
    if request.method == "POST" and request.headers.get("content-type", "").startswith(
        "application/x-www-form-urlencoded"
    ):
        form = await request.form()
        items += [(key, value) for key, value in form.multi_items() if isinstance(value, str)]
    return MultiDict(items)


def _required(params: MultiDict, name: str) -> str:
    value = params.get(name)
    if not value:
        raise InputError(f'invalid parameter "{name}": it is required')
    return str(value)


def _selector(text: str) -> tuple[Matcher, ...]:
    expr = parse(text)
    if not isinstance(expr, LogQuery):
        raise InputError(f'{text!r} is a metric query; a stream selector such as {{app="api"}} is expected here')
    return expr.matchers


def _optional_selector(params: MultiDict) -> tuple[Matcher, ...] | None:
    text = params.get("query")
    return _selector(str(text)) if text else None


def _success(data: Any) -> Response:
    return _json({"status": "success", "data": data})


def _json(body: Any) -> Response:
    text = json.dumps(body, separators=(",", ":"), ensure_ascii=False) + "\n"
    return Response(text, media_type="application/json; charset=UTF-8")


def _too_large(limit: int) -> Response:
    return PlainTextResponse(
        f"request body too large: the embedded log store takes push bodies of at most {limit} bytes; "
        "send smaller batches",
        status_code=413,
    )
