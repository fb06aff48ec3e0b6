"""Signing keys of the embedded authorization server: `SigningKeys`, and its JWK files under SRE_DATA_DIR/keys.

`SigningKeys` is what the token endpoint and the JWKS route use (`signing_key()`, `jwks()`) and
`sre auth` manages (`rotate()`, `list_keys()`); it has two implementations, chosen by
`RegistrySettings.auth_in_database`: `KeyStore` below (files, the embedded default) and
`registry.shared_keys.SharedKeys` (the registry's database, for several replicas). Both follow
the life cycle below; only where a key is kept, and how soon another process's change is seen,
differ.

Contract of `KeyStore`:
- each key is one file `<kid>.json` (mode 0600, in a 0700 directory) holding the private JWK
  (`kid` = its RFC 7638 thumbprint, `alg`, `use: sig`), `created_at` and `activates_at` (UNIX
  seconds). A file is written once, atomically, and never changed, so the `sre auth` CLI and the
  running server can share the directory without coordination.
- the state of a key follows from the times, keys being ordered by `activates_at`:
  `pending` (published, not signing yet) -> `active` (the newest key whose time has come; it
  signs new tokens) -> `retired` (a newer key became active; still published so the tokens it
  signed keep verifying) -> gone (retired for longer than the token TTL plus the largest leeway a
  verifier may apply: no longer published, its file deleted).
- `rotate()` adds a key that is in the JWKS at once but signs only after `publish_delay` seconds
  (default 60, longer than the verifiers' 30 s JWKS refetch cooldown), so any verifier that meets
  a token of the new key can already fetch it.
- `signing_key()` creates a key, active at once, when none can sign: on first start, or when
  the configured algorithm no longer matches the active key.
- `jwks()` is the public part of every pending, active and retired key.
- another process's changes (the CLI) are seen on the next call: the directory's mtime is compared
  on each call (one stat), with a full rescan at least every `RESCAN_SECONDS` for filesystems
  whose timestamps are coarse.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from joserfc.errors import JoseError
from joserfc.jwk import ECKey, KeyParameters, RSAKey

from common.auth.validation import MAX_LEEWAY_SECONDS
from common.errors import ConfigError
from registry.settings import RegistrySettings

__all__ = [
    "DEFAULT_PUBLISH_DELAY_SECONDS",
    "Algorithm",
    "KeyInfo",
    "KeyState",
    "KeyStore",
    "SigningKey",
    "SigningKeys",
    "generate_key",
    "key_document",
    "key_from_document",
    "key_order",
]

logger = logging.getLogger(__name__)

#: Longer than the 30 s JWKS refetch cooldown of verifiers, so a new key is fetchable before use.
DEFAULT_PUBLISH_DELAY_SECONDS = 60.0
#: Even without an mtime change, re-read the directory this often (coarse timestamps, clock jumps).
RESCAN_SECONDS = 10.0

KeyState = Literal["pending", "active", "retired"]
Algorithm = Literal["RS256", "ES256"]
PrivateKey = RSAKey | ECKey


@dataclass(frozen=True)
class SigningKey:
    kid: str
    algorithm: str
    created_at: float
    activates_at: float
    key: PrivateKey = field(repr=False)


@dataclass(frozen=True)
class KeyInfo:
    """A key as `sre auth` shows it; times are UNIX seconds."""

    kid: str
    algorithm: str
    state: KeyState
    created_at: float
    activates_at: float
    #: When a newer key took (or takes) over; None for the newest key.
    retires_at: float | None
    #: When it leaves the JWKS: every token it signed has expired by then.
    removed_at: float | None


class SigningKeys(ABC):
    """Keys ordered by `activates_at`, and the states that follow from the time (module doc)."""

    def __init__(
        self, algorithm: Algorithm, token_ttl: float, *, publish_delay: float, clock: Callable[[], float]
    ) -> None:
        if publish_delay < 0 or token_ttl <= 0:
            raise ConfigError("The key publication delay must be >= 0 and the token lifetime > 0 seconds.")
        self.algorithm = algorithm
        self.publish_delay = publish_delay
        # A verifier accepts a token up to its leeway after `exp`: the key must outlive that too.
        self.keep_after_retirement = token_ttl + MAX_LEEWAY_SECONDS
        # Wall-clock time, not monotonic: activation times are shared between processes.
        self._clock = clock
        self._keys: list[SigningKey] = []

    @abstractmethod
    def signing_key(self) -> SigningKey:
        """The key that signs tokens now."""

    @abstractmethod
    def rotate(self) -> KeyInfo:
        """Publish a new key now; it signs from `publish_delay` seconds on (at once if there is no key)."""

    @abstractmethod
    def list_keys(self) -> list[KeyInfo]:
        """Every published key, oldest first."""

    @abstractmethod
    def jwks(self) -> dict[str, list[dict[str, Any]]]:
        """The JWKS document: public parts only."""

    def _public(self) -> dict[str, list[dict[str, Any]]]:
        return {"keys": [dict(key.key.as_dict(private=False)) for key in self._keys]}

    def _active(self, now: float) -> SigningKey | None:
        started = [key for key in self._keys if key.activates_at <= now]
        return started[-1] if started else None

    def _rotation_start(self, now: float) -> float:
        """When a key rotated in at `now` starts signing: after the publication delay, or at once if none signs."""
        return now + self.publish_delay if self._active(now) is not None else now

    def _info(self, kid: str, now: float) -> KeyInfo:
        return next(info for info in self._infos(now) if info.kid == kid)

    def _expired(self, now: float) -> set[str]:
        """Kids of the keys every token of which has expired: no longer to publish."""
        return {info.kid for info in self._infos(now) if info.removed_at is not None and info.removed_at <= now}

    def _infos(self, now: float) -> list[KeyInfo]:
        infos = []
        for index, key in enumerate(self._keys):
            successor = self._keys[index + 1] if index + 1 < len(self._keys) else None
            retires_at = successor.activates_at if successor else None
            state: KeyState = "pending" if key.activates_at > now else "active"
            if retires_at is not None and retires_at <= now:
                state = "retired"
            removed_at = retires_at + self.keep_after_retirement if retires_at is not None else None
            infos.append(
                KeyInfo(key.kid, key.algorithm, state, key.created_at, key.activates_at, retires_at, removed_at)
            )
        return infos


class KeyStore(SigningKeys):
    """Signing keys in `keys_dir`, rotated with a publication delay and kept until their tokens expire."""

    def __init__(
        self,
        keys_dir: Path,
        algorithm: Algorithm,
        token_ttl: float,
        *,
        publish_delay: float = DEFAULT_PUBLISH_DELAY_SECONDS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(algorithm, token_ttl, publish_delay=publish_delay, clock=clock)
        self.keys_dir = keys_dir
        self._lock = threading.Lock()  # token requests sign in worker threads
        self._stamp: tuple[int, int] | None = None
        self._scanned_at = -RESCAN_SECONDS

    @classmethod
    def for_settings(cls, settings: RegistrySettings) -> KeyStore:
        return cls(
            settings.keys_dir,
            settings.signing_algorithm,
            settings.token_ttl_seconds,
            publish_delay=settings.key_publish_delay_seconds,
        )

    def signing_key(self) -> SigningKey:
        """The key that signs tokens now (created if there is none of the configured algorithm)."""
        with self._lock:
            self._refresh()
            active = self._active(self._clock())
            if active is not None and active.algorithm == self.algorithm:
                return active
            if active is not None:
                logger.warning(
                    "Active key %s is %s, configured %s: creating a new key",
                    active.kid,
                    active.algorithm,
                    self.algorithm,
                )
            return self._create(activates_at=self._clock())

    def rotate(self) -> KeyInfo:
        with self._lock:
            self._refresh()
            now = self._clock()
            key = self._create(activates_at=self._rotation_start(now))
            return self._info(key.kid, now)

    def list_keys(self) -> list[KeyInfo]:
        with self._lock:
            self._refresh()
            return self._infos(self._clock())

    def jwks(self) -> dict[str, list[dict[str, Any]]]:
        with self._lock:
            self._refresh()
            return self._public()

    def _refresh(self) -> None:
        self.keys_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        stat = self.keys_dir.stat()
        stamp = (stat.st_mtime_ns, stat.st_ino)
        if stamp != self._stamp or time.monotonic() - self._scanned_at > RESCAN_SECONDS:
            self._stamp, self._scanned_at = stamp, time.monotonic()
            self._keys = self._load()
        self._remove_expired(self._clock())

    def _load(self) -> list[SigningKey]:
        keys = []
        for path in self.keys_dir.glob("*.json"):
            try:
                keys.append(_read(path))
            except FileNotFoundError:
                continue  # removed by another process since the listing
            except (OSError, ValueError, KeyError, TypeError, JoseError) as exc:
                # One damaged file must not stop token issuance with the others.
                logger.error("Ignoring unreadable signing key file %s: %s", path, type(exc).__name__)
        keys.sort(key=key_order)
        return keys

    def _remove_expired(self, now: float) -> None:
        expired = self._expired(now)
        if not expired:
            return
        for kid in expired:
            (self.keys_dir / f"{kid}.json").unlink(missing_ok=True)
            logger.info("Signing key %s removed: every token it signed has expired", kid)
        self._keys = [key for key in self._keys if key.kid not in expired]

    def _create(self, *, activates_at: float) -> SigningKey:
        key = generate_key(self.algorithm, created_at=self._clock(), activates_at=activates_at)
        _write(self.keys_dir / f"{key.kid}.json", key)
        self._keys = sorted([*self._keys, key], key=key_order)
        logger.info("Signing key %s (%s) created; signs from %s", key.kid, key.algorithm, _iso(activates_at))
        return key


def key_order(key: SigningKey) -> tuple[float, float, str]:
    return key.activates_at, key.created_at, key.kid


def generate_key(algorithm: Algorithm, *, created_at: float, activates_at: float) -> SigningKey:
    """A new private key of `algorithm`, its kid the RFC 7638 thumbprint (RSA: tens of ms of CPU)."""
    parameters: KeyParameters = {"alg": algorithm, "use": "sig"}
    private: PrivateKey = (
        RSAKey.generate_key(2048, parameters=parameters)
        if algorithm == "RS256"
        else ECKey.generate_key("P-256", parameters=parameters)
    )
    private.ensure_kid()
    return SigningKey(str(private.kid), algorithm, created_at, activates_at, private)


def key_document(key: SigningKey) -> dict[str, Any]:
    """What is stored of a key: the private JWK and its times (a file's content, a database row's)."""
    return {"jwk": key.key.as_dict(private=True), "created_at": key.created_at, "activates_at": key.activates_at}


def key_from_document(document: dict[str, Any], kid: str) -> SigningKey:
    """The key stored as `document` under `kid`; ValueError, KeyError, TypeError or JoseError if it is not one."""
    jwk = document["jwk"]
    key: PrivateKey = RSAKey.import_key(jwk) if jwk.get("kty") == "RSA" else ECKey.import_key(jwk)
    if not key.is_private or key.kid != kid:
        raise ValueError("not a private key named after its kid")
    return SigningKey(key.kid, str(jwk["alg"]), float(document["created_at"]), float(document["activates_at"]), key)


def _iso(timestamp: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(timestamp))


def _read(path: Path) -> SigningKey:
    key = key_from_document(json.loads(path.read_text(encoding="utf-8")), path.stem)
    if path.stat().st_mode & 0o077:
        logger.warning("Signing key file %s is readable by others; chmod 600 it", path)
    return key


def _write(path: Path, key: SigningKey) -> None:
    document = key_document(key)
    temporary = path.with_name(f".{path.name}.tmp")
    # Created 0600 from the start (never world-readable, not even for a moment), then renamed
    # into place so a reader never sees half a key.
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as file:
        json.dump(document, file)
        file.flush()
        os.fsync(file.fileno())
    os.replace(temporary, path)
