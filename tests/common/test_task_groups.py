"""Errors out of task groups as they were raised: `except InputError` matches what a task group's task raised."""

from __future__ import annotations

import anyio
import pytest

from common.errors import BackendFailed, InputError
from common.task_groups import task_group

pytestmark = pytest.mark.anyio


async def test_an_error_raised_by_a_task_of_the_group_leaves_as_itself() -> None:
    async def place() -> None:
        raise InputError("The question names no service: name it.")

    async def investigate() -> None:
        async with task_group() as group:
            group.start_soon(place)
            group.start_soon(anyio.sleep, 10)  # cancelled by the failure, not waited for

    with anyio.fail_after(5), pytest.raises(InputError, match="names no service"):
        await investigate()


async def test_an_error_of_the_body_leaves_as_itself_with_its_cause() -> None:
    async def investigate() -> None:
        async with task_group() as group:
            group.start_soon(anyio.sleep, 10)
            try:
                raise OSError("refused")
            except OSError as exc:
                raise BackendFailed("controlplane-mcp failed.", backend="controlplane-mcp") from exc

    with pytest.raises(BackendFailed) as raised:
        await investigate()
    assert isinstance(raised.value.__cause__, OSError)


async def test_of_several_errors_the_first_leaves_and_the_others_are_logged(caplog: pytest.LogCaptureFixture) -> None:
    async def fail(error: Exception) -> None:
        raise error

    async def investigate() -> None:
        async with task_group() as group:
            group.start_soon(fail, InputError("first"))
            group.start_soon(fail, ValueError("second"))

    with pytest.raises(InputError, match="first"):
        await investigate()
    assert "ValueError('second')" in caplog.text
