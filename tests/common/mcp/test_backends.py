"""Backends by name, and the one lifetime of their clients."""

from __future__ import annotations

import pytest

from common.errors import InputError
from common.mcp.backends import Backends

pytestmark = pytest.mark.anyio


class FakeClient:
    def __init__(self, name: str) -> None:
        self.name = name
        self.closed = False

    async def aclose(self) -> None:
        self.closed = True


async def test_no_backend_named_picks_the_first_configured_and_a_name_picks_that_one() -> None:
    main, other = FakeClient("main"), FakeClient("other")
    backends = Backends({"main": main, "other": other})
    assert backends.pick(None) is main
    assert backends.pick("other") is other


async def test_an_unknown_backend_is_refused_naming_those_configured() -> None:
    backends = Backends({"main": FakeClient("main"), "other": FakeClient("other")})
    with pytest.raises(InputError, match=r"Unknown backend .nope.; configured backends: main, other\."):
        backends.pick("nope")


async def test_leaving_the_backends_closes_every_client() -> None:
    clients = [FakeClient("a"), FakeClient("b")]
    async with Backends({c.name: c for c in clients}) as backends:
        assert list(backends) == ["a", "b"]
    assert all(client.closed for client in clients)
