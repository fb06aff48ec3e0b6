"""analysis/ is pure: importing every module of it loads no network or async I/O library."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
#: Libraries that would let analysis code reach a server or start tasks.
IO_LIBRARIES = ("httpx", "anyio", "asyncio", "mcp", "a2a", "google", "starlette", "uvicorn", "sqlalchemy")


def test_importing_analysis_loads_no_network_or_async_library() -> None:
    program = (
        "import importlib, pkgutil, sys, analysis\n"
        "for module in pkgutil.iter_modules(analysis.__path__):\n"
        "    importlib.import_module('analysis.' + module.name)\n"
        "print(' '.join(sorted({name.split('.')[0] for name in sys.modules})))\n"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", program], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    assert "analysis" in loaded
    assert [library for library in IO_LIBRARIES if library in loaded] == []
