"""The column type of free-form JSON (details, arguments, parameters, reports): only values that read back.

The API refuses such values at the edge (`common.json_bounds`); this type keeps the store to the
same rule whatever the path a value came by:

- writing a value that breaks the rule raises (a bug in the caller, never stored);
- reading one back, which only a database written by an older version can hold (approval
  arguments nested 255 deep were stored, then failed every list), gives a placeholder object
  `{"unreadable": "..."}` in its place and logs the row's column. The row itself stays readable:
  its list still answers, and an approval can still be rejected or let expire. Rendering it
  safely rather than skipping it keeps pages whole and the row visible to whoever cleans up.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import JSON, Dialect
from sqlalchemy.types import TypeDecorator

from common.json_bounds import JsonBoundsError, check_json

__all__ = ["FreeFormJSON"]

logger = logging.getLogger(__name__)


class FreeFormJSON(TypeDecorator[Any]):
    """JSON holding only values within `common.json_bounds`; the database type is plain JSON."""

    impl = JSON
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is not None:
            # What any reader can take back; sizes are the edge's to bound (a record may wrap a value).
            check_json(value, max_string_chars=None, max_size=None)
        return value

    def process_result_value(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        try:
            check_json(value)  # the whole rule: what the API's models accept
        except JsonBoundsError as exc:
            logger.warning("A stored free-form JSON value breaks the bounds and is shown as unreadable: %s", exc)
            return {"unreadable": f"This value was stored before the current bounds on JSON and cannot be shown: {exc}"}
        return value
