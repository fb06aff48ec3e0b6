"""Security checklist row 13: a rotated signing key is accepted without a restart.

A verifier that meets an unknown `kid` refetches the JWKS, at most once per cooldown, so the
first requests after a rotation may still be refused: a test asks again until one is not.
"""

from __future__ import annotations

from collections.abc import Callable

import httpx

from support.eventually import eventually

__all__ = ["accepted_after_rotation"]


def accepted_after_rotation(request: Callable[[], httpx.Response], *, timeout: float, what: str) -> httpx.Response:
    """The first answer of `request` that is not a 401, within `timeout` seconds (`what` names the server)."""
    return eventually(
        lambda: response if (response := request()).status_code != 401 else None,
        timeout=timeout,
        interval=0.1,
        what=f"{what} to accept the rotated key",
    )
