"""A lean HTTP/1.1 transport for httpx: keep-alive connections on asyncio streams, for backends' APIs.

httpx's own transport (httpcore and h11) costs about half a millisecond of CPU per request on
this project's 2-core machines, as much as all the rest of a Prometheus query relayed by
prometheus-mcp. `Http1Transport` writes the request head itself and reads the response head and
body with `asyncio.StreamReader`; httpx keeps everything above the transport (headers, auth,
cookies, decoding, timeouts as configured, proxies from the environment, which httpx mounts on
transports of its own).

Contract:
- `http` and `https` origins; TLS with the given `ssl.SSLContext` (httpx's own for `verify`), the
  host name checked as usual; HTTP/1.1 only.
- Connections are kept per origin and reused while the server keeps them open (not after
  `Connection: close`, an unread body or a connection the server has closed); at most
  `max_connections` requests are in flight at once, further ones wait.
- Response bodies by `Content-Length`, `chunked` or, failing both, until the server closes;
  read as the caller iterates the response, in the chunks the socket delivers.
- Errors are httpx's: `ConnectError`/`ConnectTimeout` before the request is sent,
  `WriteTimeout`, `ReadTimeout`, `RemoteProtocolError` for a connection closed early or an answer
  that is not HTTP/1.1 (a `RetryTransport` resends idempotent requests after those), and an
  `ssl.SSLError` after the handshake as it comes (a TLS alert refusing a client certificate).
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator
from typing import Any

import httpx

__all__ = ["Http1Transport"]

#: A response head longer than this is refused; real backends send a few hundred bytes.
MAX_HEAD_BYTES = 64 * 1024
_READ_SIZE = 64 * 1024

_Origin = tuple[str, str, int]


class _Connection:
    def __init__(self, origin: _Origin, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.origin = origin
        self.reader = reader
        self.writer = writer

    @property
    def usable(self) -> bool:
        return not self.reader.at_eof() and not self.writer.is_closing()

    def close(self) -> None:
        self.writer.close()


class Http1Transport(httpx.AsyncBaseTransport):
    def __init__(self, *, ssl_context: ssl.SSLContext | None = None, max_connections: int = 50) -> None:
        self._ssl = ssl_context
        self._idle: dict[_Origin, list[_Connection]] = {}
        self._slots = asyncio.Semaphore(max_connections)
        self._max_idle = max_connections

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        timeouts: dict[str, float | None] = request.extensions.get("timeout", {})
        url = request.url
        port = url.port or (443 if url.scheme == "https" else 80)
        origin: _Origin = (url.scheme, url.host, port)
        body = await request.aread()
        await self._slots.acquire()
        try:
            connection = self._idle_connection(origin) or await self._connect(origin, timeouts.get("connect"))
            try:
                async with asyncio.timeout(timeouts.get("write")):
                    connection.writer.write(_head(request, body) + body)
                    await connection.writer.drain()
            except TimeoutError:
                connection.close()
                raise httpx.WriteTimeout("Timed out sending the request.", request=request) from None
            except OSError as exc:
                connection.close()
                raise httpx.RemoteProtocolError(f"The connection failed while sending: {exc}", request=request) from exc
            status, reason, headers = await self._read_head(connection, timeouts.get("read"), request)
        except BaseException:
            self._slots.release()
            raise
        stream = _Body(self, connection, request, status, headers, timeouts.get("read"))
        return httpx.Response(
            status,
            headers=headers,
            stream=stream,
            extensions={"http_version": b"HTTP/1.1", "reason_phrase": reason},
        )

    def _idle_connection(self, origin: _Origin) -> _Connection | None:
        idle = self._idle.get(origin)
        while idle:
            connection = idle.pop()
            if connection.usable:
                return connection
            connection.close()
        return None

    async def _connect(self, origin: _Origin, seconds: float | None) -> _Connection:
        scheme, host, port = origin
        tls = (self._ssl or httpx.create_ssl_context()) if scheme == "https" else None
        try:
            async with asyncio.timeout(seconds):
                reader, writer = await asyncio.open_connection(
                    host, port, ssl=tls, server_hostname=host if tls else None, limit=MAX_HEAD_BYTES
                )
        except TimeoutError:
            raise httpx.ConnectTimeout(f"Timed out connecting to {host}:{port}.") from None
        except OSError as exc:  # ssl.SSLError included: a failed handshake is a failed connection
            raise httpx.ConnectError(str(exc) or type(exc).__name__) from exc
        return _Connection(origin, reader, writer)

    async def _read_head(
        self, connection: _Connection, seconds: float | None, request: httpx.Request
    ) -> tuple[int, bytes, list[tuple[bytes, bytes]]]:
        try:
            async with asyncio.timeout(seconds):
                raw = await connection.reader.readuntil(b"\r\n\r\n")
        except TimeoutError:
            connection.close()
            raise httpx.ReadTimeout("Timed out waiting for the response.", request=request) from None
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError) as exc:
            connection.close()
            raise httpx.RemoteProtocolError(
                "The server closed the connection without a complete response head.", request=request
            ) from exc
        lines = raw[:-4].split(b"\r\n")
        parts = lines[0].split(b" ", 2)
        if len(parts) < 2 or not parts[0].startswith(b"HTTP/1.") or not parts[1].isdigit():
            connection.close()
            raise httpx.RemoteProtocolError("The server's answer is not HTTP/1.1.", request=request)
        headers = []
        for line in lines[1:]:
            name, colon, value = line.partition(b":")
            if not colon:
                connection.close()
                raise httpx.RemoteProtocolError("The server sent a malformed header line.", request=request)
            headers.append((name.strip(), value.strip()))
        return int(parts[1]), parts[2] if len(parts) > 2 else b"", headers

    def _release(self, connection: _Connection, reusable: bool) -> None:
        self._slots.release()
        idle = self._idle.setdefault(connection.origin, [])
        if reusable and connection.usable and len(idle) < self._max_idle:
            idle.append(connection)
        else:
            connection.close()

    async def aclose(self) -> None:
        for idle in self._idle.values():
            for connection in idle:
                connection.close()
        self._idle.clear()


class _Body(httpx.AsyncByteStream):
    """A response body read from its connection, which goes back to the pool once read to the end."""

    def __init__(
        self,
        transport: Http1Transport,
        connection: _Connection,
        request: httpx.Request,
        status: int,
        headers: list[tuple[bytes, bytes]],
        timeout: float | None,
    ) -> None:
        self._transport = transport
        self._connection: _Connection | None = connection
        self._request = request
        self._timeout = timeout
        fields = {name.lower(): value for name, value in headers}
        self._keep_alive = fields.get(b"connection", b"").lower() != b"close"
        self._chunked = b"chunked" in fields.get(b"transfer-encoding", b"").lower()
        length = fields.get(b"content-length")
        if request.method == "HEAD" or status in (204, 304) or 100 <= status < 200:
            self._length: int | None = 0
        elif self._chunked:
            self._length = None
        elif length is not None and length.isdigit():
            self._length = int(length)
        else:
            self._length = None
            self._keep_alive = False  # the body ends when the server closes

    async def __aiter__(self) -> AsyncIterator[bytes]:
        connection = self._connection
        if connection is None:
            return
        reader = connection.reader
        try:
            if self._chunked:
                async for chunk in self._chunks(reader):
                    yield chunk
            elif self._length is not None:
                remaining = self._length
                while remaining:
                    data = await self._read(reader.read(min(remaining, _READ_SIZE)))
                    if not data:
                        raise httpx.RemoteProtocolError(
                            "The server closed the connection before the whole body.", request=self._request
                        )
                    remaining -= len(data)
                    yield data
            else:
                while data := await self._read(reader.read(_READ_SIZE)):
                    yield data
        except BaseException:
            self._finish(reusable=False)
            raise
        self._finish(reusable=self._keep_alive)

    async def _chunks(self, reader: asyncio.StreamReader) -> AsyncIterator[bytes]:
        while True:
            size_line = await self._read(reader.readuntil(b"\r\n"))
            try:
                size = int(size_line.split(b";", 1)[0].strip(), 16)
            except ValueError:
                raise httpx.RemoteProtocolError("The server sent a malformed chunk.", request=self._request) from None
            if size == 0:
                # Trailers, if any, end with an empty line.
                while await self._read(reader.readuntil(b"\r\n")) != b"\r\n":
                    pass
                return
            data = await self._read(reader.readexactly(size + 2))
            yield data[:-2]

    async def _read(self, reading: Any) -> bytes:
        try:
            async with asyncio.timeout(self._timeout):
                data: bytes = await reading
                return data
        except TimeoutError:
            raise httpx.ReadTimeout("Timed out reading the response body.", request=self._request) from None
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError) as exc:
            raise httpx.RemoteProtocolError(
                "The server closed the connection before the whole body.", request=self._request
            ) from exc

    def _finish(self, *, reusable: bool) -> None:
        if self._connection is not None:
            self._transport._release(self._connection, reusable)
            self._connection = None

    async def aclose(self) -> None:
        # A body not read to the end leaves the connection mid-response: it cannot be reused.
        self._finish(reusable=False)


def _head(request: httpx.Request, body: bytes) -> bytes:
    target = request.url.raw_path
    lines = [request.method.encode("ascii") + b" " + target + b" HTTP/1.1"]
    has_length = False
    for name, value in request.headers.raw:
        lowered = name.lower()
        if lowered == b"transfer-encoding":
            continue  # the body was read whole: it is sent with its length
        if lowered == b"content-length":
            has_length = True
        lines.append(name + b": " + value)
    if (body and not has_length) or request.headers.get("transfer-encoding"):
        lines = [line for line in lines if not line.lower().startswith(b"content-length:")]
        lines.append(b"Content-Length: " + str(len(body)).encode("ascii"))
    return b"\r\n".join(lines) + b"\r\n\r\n"
