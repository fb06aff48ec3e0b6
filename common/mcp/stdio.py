"""Serving an MCP server over stdio with the pipes read and written on the event loop.

The SDK's `stdio_server` reads stdin and writes stdout through `anyio.wrap_file`, which hands
every line read, every write and every flush to a worker thread: a dozen thread hops per tool
call, about a tenth of the server's CPU per call. `serve_stdio` gives the SDK's transport
(unchanged: its parsing, its streams) a line reader and a writer on asyncio pipe transports
instead.

The contract is the SDK's: while serving, fd 0 reads the null device and fd 1 writes to stderr,
so a handler or a child process that prints cannot corrupt the wire; both are pointed back at
the wire on exit. A line longer than `MAX_LINE_BYTES` is dropped with a warning (the SDK's
transport would buffer any length). When stdin or stdout is not a pipe or a socket (a regular
file, a terminal), the SDK's own transport serves: an event loop cannot watch a regular file,
and a terminal's non-blocking flag would outlive this process.
"""

from __future__ import annotations

import asyncio
import fcntl
import logging
import os
import stat
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, cast

import anyio
from mcp.server.mcpserver import MCPServer
from mcp.server.stdio import stdio_server

__all__ = ["MAX_LINE_BYTES", "serve_stdio"]

logger = logging.getLogger(__name__)

#: The longest JSON-RPC message read; far above any tool call this project's servers take.
MAX_LINE_BYTES = 16 * 1024 * 1024


async def serve_stdio(server: MCPServer[Any]) -> None:
    """Serve `server` on this process's stdin and stdout until stdin closes."""
    if not (_is_pipe(0) and _is_pipe(1)):
        await server.run_stdio_async()
        return
    # Explicit streams: the SDK does not claim fd 0 and 1 itself (`_pipes` has diverted them).
    async with (
        _pipes() as (lines, out),
        stdio_server(stdin=cast(anyio.AsyncFile[str], lines), stdout=cast(anyio.AsyncFile[str], out)) as (
            read_stream,
            write_stream,
        ),
    ):
        # MCPServer.run_stdio_async does the same with the SDK's own streams.
        lowlevel = server._lowlevel_server
        await lowlevel.run(read_stream, write_stream, lowlevel.create_initialization_options())


class _Lines:
    """stdin as the SDK's transport iterates it: decoded lines, newline included."""

    def __init__(self, reader: asyncio.StreamReader) -> None:
        self._reader = reader

    def __aiter__(self) -> _Lines:
        return self

    async def __anext__(self) -> str:
        while True:
            try:
                line = await self._reader.readline()
            except ValueError:
                # StreamReader has discarded the oversized line's bytes it buffered.
                logger.warning("Dropped a message longer than %d bytes on stdin.", MAX_LINE_BYTES)
                continue
            if not line:
                raise StopAsyncIteration
            return line.decode("utf-8", errors="replace")


class _Writer:
    """stdout as the SDK's transport writes it: `write` then `flush` per message."""

    def __init__(self, writer: asyncio.StreamWriter) -> None:
        self._writer = writer

    async def write(self, text: str) -> None:
        self._writer.write(text.encode("utf-8"))

    async def flush(self) -> None:
        await self._writer.drain()


@asynccontextmanager
async def _pipes() -> AsyncIterator[tuple[_Lines, _Writer]]:
    loop = asyncio.get_running_loop()
    # Private duplicates carry the wire; fd 0 and 1 are diverted while serving.
    wire_in = fcntl.fcntl(0, fcntl.F_DUPFD_CLOEXEC, 3)
    wire_out = fcntl.fcntl(1, fcntl.F_DUPFD_CLOEXEC, 3)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    os.dup2(2, 1)
    read_transport: asyncio.BaseTransport | None = None
    write_transport: asyncio.WriteTransport | None = None
    try:
        reader = asyncio.StreamReader(limit=MAX_LINE_BYTES, loop=loop)
        read_transport, _ = await loop.connect_read_pipe(
            lambda: asyncio.StreamReaderProtocol(reader, loop=loop),
            os.fdopen(wire_in, "rb", buffering=0, closefd=False),
        )
        write_transport, protocol = await loop.connect_write_pipe(
            # StreamWriter.drain needs the flow control StreamReaderProtocol has; no reader behind it.
            lambda: asyncio.StreamReaderProtocol(asyncio.StreamReader(loop=loop), loop=loop),
            os.fdopen(wire_out, "wb", buffering=0, closefd=False),
        )
        yield _Lines(reader), _Writer(asyncio.StreamWriter(write_transport, protocol, None, loop))
    finally:
        for transport in (read_transport, write_transport):
            if transport is not None:
                transport.close()
        for fd, wire in ((0, wire_in), (1, wire_out)):
            os.set_blocking(wire, True)
            os.dup2(wire, fd)
            os.close(wire)


def _is_pipe(fd: int) -> bool:
    try:
        mode = os.fstat(fd).st_mode
    except OSError:
        return False
    return stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode)
