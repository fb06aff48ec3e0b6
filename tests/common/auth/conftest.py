from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from support.issuer import TestIssuer


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
