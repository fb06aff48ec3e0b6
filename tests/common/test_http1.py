"""Http1Transport under httpx against a real TCP server on 127.0.0.1 that answers as each test says."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import httpx
import pytest

from common.http1 import Http1Transport

pytestmark = pytest.mark.anyio

Answer = Callable[[bytes], Awaitable[bytes | None]]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class Server:
    """Reads request heads (and Content-Length bodies); `answer` gives the raw reply, None to hang up."""

    def __init__(self, answer: Answer) -> None:
        self.answer = answer
        #: Hang up after each reply (a body without a length ends there).
        self.close_after_reply = False
        self.connections = 0
        self.bodies: list[bytes] = []
        self._server: asyncio.Server | None = None
        self._writers: list[asyncio.StreamWriter] = []

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self._writers.append(writer)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":")[1])
                self.bodies.append(await reader.readexactly(length))
                reply = await self.answer(head)
                if reply is None:
                    break
                writer.write(reply)
                await writer.drain()
                if self.close_after_reply:
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    def close_idle(self) -> None:
        for writer in self._writers:
            writer.close()

    async def __aenter__(self) -> str:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self.close_idle()
        self._server.close()


def fixed(body: bytes, *headers: bytes) -> Answer:
    async def answer(head: bytes) -> bytes:
        extra = b"".join(header + b"\r\n" for header in headers)
        return b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n%s\r\n%s" % (len(body), extra, body)

    return answer


async def test_requests_reuse_one_connection_and_send_their_bodies() -> None:
    server = Server(fixed(b'{"status":"success"}'))
    async with server as url, httpx.AsyncClient(base_url=url, transport=Http1Transport()) as http:
        answers = [await http.post("/api/v1/query", data={"query": f"vector({n})"}) for n in range(3)]

    assert [answer.json() for answer in answers] == [{"status": "success"}] * 3
    assert server.bodies == [b"query=vector%280%29", b"query=vector%281%29", b"query=vector%282%29"]
    assert server.connections == 1


async def test_a_chunked_body_with_trailers_is_read_whole_and_the_connection_kept() -> None:
    async def chunked(head: bytes) -> bytes:
        return (
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n7;x=y\r\n, world\r\n0\r\nT: 1\r\n\r\n"
        )

    server = Server(chunked)
    async with server as url, httpx.AsyncClient(base_url=url, transport=Http1Transport()) as http:
        first = await http.get("/a")
        second = await http.get("/b")

    assert first.text == second.text == "hello, world"
    assert server.connections == 1


async def test_connection_close_and_a_server_closing_idle_connections_open_new_ones() -> None:
    server = Server(fixed(b"ok", b"Connection: close"))
    async with server as url, httpx.AsyncClient(base_url=url, transport=Http1Transport()) as http:
        assert (await http.get("/")).text == "ok"
        assert (await http.get("/")).text == "ok"
        assert server.connections == 2

        server.answer = fixed(b"kept")
        assert (await http.get("/")).text == "kept"
        server.close_idle()
        await asyncio.sleep(0.2)  # the close reaches the client's event loop
        assert (await http.get("/")).text == "kept"

    assert server.connections == 4


async def test_a_body_without_length_ends_when_the_server_closes() -> None:
    async def until_close(head: bytes) -> bytes:
        return b"HTTP/1.1 200 OK\r\n\r\nall of it"

    server = Server(until_close)
    server.close_after_reply = True
    async with server as url, httpx.AsyncClient(base_url=url, transport=Http1Transport()) as http:
        first = await http.get("/")
        second = await http.get("/")

    assert first.text == second.text == "all of it"
    assert server.connections == 2


async def test_a_silent_server_is_a_read_timeout_and_a_dead_one_a_connect_error() -> None:
    async def silent(head: bytes) -> bytes:
        await asyncio.sleep(30)
        return b""

    server = Server(silent)
    async with (
        server as url,
        httpx.AsyncClient(base_url=url, transport=Http1Transport(), timeout=httpx.Timeout(5.0, read=0.3)) as http,
    ):
        with pytest.raises(httpx.ReadTimeout):
            await http.get("/")
    with pytest.raises(httpx.ConnectError):
        async with httpx.AsyncClient(base_url=url, transport=Http1Transport()) as http:
            await http.get("/")


async def test_a_server_hanging_up_before_answering_is_a_protocol_error() -> None:
    async def hang_up(head: bytes) -> None:
        return None

    async with Server(hang_up) as url, httpx.AsyncClient(base_url=url, transport=Http1Transport()) as http:
        with pytest.raises(httpx.RemoteProtocolError):
            await http.get("/")
