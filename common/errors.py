"""The one error hierarchy of the project.

    SreError                      kind
    ├── ConfigError               internal          settings are missing or invalid; raised at start-up
    ├── InputError                invalid_argument  a caller's argument is invalid (bad time range, ...)
    │   ├── NotFound              not_found         it names something that does not exist
    │   ├── Forbidden             forbidden         it asks for something the caller may not have
    │   └── LimitExceeded         limit             it asks for more than a limit allows
    └── BackendError                                an upstream system did not give a usable answer
        ├── BackendUnavailable    backend_unavailable  it could not be reached (refused, DNS, TLS)
        ├── BackendTimeout        timeout           it did not answer within the deadline
        ├── BackendRejected       by HTTP status    it refused the request (HTTP 4xx, e.g. a bad query)
        ├── BackendFailed         backend_unavailable  it failed on its side (HTTP 5xx, malformed response)
        └── ToolCallError         the server's      an MCP tool call answered with an error

Messages are full sentences that name what was wrong and what to do; they are shown to
people and models as they are, so they never carry secrets (see `common.redaction`).

`kind` is the same failure for programs: a closed set (`ErrorKind`) that an MCP tool error
carries beside its message (`common.mcp.tool_errors`), so that an agent decides by kind, never by
matching a message's words.
"""

from __future__ import annotations

from typing import Literal, get_args

__all__ = [
    "ERROR_KINDS",
    "BackendError",
    "BackendFailed",
    "BackendRejected",
    "BackendTimeout",
    "BackendUnavailable",
    "ConfigError",
    "ErrorKind",
    "Forbidden",
    "InputError",
    "LimitExceeded",
    "NotFound",
    "SreError",
    "ToolCallError",
]

ErrorKind = Literal[
    "invalid_argument",  # fix the arguments as the message says
    "not_found",  # what the arguments name does not exist
    "forbidden",  # the caller may not have it; another call will not help
    "limit",  # the call asks for too much: narrow it
    "backend_unavailable",  # the backend could not be reached or failed: try again later
    "timeout",  # the backend did not answer in time: narrow the call or try again later
    "internal",  # a failure the server did not foresee; its log has the details
]
ERROR_KINDS: tuple[ErrorKind, ...] = get_args(ErrorKind)


class SreError(Exception):
    """Base class of every error this project raises on purpose."""

    kind: ErrorKind = "internal"


class ConfigError(SreError):
    """The configuration is missing a value or holds an invalid one."""


class InputError(SreError):
    """An argument given by the caller is invalid; the message says how to fix it."""

    kind: ErrorKind = "invalid_argument"


class NotFound(InputError):
    """An argument names something that does not exist (a resource, a file)."""

    kind: ErrorKind = "not_found"


class Forbidden(InputError):
    """An argument asks for something this caller, or this server, may not touch."""

    kind: ErrorKind = "forbidden"


class LimitExceeded(InputError):
    """The call asks for more than a configured limit allows (a window, a size, a cost)."""

    kind: ErrorKind = "limit"


class BackendError(SreError):
    """An upstream backend did not give a usable answer; `kind`, when given, is more precise than the class's."""

    kind: ErrorKind = "backend_unavailable"

    def __init__(
        self, message: str, *, backend: str, status_code: int | None = None, kind: ErrorKind | None = None
    ) -> None:
        super().__init__(message)
        self.backend = backend
        self.status_code = status_code
        if kind is not None:
            self.kind = kind


class BackendUnavailable(BackendError):
    """The backend could not be reached, or is too busy to take the request now (HTTP 429 or 503).

    `retry_after_seconds` is how long it asked to be left alone (its `Retry-After`), when it said.
    """

    def __init__(
        self,
        message: str,
        *,
        backend: str,
        status_code: int | None = None,
        kind: ErrorKind | None = None,
        retry_after_seconds: float | None = None,
    ) -> None:
        super().__init__(message, backend=backend, status_code=status_code, kind=kind)
        self.retry_after_seconds = retry_after_seconds


class BackendTimeout(BackendError):
    """The backend did not answer within the deadline."""

    kind: ErrorKind = "timeout"


class BackendRejected(BackendError):
    """The backend refused the request (HTTP 4xx); its kind follows the status unless given."""

    def __init__(
        self, message: str, *, backend: str, status_code: int | None = None, kind: ErrorKind | None = None
    ) -> None:
        super().__init__(
            message,
            backend=backend,
            status_code=status_code,
            kind=kind or _REJECTED_KINDS.get(status_code or 0, "invalid_argument"),
        )


class BackendFailed(BackendError):
    """The backend failed on its side (HTTP 5xx or a response that cannot be parsed)."""


class ToolCallError(BackendError):
    """An MCP server answered a tool call with an error; `kind` is the one the server named."""

    def __init__(self, message: str, *, backend: str, tool: str, kind: ErrorKind) -> None:
        super().__init__(message, backend=backend, kind=kind)
        self.tool = tool


_REJECTED_KINDS: dict[int, ErrorKind] = {
    401: "forbidden",
    403: "forbidden",
    404: "not_found",
    413: "limit",
    429: "limit",
}
