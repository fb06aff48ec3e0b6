import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

# `tests` is not a package and the pytest config sets no `pythonpath`, so the repository root is
# not importable by default. Remove this once pyproject sets `pythonpath = ["."]`.
_REPO_ROOT = str(Path(__file__).resolve().parents[3])
if _REPO_ROOT not in sys.path:
    sys.path.insert(0, _REPO_ROOT)

from tests.issuer import TestIssuer  # noqa: E402


@pytest.fixture(scope="module")
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
def issuer() -> Iterator[TestIssuer]:
    """A shared issuer; tests that rotate keys or count fetches start their own."""
    with TestIssuer() as running:
        yield running


@pytest.fixture
def sent_urls() -> list[str]:
    """Every URL `http_client` requested during the test."""
    return []


@pytest.fixture
async def http_client(sent_urls: list[str]) -> AsyncIterator[httpx.AsyncClient]:
    async def record(request: httpx.Request) -> None:
        sent_urls.append(str(request.url))

    # trust_env=False: a proxy from the environment must not sit between us and 127.0.0.1.
    async with httpx.AsyncClient(timeout=5.0, trust_env=False, event_hooks={"request": [record]}) as client:
        yield client
