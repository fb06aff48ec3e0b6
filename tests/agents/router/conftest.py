"""The router's tests share one federation (`router_federation`): a registry, two stand-in agents, the router."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from support.router_federation import Federation, federation


@pytest.fixture(scope="session")
def fed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Federation]:
    # Short enough that a hanging peer costs a test a few seconds, long enough for a loaded machine.
    with federation(tmp_path_factory.mktemp("router-federation"), ROUTER_PEER_TIMEOUT_SECONDS="4") as started:
        yield started
