"""Two registry processes on one PostgreSQL, as replicas behind one load balancer (one public URL).

Started at once on an empty database, they must agree on one signing key; a token either issues
verifies with the other's JWKS and is accepted by the other's API; a client added and a key
rotated with `sre auth` against the database reach both within the refresh time.
"""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import anyio
import httpx
import pytest
from support import served as served_module
from support.backends import free_port
from support.eventually import eventually
from support.postgres import PostgresProcess
from support.served import ServedComponent

from common.auth import JwtVerifier, TokenValidation

ROOT = Path(__file__).resolve().parents[2]
REFRESH_SECONDS = 1.0
WRITE = "registry:write"


class Replicas:
    def __init__(self, database_url: str, public_url: str, env: dict[str, str], a: ServedComponent, b: ServedComponent):
        self.database_url = database_url
        self.public_url = public_url
        self.env = env
        self.a, self.b = a, b
        #: The secret of client `ops` (registry:write), added with `sre auth` once both replicas ran.
        self.ops_secret = ""

    def sre_auth(self, *args: str) -> str:
        """`sre auth ARGS` against the replicas' database (in a data directory of its own); its stdout."""
        result = subprocess.run(
            [sys.executable, "-m", "cli.main", "auth", *args],
            capture_output=True, text=True, timeout=60, check=False, cwd=ROOT, env=self.env,
        )  # fmt: skip
        assert result.returncode == 0, result.stdout + result.stderr
        return result.stdout

    def add_client(self, name: str, scopes: str) -> str:
        match = re.search(r"^client_secret: (\S+)$", self.sre_auth("add-client", name, "--scopes", scopes), re.M)
        assert match
        return match.group(1)

    def token(self, replica: ServedComponent, client: str, secret: str) -> httpx.Response:
        return httpx.post(
            f"{replica.url}/oauth/token",
            data={"grant_type": "client_credentials", "resource": self.public_url, "scope": WRITE},
            auth=(client, secret),
            timeout=10.0,
        )

    def eventual_token(self, replica: ServedComponent, client: str, secret: str) -> str:
        """A token from `replica` once it has re-read the clients (`REFRESH_SECONDS`)."""

        def issued() -> str | None:
            answer = self.token(replica, client, secret)
            return str(answer.json()["access_token"]) if answer.status_code == 200 else None

        return eventually(issued, timeout=10 * REFRESH_SECONDS, what=f"{replica.url} to know client {client}")


def kids(replica: ServedComponent) -> set[str]:
    return {key["kid"] for key in httpx.get(f"{replica.url}/jwks.json", timeout=5.0).json()["keys"]}


@pytest.fixture(scope="module")
def replicas(postgres: PostgresProcess, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Replicas]:
    database_url = postgres.fresh_database()
    public_url = f"http://127.0.0.1:{free_port()}"  # the load balancer's: the issuer and the audience
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("PROMETHEUS", "SRE_", "REGISTRY_"))}
    shared = {
        "REGISTRY_DATABASE_URL": database_url,
        "REGISTRY_AUTH_REFRESH_SECONDS": str(REFRESH_SECONDS),
        "SRE_PUBLIC_URL": public_url,
    }
    served = []
    for name in ("a", "b"):
        port = free_port()
        env = {
            **clean,
            **shared,
            # Each replica checks tokens with its own JWKS; each has its own (unused) data directory.
            "SRE_AUTH_JWKS_URL": f"http://127.0.0.1:{port}/jwks.json",
            "SRE_DATA_DIR": str(tmp_path_factory.mktemp(f"replica-{name}")),
        }
        served.append(ServedComponent("registry", env, tmp_path_factory.mktemp(f"log-{name}"), port=port))
    a, b = served
    try:
        # Both at once on the empty database: schema and first key are created concurrently. Two
        # processes importing at once on a busy 2-core machine may take longer than one is given.
        with ThreadPoolExecutor(2) as pool, pytest.MonkeyPatch.context() as patch:
            patch.setattr(served_module, "_STARTUP_TIMEOUT", 2 * served_module._STARTUP_TIMEOUT)
            for started in [pool.submit(replica.start) for replica in served]:
                started.result()
        cli_env = {**clean, **shared, "SRE_DATA_DIR": str(tmp_path_factory.mktemp("cli"))}
        running = Replicas(database_url, public_url, cli_env, a, b)
        running.ops_secret = running.add_client("ops", WRITE)
        yield running
    finally:
        for replica in served:
            replica.stop()


