"""OAuth clients of the embedded authorization server: a TOML file of names, scopes and secret hashes.

The file (`RegistrySettings.clients_path`, written by `sre auth`) looks like:

    [clients.triage]
    scopes = ["agents:invoke", "metrics:read"]
    secret_hash = "scrypt$16384$8$1$<salt, base64>$<hash, base64>"
    created_at = 2026-11-01T12:00:00Z

`ClientDirectory` is what the token endpoint uses (`get`, `verify`) and `sre auth` manages
(`list_clients`, `add_client`, `remove_client`); it has two implementations, chosen by
`RegistrySettings.auth_in_database`: `ClientStore` below (the file, the embedded default) and
`registry.shared_clients.SharedClients` (the registry's database, for several replicas). The
first three points below hold for both.

Contract of `ClientStore`:
- the client id is the name; the secret is `secrets.token_urlsafe(32)`, returned once by
  `add_client` and stored only as a salted scrypt hash (the file never holds a secret);
- `verify` compares in constant time and spends the same work on an unknown client as on a
  wrong secret, so timing does not tell which names exist;
- scopes must be among `KNOWN_SCOPES` (DESIGN.md "Identity"); anything else is an `InputError`;
- writes lock the file against concurrent `sre auth` runs and replace it atomically (mode 0600);
  a reader notices a new version by its stat (one call) and keeps the last good version if the
  new one cannot be read.
"""

from __future__ import annotations

import base64
import fcntl
import hashlib
import hmac
import json
import logging
import os
import re
import secrets
import threading
import tomllib
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from common.errors import ConfigError, InputError
from common.scopes import ALL_SCOPES

__all__ = [
    "KNOWN_SCOPES",
    "ClientDirectory",
    "ClientStore",
    "OAuthClient",
    "check_client_name",
    "log_client_added",
    "new_secret",
    "parse_client",
    "planned_client",
    "unknown_client",
]

logger = logging.getLogger(__name__)

KNOWN_SCOPES = ALL_SCOPES

# Client ids travel in HTTP Basic credentials (no `:`) and in logs: keep them plain.
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
# scrypt at 16 MiB: the interactive-login parameters; the secrets themselves carry 256 bits.
_SCRYPT_N, _SCRYPT_R, _SCRYPT_P = 2**14, 8, 1
_MAX_SCRYPT_N = 2**20
_UNREAD = object()
_HEADER = (
    "# OAuth clients of the embedded authorization server, managed with `sre auth`.\n"
    "# Only salted scrypt hashes of the secrets are stored; a secret is shown once, at creation.\n"
)


@dataclass(frozen=True)
class OAuthClient:
    name: str
    scopes: tuple[str, ...]
    created_at: datetime
    secret_hash: str = field(repr=False)

    @property
    def client_id(self) -> str:
        return self.name

    def check_secret(self, secret: str) -> bool:
        return _verify_hash(self.secret_hash, secret)


class ClientDirectory(ABC):
    """OAuth clients by id, their secrets checked in constant time (module doc)."""

    def __init__(self) -> None:
        # Made now, not on the first unknown client, whose check would otherwise take twice as long.
        self._decoy_hash = _hash_secret(secrets.token_urlsafe(32))

    @abstractmethod
    def get(self, client_id: str) -> OAuthClient | None: ...

    @abstractmethod
    def list_clients(self) -> list[OAuthClient]:
        """Every client, sorted by name."""

    @abstractmethod
    def add_client(self, name: str, scopes: Iterable[str] | None, *, rotate_secret: bool = False) -> str:
        """Register `name` (or give it a new secret with `rotate_secret`) and return its new secret.

        With `rotate_secret`, `scopes=None` keeps the client's scopes.
        """

    @abstractmethod
    def remove_client(self, name: str) -> None: ...

    def verify(self, client_id: str, secret: str) -> OAuthClient | None:
        """The client if `secret` is its secret; None for a wrong secret and for an unknown client alike."""
        client = self.get(client_id)
        if client is None:
            _verify_hash(self._decoy_hash, secret)  # same work as a real check
            return None
        return client if client.check_secret(secret) else None


