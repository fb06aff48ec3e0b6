"""The caller of an agent as a2a-sdk sees it: `ClientUser`, the OAuth client of its verified token.

Tasks are stored with it as their owner, and every read of the SDK's task store is scoped to it.
"""

from __future__ import annotations

from a2a.auth.user import User

__all__ = ["ClientUser"]


class ClientUser(User):
    """The caller as a2a-sdk sees it: the OAuth client of its verified token."""

    def __init__(self, client_id: str) -> None:
        self.client_id = client_id

    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def user_name(self) -> str:
        return self.client_id
