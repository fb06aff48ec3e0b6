"""The TLS context of outgoing clients that verify against the default CA bundle: `default_context()`, built once.

An HTTP client built without one builds its own, which reads and parses the whole CA bundle (tens
of milliseconds of CPU, even for an `http://` URL it will never use it on). Code that builds a
client per call (an agent calling a peer, an investigation opening its MCP sessions) paid that
on every call: under a storm of alerts it was the largest cost of the router and of triage.
"""

from __future__ import annotations

import functools
import ssl

import httpx

__all__ = ["default_context"]


@functools.cache
def default_context() -> ssl.SSLContext:
    """The context `httpx` would build by default (certifi's CA bundle, verified); shared, never modified."""
    return httpx.create_ssl_context()
