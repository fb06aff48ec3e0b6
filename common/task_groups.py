"""Errors out of task groups as they were raised: `async with task_group() as group:`, or `with unwrapped_errors():`.

A task group (anyio's, or asyncio's `TaskGroup`) wraps what its tasks raise in an exception group,
the host task's own error included: an error raised in the body of a context manager that yields
inside a task group (an MCP client session, a registration kept alive) comes out as an
`ExceptionGroup`, and `except InputError:` around it never matches. Inside `unwrapped_errors()`,
a group leaves as its first error itself (groups nested in groups are searched too); the other
errors of a group that held several are logged, so none goes unseen. `task_group()` is anyio's
task group inside `unwrapped_errors()`.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager

import anyio
from anyio.abc import TaskGroup

__all__ = ["first_error", "task_group", "unwrapped_errors"]

logger = logging.getLogger(__name__)


def first_error(error: BaseException) -> BaseException:
    """The first error inside `error` when it is a (nested) exception group; `error` itself otherwise."""
    while isinstance(error, BaseExceptionGroup) and error.exceptions:
        error = error.exceptions[0]
    return error


@contextmanager
def unwrapped_errors() -> Iterator[None]:
    try:
        yield
    except BaseExceptionGroup as group:
        first = first_error(group)
        for other in _leaves(group)[1:]:
            logger.error("Another error in the same task group: %r", other, exc_info=other)
        # The error's own cause is kept; the group, which only wrapped it, is not shown as its context.
        raise first from first.__cause__


@asynccontextmanager
async def task_group() -> AsyncIterator[TaskGroup]:
    with unwrapped_errors():
        async with anyio.create_task_group() as group:
            yield group


def _leaves(error: BaseException) -> list[BaseException]:
    if isinstance(error, BaseExceptionGroup):
        return [leaf for inner in error.exceptions for leaf in _leaves(inner)]
    return [error]
