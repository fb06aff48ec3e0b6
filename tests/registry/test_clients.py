"""ClientStore: OAuth clients in a TOML file, secrets hashed at rest."""

from __future__ import annotations

import stat
import tomllib
from pathlib import Path

import pytest

from common.errors import ConfigError, InputError
from registry.clients import KNOWN_SCOPES, ClientStore


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "clients.toml"


def test_a_new_client_gets_a_random_secret_that_verifies(path: Path) -> None:
    clients = ClientStore(path)
    secret = clients.add_client("triage", ["metrics:read", "agents:invoke"])
    assert len(secret) >= 43  # 32 random bytes, base64url
    assert secret != clients.add_client("postmortem", ["agents:invoke"])
    client = clients.verify("triage", secret)
    assert client is not None
    assert client.client_id == "triage"
    assert client.scopes == ("agents:invoke", "metrics:read")


def test_the_file_holds_a_salted_hash_never_the_secret(path: Path) -> None:
    clients = ClientStore(path)
    first = clients.add_client("a", ["metrics:read"])
    second = clients.add_client("b", ["metrics:read"])
    text = path.read_text()
    assert first not in text
    assert second not in text
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    document = tomllib.loads(text)["clients"]
    assert document["a"]["secret_hash"].startswith("scrypt$")
    assert document["a"]["secret_hash"].split("$")[4] != document["b"]["secret_hash"].split("$")[4]  # own salts
    assert document["a"]["scopes"] == ["metrics:read"]
    assert document["a"]["created_at"].tzinfo is not None


def test_a_wrong_secret_and_an_unknown_client_are_both_refused(path: Path) -> None:
    clients = ClientStore(path)
    secret = clients.add_client("triage", ["metrics:read"])
    assert clients.verify("triage", secret + "x") is None
    assert clients.verify("triage", "") is None
    assert clients.verify("nobody", secret) is None


def test_the_secret_is_not_in_the_clients_repr(path: Path) -> None:
    clients = ClientStore(path)
    clients.add_client("triage", ["metrics:read"])
    (client,) = clients.list_clients()
    assert "scrypt" not in repr(client)


def test_a_duplicate_is_refused_unless_the_secret_is_rotated(path: Path) -> None:
    clients = ClientStore(path)
    old = clients.add_client("triage", ["metrics:read"])
    with pytest.raises(InputError, match="already exists; use --rotate-secret"):
        clients.add_client("triage", ["logs:read"])
    new = clients.add_client("triage", None, rotate_secret=True)
    assert clients.verify("triage", old) is None
    client = clients.verify("triage", new)
    assert client is not None
    assert client.scopes == ("metrics:read",)  # kept
    with pytest.raises(InputError, match="does not exist"):
        clients.add_client("ghost", None, rotate_secret=True)


@pytest.mark.parametrize("scopes", [["metrics:write"], ["metrics:read", "admin"], ["*"]])
def test_unknown_scopes_are_a_clear_error_naming_the_known_ones(path: Path, scopes: list[str]) -> None:
    with pytest.raises(InputError, match="Unknown scope") as raised:
        ClientStore(path).add_client("triage", scopes)
    assert all(scope in str(raised.value) for scope in KNOWN_SCOPES)
    assert not path.exists()


@pytest.mark.parametrize("name", ["", "has space", "a:b", "-dash", "x" * 65, "é"])
def test_client_names_are_plain_identifiers(path: Path, name: str) -> None:
    with pytest.raises(InputError, match="Invalid client name"):
        ClientStore(path).add_client(name, ["metrics:read"])


def test_a_client_needs_a_scope(path: Path) -> None:
    with pytest.raises(InputError, match="at least one scope"):
        ClientStore(path).add_client("triage", ["", " "])


def test_remove_client(path: Path) -> None:
    clients = ClientStore(path)
    secret = clients.add_client("triage", ["metrics:read"])
    clients.add_client("other", ["logs:read"])
    clients.remove_client("triage")
    assert clients.verify("triage", secret) is None
    assert [c.name for c in clients.list_clients()] == ["other"]
    with pytest.raises(InputError, match="No client named 'triage'"):
        clients.remove_client("triage")


def test_changes_by_another_process_are_seen_without_restart(path: Path) -> None:
    server = ClientStore(path)
    assert server.list_clients() == []
    secret = ClientStore(path).add_client("late", ["logs:read"])
    assert server.verify("late", secret) is not None
    ClientStore(path).remove_client("late")
    assert server.get("late") is None


def test_a_broken_edit_keeps_the_last_good_clients_serving(path: Path, caplog: pytest.LogCaptureFixture) -> None:
    server = ClientStore(path)
    secret = server.add_client("triage", ["metrics:read"])
    assert server.get("triage") is not None
    path.write_text(path.read_text() + "\n[clients.broken\n")
    assert server.verify("triage", secret) is not None
    assert "Cannot read the OAuth clients file" in caplog.text
    with pytest.raises(ConfigError, match="Cannot read the OAuth clients file"):
        ClientStore(path).add_client("new", ["logs:read"])


def test_an_invalid_entry_is_a_config_error_naming_the_client(path: Path) -> None:
    path.write_text(
        '[clients.triage]\nscopes = ["metrics:read"]\nsecret_hash = "plain-secret"\ncreated_at = 2026-01-01T00:00:00Z\n'
    )
    with pytest.raises(ConfigError, match="client 'triage' needs `secret_hash`"):
        ClientStore(path).add_client("other", ["logs:read"])
