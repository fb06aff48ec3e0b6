"""`sre auth` as an operator runs it, against a temporary SRE_DATA_DIR (and a running server on it)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from support.authorization_server import AuthorizationServer

ROOT = Path(__file__).resolve().parents[2]
AUDIENCE = "http://127.0.0.1:8701/mcp"


def sre_auth(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("PROMETHEUS", "SRE_", "REGISTRY_"))}
    return subprocess.run(
        [sys.executable, "-m", "cli.main", "auth", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=ROOT,
        env={**clean, "SRE_DATA_DIR": str(data_dir)},
    )


def printed_secret(result: subprocess.CompletedProcess[str]) -> str:
    match = re.search(r"^client_secret: (\S+)$", result.stdout, re.M)
    assert match, result.stdout + result.stderr
    return match.group(1)


def test_add_client_prints_the_id_and_the_secret_once_and_stores_only_a_hash(tmp_path: Path) -> None:
    result = sre_auth(tmp_path, "add-client", "triage", "--scopes", "metrics:read,agents:invoke")
    assert result.returncode == 0, result.stderr
    assert "client_id: triage" in result.stdout
    secret = printed_secret(result)
    assert "shown only this once" in result.stderr
    assert secret not in result.stderr
    stored = (tmp_path / "clients.toml").read_text()
    assert secret not in stored
    assert "scrypt$" in stored

    listed = sre_auth(tmp_path, "list-clients")
    assert listed.returncode == 0
    assert re.search(r"^triage\s+\S+Z\s+agents:invoke metrics:read$", listed.stdout, re.M), listed.stdout
    assert secret not in listed.stdout + listed.stderr
    assert "scrypt" not in listed.stdout


def test_add_client_refuses_a_duplicate_unless_rotating_and_unknown_scopes(tmp_path: Path) -> None:
    first = printed_secret(sre_auth(tmp_path, "add-client", "triage", "--scopes", "metrics:read"))
    duplicate = sre_auth(tmp_path, "add-client", "triage", "--scopes", "metrics:read")
    assert duplicate.returncode == 1
    assert "already exists; use --rotate-secret" in duplicate.stderr
    rotated = sre_auth(tmp_path, "add-client", "triage", "--rotate-secret")
    assert rotated.returncode == 0
    assert printed_secret(rotated) != first
    assert "scopes: metrics:read" in rotated.stdout

    unknown = sre_auth(tmp_path, "add-client", "other", "--scopes", "metrics:read,metrics:write")
    assert unknown.returncode == 1
    assert "Unknown scope(s) metrics:write; the known scopes are:" in unknown.stderr
    assert sre_auth(tmp_path, "add-client", "other").returncode == 1  # no scopes given


def test_remove_client(tmp_path: Path) -> None:
    sre_auth(tmp_path, "add-client", "triage", "--scopes", "metrics:read")
    assert sre_auth(tmp_path, "remove-client", "triage").returncode == 0
    assert "triage" not in sre_auth(tmp_path, "list-clients").stdout
    again = sre_auth(tmp_path, "remove-client", "triage")
    assert again.returncode == 1
    assert "No client named 'triage'" in again.stderr


def test_a_running_server_serves_cli_changes_without_restart(tmp_path: Path) -> None:
    with AuthorizationServer(tmp_path, resources=[AUDIENCE]) as server:
        secret = printed_secret(sre_auth(tmp_path, "add-client", "triage", "--scopes", "metrics:read"))
        response = server.request_token("triage", secret, AUDIENCE)
        assert response.status_code == 200, response.text

        assert sre_auth(tmp_path, "remove-client", "triage").returncode == 0
        assert server.request_token("triage", secret, AUDIENCE).status_code == 401


def test_rotate_keys_prints_the_new_kid_and_when_it_signs_and_the_server_publishes_it_at_once(tmp_path: Path) -> None:
    with AuthorizationServer(tmp_path, resources=[AUDIENCE]) as server:
        before = {key["kid"] for key in server.http.get("/jwks.json").json()["keys"]}
        result = sre_auth(tmp_path, "rotate-keys")
        assert result.returncode == 0, result.stderr
        match = re.search(r"New signing key (\S+) \(RS256\) is published now", result.stdout)
        assert match, result.stdout
        assert re.search(r"It signs new tokens from \S+Z \(in (59|60) s\)", result.stdout), result.stdout
        (old_kid,) = before
        assert f"Key {old_kid} stays published until" in result.stdout
        after = {key["kid"] for key in server.http.get("/jwks.json").json()["keys"]}
        assert after == {old_kid, match.group(1)}
        assert (tmp_path / "keys" / f"{match.group(1)}.json").exists()
