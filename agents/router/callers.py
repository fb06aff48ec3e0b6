"""Who is calling the router's HTTP routes, and so who owns the tasks they start.

The REST facade takes bearer tokens only: the token's audience is the router's URL and it must
grant `agents:invoke` (401 without a valid token, 403 without the scope); the owner is the
token's OAuth client. The webhooks also take HTTP basic credentials when they are configured
(Alertmanager's `basic_auth`), compared in constant time; their owner is `webhook-basic`.
Credentials are never logged.
"""

from __future__ import annotations

import base64
import binascii
import hmac

from starlette.requests import Request

from agents.router.settings import BASIC_OWNER, BasicCredentials
from common.agents import AGENTS_INVOKE
from common.rest import BearerGuard, HttpError

__all__ = ["ANONYMOUS", "Callers"]

#: The owner of tasks started while authentication is disabled (loopback only).
ANONYMOUS = "anonymous"


class Callers:
    def __init__(self, guard: BearerGuard, basic: BasicCredentials | None) -> None:
        self.guard = guard
        self.basic = basic

    def owner(self, request: Request, *, basic: bool = False) -> str:
        """The caller's owner name, else `HttpError` 401/403; `basic` allows HTTP basic credentials (webhooks)."""
        if basic and self.basic is not None:
            credentials = _basic_credentials(request)
            if credentials is not None:
                if not self._basic_matches(*credentials):
                    raise self._basic_refusal()
                return BASIC_OWNER
        try:
            access = self.guard.require(request, AGENTS_INVOKE)
        except HttpError as refusal:
            if basic and self.basic is not None and refusal.status == 401:
                refusal.headers.append(("WWW-Authenticate", f'Basic realm="{self.guard.realm}"'))
            raise
        return access.client_id if access is not None and access.client_id else ANONYMOUS

    def _basic_matches(self, username: str, password: str) -> bool:
        assert self.basic is not None
        # Both compared, always: the time taken does not say which one was wrong.
        user_ok = hmac.compare_digest(username.encode(), self.basic.username.encode())
        password_ok = hmac.compare_digest(password.encode(), self.basic.password.get_secret_value().encode())
        return user_ok and password_ok

    def _basic_refusal(self) -> HttpError:
        return HttpError(
            401,
            "invalid_credentials",
            "The HTTP basic credentials are wrong.",
            headers={"WWW-Authenticate": f'Basic realm="{self.guard.realm}"'},
        )


def _basic_credentials(request: Request) -> tuple[str, str] | None:
    """(user, password) of an `Authorization: Basic` header; None without one, ("", "") when malformed."""
    scheme, _, encoded = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return "", ""
    username, separator, password = decoded.partition(":")
    return (username, password) if separator else ("", "")
