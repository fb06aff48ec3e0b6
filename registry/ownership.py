"""Who may change a registry entry: the client that registered it, the client its name is reserved for, an admin.

Every component holds `registry:write` to register itself, so the scope alone cannot protect
one component's entry from another (an impostor overwriting `triage` would receive its alerts).
The rules, applied by `RegistryStore` in the transaction that writes:

- a name reserved in configuration (`REGISTRY_RESERVED_NAMES`, name -> client id) may be
  registered, changed and deleted by that client only, whoever registered it before;
- otherwise an entry belongs to the client that created it (the token's client id, stored with
  the entry) and only that client may change or delete it;
- an entry without an owner (registered before entries had one) is claimed by the next client
  allowed to register it;
- a `registry:admin` client may change or delete any entry; the entry keeps its owner.

A refused registration is 409 (the name is taken), a refused deletion 403; neither says which
client owns the entry, only "another client". With authentication disabled (loopback only) there
is no client to tell apart: every write is allowed and claims nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from common.rest import HttpError
from common.scopes import REGISTRY_ADMIN

__all__ = ["ADMIN_SCOPE", "ANONYMOUS", "Ownership", "Writer"]

ADMIN_SCOPE = REGISTRY_ADMIN


@dataclass(frozen=True)
class Writer:
    """Who writes: the token's client (None with authentication disabled), and whether it holds the admin scope."""

    client_id: str | None
    admin: bool = False


#: A write with authentication disabled: allowed, owned by no one.
ANONYMOUS = Writer(None)

_WHAT = {"agents": "agent", "servers": "MCP server"}


class Ownership:
    """The reservations of the configuration, and the rules above."""

    def __init__(self, reservations: Mapping[str, str] | None = None) -> None:
        self.reservations = MappingProxyType(dict(reservations or {}))

    def owner_after_registration(self, kind: str, name: str, current_owner: str | None, writer: Writer) -> str | None:
        """The owner the entry has once `writer` registers it; HttpError 409 when it may not."""
        self._check(kind, name, current_owner, writer, "register or change it", 409, "conflict")
        return self.reservations.get(name) or current_owner or writer.client_id

    def check_deregistration(self, kind: str, name: str, current_owner: str | None, writer: Writer) -> None:
        """HttpError 403 unless `writer` may delete the entry."""
        self._check(kind, name, current_owner, writer, "delete it", 403, "forbidden")

    def is_reserved(self, name: str, owner: str | None) -> bool:
        """Whether `name` is reserved for `owner`, the client that registered the entry."""
        return owner is not None and self.reservations.get(name) == owner

    def _check(
        self, kind: str, name: str, owner: str | None, writer: Writer, action: str, status: int, error: str
    ) -> None:
        if writer.admin or writer.client_id is None:
            return
        what = _WHAT.get(kind, "entry")
        reserved = self.reservations.get(name)
        if reserved is not None and reserved != writer.client_id:
            raise HttpError(
                status,
                error,
                f"The {what} name {name!r} is reserved for another client in the registry's configuration, so this "
                f"client may not {action}. Register under another name.",
            )
        if reserved is None and owner is not None and owner != writer.client_id:
            raise HttpError(
                status,
                error,
                f"The {what} {name!r} was registered by another client, so this client may not {action}. Register "
                f"under another name, or ask for a client with the {ADMIN_SCOPE} scope.",
            )
