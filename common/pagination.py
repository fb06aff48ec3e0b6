"""Cursor pagination over lists a backend returns whole (label values, series, targets).

The cursor is opaque to callers; it encodes the offset of the next page.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from common.errors import InputError

__all__ = ["Page", "paginate"]

T = TypeVar("T")


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    total: int
    next_cursor: str | None

    @property
    def truncated(self) -> bool:
        return self.next_cursor is not None


def paginate(items: Sequence[T], *, limit: int, cursor: str | None) -> Page[T]:
    offset = _decode(cursor) if cursor else 0
    if offset > len(items):
        raise InputError("The cursor points past the end of the results; start again without a cursor.")
    end = offset + limit
    next_cursor = _encode(end) if end < len(items) else None
    return Page(items=list(items[offset:end]), total=len(items), next_cursor=next_cursor)


def _encode(offset: int) -> str:
    return base64.urlsafe_b64encode(f"o:{offset}".encode()).decode().rstrip("=")


def _decode(cursor: str) -> int:
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        kind, _, number = text.partition(":")
        if kind != "o" or not number.isdigit():
            raise ValueError(text)
        return int(number)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise InputError(f"Invalid cursor {cursor!r}: pass the next_cursor of a previous result unchanged.") from None
