from __future__ import annotations

import pytest

from common.errors import InputError
from common.pagination import paginate


def test_pages_follow_each_other_until_the_end() -> None:
    items = list(range(7))
    first = paginate(items, limit=3, cursor=None)
    second = paginate(items, limit=3, cursor=first.next_cursor)
    third = paginate(items, limit=3, cursor=second.next_cursor)
    assert (first.items, second.items, third.items) == ([0, 1, 2], [3, 4, 5], [6])
    assert (first.truncated, third.truncated, third.next_cursor, third.total) == (True, False, None, 7)


@pytest.mark.parametrize("cursor", ["garbage!", "eDo1", "bzotMQ"])
def test_a_forged_cursor_is_a_clear_error(cursor: str) -> None:
    with pytest.raises(InputError, match="cursor"):
        paginate([1, 2, 3], limit=1, cursor=cursor)
