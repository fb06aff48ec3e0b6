"""Checking a per-caller rate limit without depending on how fast this machine sends requests."""

from __future__ import annotations

from collections.abc import Callable

import httpx

__all__ = ["first_refusal"]


def first_refusal(send: Callable[[], httpx.Response], attempts: int = 20) -> httpx.Response:
    """The first 429 among `attempts` requests sent back to back (else the last answer).

    Right after a flood the bucket has refilled by however long the last request took, so one
    request alone may pass on a slow machine; of a quick run of them, all but a few cannot.
    """
    response = send()
    for _ in range(attempts - 1):
        if response.status_code == 429:
            return response
        response = send()
    return response
