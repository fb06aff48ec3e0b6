"""The one error hierarchy of the project.

    SreError
    ├── ConfigError           settings are missing or invalid; raised at start-up
    ├── InputError            a caller's argument is invalid (bad time range, query too long, ...)
    └── BackendError          an upstream system did not give a usable answer
        ├── BackendUnavailable    it could not be reached (refused, DNS, TLS)
        ├── BackendTimeout        it did not answer within the deadline
        ├── BackendRejected       it refused the request as invalid (HTTP 4xx, e.g. a bad query)
        └── BackendFailed         it failed on its side (HTTP 5xx, malformed response)

Messages are full sentences that name what was wrong and what to do; they are shown to
people and models as they are, so they never carry secrets (see `common.redaction`).
"""

from __future__ import annotations

__all__ = [
    "BackendError",
    "BackendFailed",
    "BackendRejected",
    "BackendTimeout",
    "BackendUnavailable",
    "ConfigError",
    "InputError",
    "SreError",
]


class SreError(Exception):
    """Base class of every error this project raises on purpose."""


class ConfigError(SreError):
    """The configuration is missing a value or holds an invalid one."""


class InputError(SreError):
    """An argument given by the caller is invalid; the message says how to fix it."""


class BackendError(SreError):
    """An upstream backend did not give a usable answer."""

    def __init__(self, message: str, *, backend: str, status_code: int | None = None) -> None:
        super().__init__(message)
        self.backend = backend
        self.status_code = status_code


class BackendUnavailable(BackendError):
    """The backend could not be reached."""


class BackendTimeout(BackendError):
    """The backend did not answer within the deadline."""


class BackendRejected(BackendError):
    """The backend refused the request as invalid (HTTP 4xx)."""


class BackendFailed(BackendError):
    """The backend failed on its side (HTTP 5xx or a response that cannot be parsed)."""
