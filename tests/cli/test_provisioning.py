"""The OAuth clients `sre up` provisions: created once, kept across runs, brought up to date."""

from __future__ import annotations

from pathlib import Path

from cli.provisioning import CLIENTS, provision, read_secret, reserved_names
from registry.clients import ClientStore


def test_every_client_is_created_with_its_scopes_and_a_private_secret_file(tmp_path: Path) -> None:
    store = ClientStore(tmp_path / "clients.toml")
    secrets = provision(tmp_path, store)
    assert set(secrets) == set(CLIENTS)
    for name, scopes in CLIENTS.items():
        client = store.get(name)
        assert client is not None
        assert set(client.scopes) == set(scopes)
        assert store.verify(name, secrets[name]) is not None
        assert read_secret(tmp_path, name) == secrets[name]
        assert (tmp_path / "credentials" / f"{name}.secret").stat().st_mode & 0o077 == 0


def test_a_second_run_keeps_the_secrets(tmp_path: Path) -> None:
    store = ClientStore(tmp_path / "clients.toml")
    assert provision(tmp_path, store) == provision(tmp_path, store)


def test_a_client_with_other_scopes_gets_the_scopes_it_needs_and_a_new_secret(tmp_path: Path) -> None:
    store = ClientStore(tmp_path / "clients.toml")
    first = provision(tmp_path, store)
    # As an older data directory, or `sre auth add-client triage --scopes agents:invoke`, left it.
    store.remove_client("triage")
    store.add_client("triage", ["agents:invoke"])
    again = provision(tmp_path, store)
    triage = store.get("triage")
    assert triage is not None
    assert set(triage.scopes) == set(CLIENTS["triage"])
    assert again["triage"] != first["triage"]
    assert store.verify("triage", again["triage"]) is not None
    assert {name: again[name] for name in CLIENTS if name != "triage"} == {
        name: first[name] for name in CLIENTS if name != "triage"
    }


def test_each_component_that_registers_itself_has_its_name_reserved_for_its_own_client() -> None:
    reserved = reserved_names()
    assert reserved == {name: name for name in ("prometheus-mcp", "loki-mcp", "controlplane-mcp", "triage", "router")}
    assert all("registry:write" in CLIENTS[client] for client in reserved.values())


def test_a_router_client_from_before_grouping_gains_controlplane_read_and_nothing_more(tmp_path: Path) -> None:
    store = ClientStore(tmp_path / "clients.toml")
    provision(tmp_path, store)
    # A data directory provisioned before the router read the service graph: its client lacked controlplane:read.
    store.remove_client("router")
    store.add_client("router", ["agents:invoke", "registry:write"])
    provision(tmp_path, store)
    router = store.get("router")
    assert router is not None
    assert set(router.scopes) == {"agents:invoke", "registry:write", "controlplane:read"}
