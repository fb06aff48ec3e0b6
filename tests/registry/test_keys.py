"""KeyStore: signing keys on disk, rotation with a publication delay, removal after the last token expires."""

from __future__ import annotations

import json
import logging
import stat
from pathlib import Path

import pytest
from joserfc.jwk import RSAKey

from common.auth.validation import MAX_LEEWAY_SECONDS
from registry.keys import KeyStore

TTL = 600
DELAY = 60.0


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


def store(keys_dir: Path, clock: Clock, algorithm: str = "RS256") -> KeyStore:
    return KeyStore(keys_dir, algorithm, TTL, publish_delay=DELAY, clock=clock)  # type: ignore[arg-type]


def published(keys: KeyStore) -> set[str]:
    return {key["kid"] for key in keys.jwks()["keys"]}


def test_first_start_creates_one_active_key_in_a_private_file(tmp_path: Path, clock: Clock) -> None:
    keys = store(tmp_path / "keys", clock)
    key = keys.signing_key()
    assert [info.state for info in keys.list_keys()] == ["active"]
    path = tmp_path / "keys" / f"{key.kid}.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "keys").stat().st_mode) == 0o700
    document = json.loads(path.read_text())
    assert document["jwk"]["kid"] == key.kid == RSAKey.import_key(document["jwk"]).thumbprint()
    assert document["jwk"]["d"]  # the private key, for this process and the CLI only
    assert keys.signing_key().kid == key.kid  # stable across calls


def test_the_jwks_holds_public_parts_only(tmp_path: Path, clock: Clock) -> None:
    keys = store(tmp_path, clock)
    keys.signing_key()
    keys.rotate()
    entries = keys.jwks()["keys"]
    assert len(entries) == 2
    for entry in entries:
        assert entry["use"] == "sig"
        assert entry["alg"] == "RS256"
        assert not {"d", "p", "q", "dp", "dq", "qi"} & entry.keys()


def test_a_rotated_key_is_published_at_once_but_signs_only_after_the_delay(tmp_path: Path, clock: Clock) -> None:
    keys = store(tmp_path, clock)
    old = keys.signing_key()
    new = keys.rotate()
    assert new.state == "pending"
    assert new.activates_at == clock.now + DELAY
    assert published(keys) == {old.kid, new.kid}
    assert keys.signing_key().kid == old.kid

    clock.now += DELAY - 1
    assert keys.signing_key().kid == old.kid
    clock.now += 1
    assert keys.signing_key().kid == new.kid
    assert {info.kid: info.state for info in keys.list_keys()} == {old.kid: "retired", new.kid: "active"}


def test_the_old_key_stays_published_until_its_last_token_has_expired(tmp_path: Path, clock: Clock) -> None:
    keys = store(tmp_path, clock)
    old = keys.signing_key()
    new = keys.rotate()
    retired_at = new.activates_at
    old_info = next(info for info in keys.list_keys() if info.kid == old.kid)
    assert old_info.retires_at == retired_at
    assert old_info.removed_at == retired_at + TTL + MAX_LEEWAY_SECONDS

    clock.now = retired_at + TTL + MAX_LEEWAY_SECONDS - 1  # a token signed just before retiring may live
    assert old.kid in published(keys)
    clock.now += 1
    assert published(keys) == {new.kid}
    assert not (tmp_path / f"{old.kid}.json").exists()


def test_a_rotation_by_another_process_is_seen_without_restart(tmp_path: Path, clock: Clock) -> None:
    server = store(tmp_path, clock)
    old = server.signing_key()
    cli = store(tmp_path, clock)
    new = cli.rotate()
    assert published(server) == {old.kid, new.kid}
    clock.now += DELAY
    assert server.signing_key().kid == new.kid


def test_rotating_an_empty_store_creates_a_key_that_signs_at_once(tmp_path: Path, clock: Clock) -> None:
    keys = store(tmp_path, clock)
    created = keys.rotate()
    assert created.state == "active"
    assert keys.signing_key().kid == created.kid


def test_two_rotations_in_a_row_each_key_signs_in_turn(tmp_path: Path, clock: Clock) -> None:
    keys = store(tmp_path, clock)
    first = keys.signing_key()
    clock.now += 1
    second = keys.rotate()
    clock.now += 1
    third = keys.rotate()
    assert published(keys) == {first.kid, second.kid, third.kid}
    clock.now = second.activates_at
    assert keys.signing_key().kid == second.kid
    clock.now = third.activates_at
    assert keys.signing_key().kid == third.kid


def test_es256_keys_are_p256(tmp_path: Path, clock: Clock) -> None:
    keys = store(tmp_path, clock, "ES256")
    assert keys.signing_key().algorithm == "ES256"
    (entry,) = keys.jwks()["keys"]
    assert (entry["kty"], entry["crv"], entry["alg"]) == ("EC", "P-256", "ES256")


def test_a_changed_algorithm_gets_a_new_key_and_the_old_one_retires(tmp_path: Path, clock: Clock) -> None:
    rsa = store(tmp_path, clock, "RS256").signing_key()
    clock.now += 1
    ec = store(tmp_path, clock, "ES256")
    assert ec.signing_key().algorithm == "ES256"
    assert rsa.kid in published(ec)  # its tokens still verify


def test_a_damaged_key_file_is_skipped_and_the_others_still_sign(
    tmp_path: Path, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    keys = store(tmp_path, clock)
    good = keys.signing_key()
    (tmp_path / "broken.json").write_text("{not json")
    clock.now += 1
    fresh = store(tmp_path, clock)
    assert fresh.signing_key().kid == good.kid
    assert "Ignoring unreadable signing key file" in caplog.text


def test_private_key_material_is_not_in_the_repr(
    tmp_path: Path, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    keys = store(tmp_path, clock)
    key = keys.signing_key()
    private_exponent = str(key.key.as_dict(private=True)["d"])
    assert private_exponent not in repr(key)
    assert private_exponent not in caplog.text
