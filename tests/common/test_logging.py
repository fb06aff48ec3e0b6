from __future__ import annotations

import json
import logging

import pytest

from common.logging import bind_trace_id, configure_logging


@pytest.fixture
def restore_logging() -> object:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield None
    root.handlers[:] = handlers
    root.setLevel(level)


def test_json_lines_carry_the_trace_id_and_no_secrets(
    restore_logging: object, capsys: pytest.CaptureFixture[str]
) -> None:
    configure_logging("INFO", json_format=True)
    with bind_trace_id("abc123"):
        logging.getLogger("sre.test").info("calling %s with Authorization: Bearer %s", "prom", "tok-0123456789")
    logging.getLogger("sre.test").warning("outside")
    first, second = (json.loads(line) for line in capsys.readouterr().err.splitlines())
    assert first["trace_id"] == "abc123"
    assert first["level"] == "INFO"
    assert first["logger"] == "sre.test"
    assert "tok-0123456789" not in first["message"]
    assert first["message"].startswith("calling prom with Authorization: Bearer [REDACTED]")
    assert second["trace_id"] == "-"


def test_plain_lines_go_to_stderr_only(restore_logging: object, capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("DEBUG")
    with bind_trace_id("t1"):
        logging.getLogger("sre.test").debug("password=hunter2")
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "[t1] password=[REDACTED]" in captured.err
