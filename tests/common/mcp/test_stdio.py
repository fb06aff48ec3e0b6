"""`serve_stdio` in a real child process, driven by the `mcp` client over real pipes."""

import os
import sys
from pathlib import Path

import pytest
from mcp import Client, StdioServerParameters
from mcp.client.stdio import stdio_client

pytestmark = pytest.mark.anyio

ROOT = Path(__file__).resolve().parents[3]

# A tool that prints to stdout itself and through a child process: with the wire on fd 1 either
# would corrupt it. It answers with the names of the threads alive while it runs.
SERVER = """
import subprocess, sys, threading
import anyio
from mcp.server.mcpserver import MCPServer
from common.mcp.stdio import serve_stdio

server = MCPServer("stdio-test")

@server.tool()
async def noisy(text: str) -> str:
    print("a stray print on stdout")
    subprocess.run([sys.executable, "-c", "print('a child writing to stdout')"], check=True)
    return text + "|" + ",".join(sorted(thread.name for thread in threading.enumerate()))

anyio.run(serve_stdio, server)
"""


def server_params() -> StdioServerParameters:
    return StdioServerParameters(
        command=sys.executable,
        args=["-c", SERVER],
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        cwd=str(ROOT),
    )


async def test_calls_are_answered_over_the_pipes_while_tools_print_to_stdout(tmp_path: Path) -> None:
    with (tmp_path / "stderr.log").open("w") as errlog:
        async with Client(stdio_client(server_params(), errlog=errlog)) as client:
            texts = []
            # Messages larger than a pipe's buffer: both directions wait for the other side to read.
            for n in range(3):
                result = await client.call_tool("noisy", {"text": f"call {n} " + "x" * 100_000})
                assert not result.is_error, result
                texts.append(result.content[0].text)  # type: ignore[union-attr]

    for n, text in enumerate(texts):
        echoed, threads = text.split("|")
        assert echoed == f"call {n} " + "x" * 100_000
        # The SDK's own stdio transport reads and writes through AnyIO worker threads; this one does not.
        assert threads == "MainThread"


async def test_stray_output_goes_to_stderr(tmp_path: Path) -> None:
    log = tmp_path / "stderr.log"
    with log.open("w") as errlog:
        async with Client(stdio_client(server_params(), errlog=errlog)) as client:
            result = await client.call_tool("noisy", {"text": "once"})
            assert not result.is_error, result

    written = log.read_text()
    assert "a stray print on stdout" in written
    assert "a child writing to stdout" in written