def test_replicas_started_at_once_on_an_empty_database_publish_the_same_single_key(replicas: Replicas) -> None:
    published = kids(replicas.a)
    assert len(published) == 1
    assert kids(replicas.b) == published
    for replica in (replicas.a, replicas.b):  # the key files are not used
        assert not list(Path(replica.env["SRE_DATA_DIR"], "keys").glob("*.json"))


def test_a_token_issued_by_one_replica_verifies_with_the_other_replicas_jwks(replicas: Replicas) -> None:
    token = replicas.eventual_token(replicas.a, "ops", replicas.ops_secret)

    async def verify() -> object:
        validation = TokenValidation(
            issuer=replicas.public_url, jwks_url=f"{replicas.b.url}/jwks.json", audience=replicas.public_url
        )
        async with httpx.AsyncClient(trust_env=False) as http:
            return await JwtVerifier(validation, http).verify_token(token)

    access = anyio.run(verify)
    assert access is not None


def test_a_registration_made_through_one_replica_is_listed_by_the_other(replicas: Replicas) -> None:
    from_a = replicas.eventual_token(replicas.a, "ops", replicas.ops_secret)
    from_b = replicas.eventual_token(replicas.b, "ops", replicas.ops_secret)
    body = {"name": "checkout-agent", "url": "http://127.0.0.1:9/checkout"}
    # Written through a with b's token, read through b with a's: keys and rows are shared.
    created = httpx.post(f"{replicas.a.url}/agents", json=body, headers={"Authorization": f"Bearer {from_b}"})
    assert created.status_code == 201, created.text
    listed = httpx.get(f"{replicas.b.url}/agents", headers={"Authorization": f"Bearer {from_a}"})
    assert listed.status_code == 200, listed.text
    assert [agent["name"] for agent in listed.json()["agents"]] == ["checkout-agent"]


def test_a_client_added_with_sre_auth_is_known_to_both_replicas_and_a_removed_one_to_neither(
    replicas: Replicas,
) -> None:
    secret = replicas.add_client("late", WRITE)
    for replica in (replicas.a, replicas.b):
        replicas.eventual_token(replica, "late", secret)
    replicas.sre_auth("remove-client", "late")
    for replica in (replicas.a, replicas.b):
        eventually(
            lambda replica=replica: replicas.token(replica, "late", secret).status_code == 401,  # type: ignore[misc]
            timeout=10 * REFRESH_SECONDS,
            what=f"{replica.url} to refuse the removed client",
        )


def test_a_key_rotated_with_sre_auth_is_published_by_both_replicas_before_it_signs(replicas: Replicas) -> None:
    (signing,) = kids(replicas.a)
    printed = replicas.sre_auth("rotate-keys")
    match = re.search(r"^New signing key (\S+) ", printed, re.M)
    assert match, printed
    rotated = match.group(1)
    for replica in (replicas.a, replicas.b):
        eventually(
            lambda replica=replica: kids(replica) == {signing, rotated},  # type: ignore[misc]
            timeout=10 * REFRESH_SECONDS,
            what=f"{replica.url} to publish the rotated key",
        )
    token = replicas.eventual_token(replicas.b, "ops", replicas.ops_secret)
    part = token.split(".")[0]
    header = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    assert header["kid"] == signing  # the new key signs only after the publication delay (60 s)
