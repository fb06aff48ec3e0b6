"""What `rest_app` answers when a handler, its parsing or its guard refuses a request by raising `HttpError`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest
from pydantic import BaseModel, ConfigDict
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from common.metrics import ServerMetrics
from common.rest import BearerGuard, HttpError, parse_body, parse_query, rest_app

pytestmark = pytest.mark.anyio


class Greeting(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str


async def greet(request: Request) -> Response:
    query = parse_query(request, Greeting)
    body = await parse_body(request, Greeting, max_body_bytes=64)
    return JSONResponse({"hello": body.name, "from": query.name})


async def refuse(request: Request) -> Response:
    refusal = HttpError(401, "invalid_credentials", "Wrong.", headers={"WWW-Authenticate": 'Bearer realm="x"'})
    refusal.headers.append(("WWW-Authenticate", 'Basic realm="x"'))
    raise refusal


async def crash(request: Request) -> Response:
    raise RuntimeError("a bug")


@asynccontextmanager
async def nothing(app: Starlette) -> AsyncIterator[None]:
    yield


def client() -> httpx.AsyncClient:
    routes = [
        Route("/greet", greet, methods=["POST"]),
        Route("/refuse", refuse, methods=["GET"]),
        Route("/crash", crash, methods=["GET"]),
        Route("/guarded", BearerGuard("test", required=True)(greet), methods=["POST"]),
    ]
    app = rest_app(routes, nothing, None, ServerMetrics("test"), ("/greet",), 1000, ())
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    return httpx.AsyncClient(transport=transport, base_url="http://test")


async def test_parsed_query_and_body_reach_the_handler() -> None:
    async with client() as http:
        response = await http.post("/greet", params={"name": "q"}, json={"name": "b"})
    assert response.status_code == 200
    assert response.json() == {"hello": "b", "from": "q"}


async def test_body_that_breaks_its_model_is_a_422_naming_the_field() -> None:
    async with client() as http:
        response = await http.post("/greet", params={"name": "q"}, json={"name": "b", "extra": 1})
    assert response.status_code == 422
    body = response.json()
    assert body["error"] == "invalid_request"
    assert [error["field"] for error in body["errors"]] == ["extra"]


async def test_unknown_query_parameter_is_a_422_naming_it() -> None:
    async with client() as http:
        response = await http.post("/greet", params={"name": "q", "colour": "red"}, json={"name": "b"})
    assert response.status_code == 422
    assert [error["field"] for error in response.json()["errors"]] == ["colour"]


async def test_body_over_the_limit_is_a_413_and_a_non_json_one_a_400() -> None:
    async with client() as http:
        large = await http.post("/greet", params={"name": "q"}, json={"name": "b" * 100})
        text = await http.post("/greet", params={"name": "q"}, content=b"hi", headers={"content-type": "text/plain"})
    assert (large.status_code, large.json()["error"]) == (413, "request_too_large")
    assert (text.status_code, text.json()["error"]) == (400, "invalid_request")


async def test_raised_refusal_keeps_every_header_it_carries() -> None:
    async with client() as http:
        response = await http.get("/refuse")
    assert response.status_code == 401
    assert response.json() == {"error": "invalid_credentials", "error_description": "Wrong."}
    assert response.headers.get_list("www-authenticate") == ['Bearer realm="x"', 'Basic realm="x"']


async def test_guard_refuses_a_request_without_a_token_before_the_handler_reads_it() -> None:
    async with client() as http:
        response = await http.post("/guarded", content=b"not json")
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")


async def test_unexpected_exception_is_a_500_with_a_trace_id_and_no_detail() -> None:
    async with client() as http:
        response = await http.get("/crash")
    assert response.status_code == 500
    body = response.json()
    assert body["error"] == "server_error"
    assert "trace id" in body["error_description"]
    assert "a bug" not in response.text
