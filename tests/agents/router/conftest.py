"""The router's tests share one federation (`router_federation`): a registry, two stand-in agents, the router."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from support.router_federation import Federation, federation


@pytest.fixture(scope="session")
def fed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Federation]:
    # Short enough that a hanging peer costs a test a few seconds, long enough for a loaded machine. No grouping:
    # there is no control plane here to read the service graph from, so alerts would only wait for nothing.
    settings = {"ROUTER_PEER_TIMEOUT_SECONDS": "4", "ROUTER_GROUP_WAIT_SECONDS": "0"}
    with federation(tmp_path_factory.mktemp("router-federation"), **settings) as started:
        yield started
