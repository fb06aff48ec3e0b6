"""The router's settings (`ROUTER_*`): refused early, with the key named, when they cannot work."""

from __future__ import annotations

from pathlib import Path

import pytest

from agents.router.__main__ import serve
from agents.router.settings import RouterSettings
from common.errors import ConfigError
from common.settings import SettingsSource

pytestmark = pytest.mark.anyio


def settings(**values: str) -> RouterSettings:
    return RouterSettings.from_source(SettingsSource(values))


def test_defaults() -> None:
    defaults = settings()

    assert defaults.serve.port == 8720
    assert (defaults.triage_agent, defaults.triage_url, defaults.max_alerts) == ("triage", None, 1000)
    assert defaults.basic_credentials() is None
    assert defaults.agent.task_store("router").endswith(".sre/router-tasks.db")


def test_the_basic_password_is_read_from_its_file(tmp_path: Path) -> None:
    (tmp_path / "password").write_text("hunter2\n")

    credentials = settings(
        ROUTER_WEBHOOK_BASIC_USERNAME="alertmanager", ROUTER_WEBHOOK_BASIC_PASSWORD_FILE=str(tmp_path / "password")
    ).basic_credentials()

    assert credentials is not None
    assert (credentials.username, credentials.password.get_secret_value()) == ("alertmanager", "hunter2")
    assert "hunter2" not in repr(credentials)


@pytest.mark.parametrize(
    ("values", "named"),
    [
        ({"ROUTER_WEBHOOK_BASIC_USERNAME": "alertmanager"}, "ROUTER_WEBHOOK_BASIC_PASSWORD_FILE"),
        ({"ROUTER_TRIAGE_AGNET": "triage"}, "ROUTER_TRIAGE_AGNET"),
        ({"ROUTER_TRIAGE_URL": "triage:8721"}, "ROUTER_TRIAGE_URL"),
        ({"ROUTER_MAX_ALERTS": "5000"}, "ROUTER_MAX_ALERTS"),
    ],
)
def test_settings_that_cannot_work_are_refused_naming_the_key(values: dict[str, str], named: str) -> None:
    with pytest.raises(ConfigError, match=named):
        settings(**values)


@pytest.mark.parametrize("content", [None, ""])
def test_a_missing_or_empty_password_file_is_refused(tmp_path: Path, content: str | None) -> None:
    path = tmp_path / "password"
    if content is not None:
        path.write_text(content)
    configured = settings(ROUTER_WEBHOOK_BASIC_USERNAME="am", ROUTER_WEBHOOK_BASIC_PASSWORD_FILE=str(path))

    with pytest.raises(ConfigError, match="ROUTER_WEBHOOK_BASIC_PASSWORD_FILE"):
        configured.basic_credentials()


async def test_the_router_does_not_start_without_its_own_client(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="SRE_CLIENT_ID"):
        await serve("http", SettingsSource({"SRE_DATA_DIR": str(tmp_path)}))
    with pytest.raises(ConfigError, match="HTTP only"):
        await serve("stdio", SettingsSource({}))
