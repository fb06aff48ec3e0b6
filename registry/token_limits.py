"""Limits of the token endpoint: issued tokens per client, failed authentications apart (SECURITY-CHECKLIST row 42).

One budget for every token request of an address let a flooder with wrong secrets spend the
budget of every client sharing its address. So the endpoint counts two things apart:

- **failed authentications** (wrong secret, unknown client, no credentials, a malformed request),
  per claimed client id and per remote address (`failures_per_minute` each);
- **requests of authenticated clients**, per client id (`requests_per_minute`).

A request is admitted before its secret is checked (the check costs scrypt's CPU and memory), by
reserving one failure of its claimed client id and one of its address; `settle()` gives both back
once the client authenticated, and counts the request against the client instead. So:

- a flood naming one client id is refused (429) once that id's failures are spent, from every
  address; it cannot spend the id's budget of tokens, which only authenticated requests use, but
  until its failures refill that client waits too (nothing tells the two apart before the check);
- a flood naming unknown client ids is refused once its address's failures are spent;
- a known client from that address is still admitted: its own failures are what limit it. That
  tells a flooder whose address's failures are spent which client ids exist (429 or 401), which
  client ids may show: RFC 6749 2.2 has them public, and this project's are component names.

The counts are in memory, per registry process: N replicas admit up to N times the configured
rates, and a flooder is limited by each replica it reaches (docs/security.md says why).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from common.rate_limit import TokenBuckets

__all__ = ["Admission", "TokenRequestLimits"]

_MINUTE = 60.0
#: The longest client id `registry.clients` allows.
_MAX_CLIENT_ID = 64


@dataclass(frozen=True)
class Admission:
    """A request let through to the secret check, and the failures reserved for it."""

    address: str
    client_id: str | None
    reserved_address: bool


class TokenRequestLimits:
    """`admit` before checking a request's credentials, then `settle` with whether they were good."""

    def __init__(
        self,
        *,
        requests_per_minute: int,
        failures_per_minute: int,
        is_known_client: Callable[[str], bool],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._requests = TokenBuckets(requests_per_minute, _MINUTE, clock=clock)
        self._client_failures = TokenBuckets(failures_per_minute, _MINUTE, clock=clock)
        self._address_failures = TokenBuckets(failures_per_minute, _MINUTE, clock=clock)
        self._is_known_client = is_known_client

    def admit(self, address: str, client_id: str | None) -> Admission | float:
        """The admission of a request from `address` naming `client_id`, or the seconds it must wait (429)."""
        if client_id is not None and len(client_id) > _MAX_CLIENT_ID:
            # No client has such an id, and as a key it would hold up to a form's size of memory.
            client_id = None
        if client_id is not None:
            if wait := self._requests.wait(client_id):
                return wait
            if wait := self._client_failures.acquire(client_id):
                return wait
        address_wait = self._address_failures.acquire(address)
        if not address_wait:
            return Admission(address, client_id, reserved_address=True)
        if client_id is not None and self._is_known_client(client_id):
            return Admission(address, client_id, reserved_address=False)
        if client_id is not None:
            self._client_failures.refund(client_id)
        return address_wait

    def settle(self, admission: Admission, *, authenticated: bool) -> None:
        """Count the request: as the client's once it authenticated, else as the failure reserved for it."""
        if not authenticated or admission.client_id is None:
            return
        self._client_failures.refund(admission.client_id)
        if admission.reserved_address:
            self._address_failures.refund(admission.address)
        self._requests.acquire(admission.client_id)
