"""The backends an MCP server's tools query, by name, the lifetime of their clients, and the tools over them.

Every server opens its clients once, when it starts, holds them in `Backends` while it serves,
and closes them all when it stops (`async with`), whichever transport it serves on. A tool's
`backend` argument picks one by name; none picks the first configured. A `BackendTools` group
reads them under the server's limits.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from types import TracebackType
from typing import Generic, Protocol, Self, TypeVar

from common.errors import InputError
from common.mcp.tools import ToolGroup

__all__ = ["BackendClient", "BackendTools", "Backends"]


class BackendClient(Protocol):
    @property
    def name(self) -> str: ...

    async def aclose(self) -> None: ...


C = TypeVar("C", bound=BackendClient)
L = TypeVar("L")


class Backends(Mapping[str, C], Generic[C]):
    """Clients by backend name, in configured order; closing them is this object's job."""

    def __init__(self, clients: Mapping[str, C]) -> None:
        self._clients = dict(clients)

    def pick(self, name: str | None) -> C:
        """The client of backend `name`, or of the first backend when `name` is None."""
        if name is None:
            if not self._clients:
                raise InputError("No backend is configured.")
            return next(iter(self._clients.values()))
        try:
            return self._clients[name]
        except KeyError:
            raise InputError(f"Unknown backend {name!r}; configured backends: {', '.join(self._clients)}.") from None

    def __getitem__(self, name: str) -> C:
        return self._clients[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._clients)

    def __len__(self) -> int:
        return len(self._clients)

    async def aclose(self) -> None:
        for client in self._clients.values():
            await client.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()


class BackendTools(ToolGroup, Generic[L, C]):
    """A group of tools reading a server's backends under its limits."""

    def __init__(self, limits: L, backends: Backends[C]) -> None:
        self.limits = limits
        self.backends = backends