class ClientStore(ClientDirectory):
    """The clients in `path` (a missing file is an empty set)."""

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = path
        self._lock = threading.Lock()  # secrets are checked in worker threads
        self._clients: dict[str, OAuthClient] = {}
        self._stamp: object = _UNREAD

    def get(self, client_id: str) -> OAuthClient | None:
        with self._lock:
            self._refresh()
            return self._clients.get(client_id)

    def list_clients(self) -> list[OAuthClient]:
        with self._lock:
            self._refresh()
            return sorted(self._clients.values(), key=lambda client: client.name)

    def add_client(self, name: str, scopes: Iterable[str] | None, *, rotate_secret: bool = False) -> str:
        check_client_name(name)
        secret, secret_hash = new_secret()
        with self._locked_file():
            clients = self._read()
            existing = clients.get(name)
            clients[name] = planned_client(name, scopes, existing, rotate_secret=rotate_secret, secret_hash=secret_hash)
            self._write(clients)
        log_client_added(clients[name], rotated=existing is not None)
        return secret

    def remove_client(self, name: str) -> None:
        with self._locked_file():
            clients = self._read()
            if clients.pop(name, None) is None:
                raise unknown_client(name)
            self._write(clients)
        logger.info("OAuth client %s removed", name)

    def _refresh(self) -> None:
        try:
            stat = self.path.stat()
            stamp: tuple[int, int, int] | None = (stat.st_mtime_ns, stat.st_size, stat.st_ino)
        except FileNotFoundError:
            stamp = None
        if stamp == self._stamp:
            return
        try:
            self._clients = self._read()
        except ConfigError as exc:
            # A half-edited file must not lock every client out: keep serving the last good set.
            logger.error("%s Keeping the %d clients read before.", exc, len(self._clients))
        self._stamp = stamp

    def _read(self) -> dict[str, OAuthClient]:
        try:
            document = tomllib.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"Cannot read the OAuth clients file {self.path}: {exc}.") from None
        entries = document.get("clients", {})
        if not isinstance(entries, dict):
            raise ConfigError(f"In {self.path}, `clients` must be a table of clients.")
        return {name: parse_client(str(self.path), name, entry) for name, entry in entries.items()}

    def _write(self, clients: dict[str, OAuthClient]) -> None:
        lines = [_HEADER]
        for client in sorted(clients.values(), key=lambda c: c.name):
            # json.dumps of these ASCII-only strings and lists is valid TOML.
            lines.append(
                f"\n[clients.{json.dumps(client.name)}]\n"
                f"scopes = {json.dumps(list(client.scopes))}\n"
                f"secret_hash = {json.dumps(client.secret_hash)}\n"
                f"created_at = {client.created_at.astimezone(UTC).strftime('%Y-%m-%dT%H:%M:%SZ')}\n"
            )
        temporary = self.path.with_name(f".{self.path.name}.tmp")
        temporary.unlink(missing_ok=True)
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as file:
            file.write("".join(lines))
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, self.path)

    @contextmanager
    def _locked_file(self) -> Iterator[None]:
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(self.path.with_name(f"{self.path.name}.lock"), os.O_WRONLY | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # closing releases the lock


def check_client_name(name: str) -> None:
    """InputError unless `name` is a valid client id."""
    if not _NAME.fullmatch(name):
        raise InputError(
            f"Invalid client name {name!r}: use 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit."
        )


def new_secret() -> tuple[str, str]:
    """A new client secret and its salted scrypt hash (tens of ms of CPU and 16 MiB)."""
    secret = secrets.token_urlsafe(32)
    return secret, _hash_secret(secret)


def planned_client(
    name: str, scopes: Iterable[str] | None, existing: OAuthClient | None, *, rotate_secret: bool, secret_hash: str
) -> OAuthClient:
    """The client `add_client` writes in place of `existing`; InputError when the request does not fit it."""
    if existing is not None and not rotate_secret:
        raise InputError(f"Client {name!r} already exists; use --rotate-secret to give it a new secret.")
    if existing is None and rotate_secret:
        raise InputError(f"Client {name!r} does not exist, so it has no secret to rotate.")
    granted = existing.scopes if scopes is None and existing is not None else _checked_scopes(scopes or ())
    return OAuthClient(
        name=name,
        scopes=granted,
        created_at=existing.created_at if existing else datetime.now(UTC).replace(microsecond=0),
        secret_hash=secret_hash,
    )


def log_client_added(client: OAuthClient, *, rotated: bool) -> None:
    action = "secret rotated" if rotated else "added"
    logger.info("OAuth client %s %s (scopes: %s)", client.name, action, " ".join(client.scopes))


def unknown_client(name: str) -> InputError:
    return InputError(f"No client named {name!r}; `sre auth list-clients` shows the registered ones.")


def _checked_scopes(scopes: Iterable[str]) -> tuple[str, ...]:
    wanted = sorted({scope.strip() for scope in scopes if scope.strip()})
    if not wanted:
        raise InputError(f"Give the client at least one scope, from: {', '.join(KNOWN_SCOPES)}.")
    unknown = [scope for scope in wanted if scope not in KNOWN_SCOPES]
    if unknown:
        raise InputError(f"Unknown scope(s) {', '.join(unknown)}; the known scopes are: {', '.join(KNOWN_SCOPES)}.")
    return tuple(wanted)


def parse_client(source: str, name: str, entry: object) -> OAuthClient:
    """The client stored as `entry` (a TOML table, or a database row as a dict) in `source`; ConfigError saying
    what is wrong with it otherwise."""
    problem = f"In {source}, client {name!r}"
    if not isinstance(entry, dict) or not _NAME.fullmatch(name):
        raise ConfigError(f"{problem} is not a valid client table.")
    scopes, secret_hash, created_at = entry.get("scopes"), entry.get("secret_hash"), entry.get("created_at")
    if not (isinstance(scopes, list) and all(isinstance(s, str) and s in KNOWN_SCOPES for s in scopes)):
        raise ConfigError(f"{problem} needs `scopes`, a list from: {', '.join(KNOWN_SCOPES)}.")
    if not (isinstance(secret_hash, str) and _parse_hash(secret_hash) is not None):
        raise ConfigError(f"{problem} needs `secret_hash` as written by `sre auth add-client`.")
    if not isinstance(created_at, datetime):
        raise ConfigError(f"{problem} needs `created_at`, a TOML date-time.")
    if created_at.tzinfo is None:
        created_at = created_at.replace(tzinfo=UTC)
    return OAuthClient(name, tuple(scopes), created_at, secret_hash)


def _hash_secret(secret: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(secret.encode(), salt=salt, n=_SCRYPT_N, r=_SCRYPT_R, p=_SCRYPT_P, dklen=32)
    return f"scrypt${_SCRYPT_N}${_SCRYPT_R}${_SCRYPT_P}${_b64(salt)}${_b64(digest)}"


def _parse_hash(encoded: str) -> tuple[int, int, int, bytes, bytes] | None:
    parts = encoded.split("$")
    if len(parts) != 6 or parts[0] != "scrypt":
        return None
    try:
        n, r, p = int(parts[1]), int(parts[2]), int(parts[3])
        salt, digest = base64.b64decode(parts[4], validate=True), base64.b64decode(parts[5], validate=True)
    except ValueError:
        return None
    # Bounded so an edited file cannot make each check allocate gigabytes.
    if not (2 <= n <= _MAX_SCRYPT_N and n & (n - 1) == 0 and 1 <= r <= 32 and 1 <= p <= 16 and salt and digest):
        return None
    return n, r, p, salt, digest


def _verify_hash(encoded: str, secret: str) -> bool:
    parsed = _parse_hash(encoded)
    if parsed is None:
        return False
    n, r, p, salt, digest = parsed
    candidate = hashlib.scrypt(
        secret.encode(), salt=salt, n=n, r=r, p=p, dklen=len(digest), maxmem=256 * r * n * p + 2**20
    )
    return hmac.compare_digest(candidate, digest)


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")
