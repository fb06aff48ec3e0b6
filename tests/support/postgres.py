"""A real PostgreSQL server on 127.0.0.1 for storage tests, from the Debian `postgresql` binaries.

    with PostgresProcess() as postgres:
        url = postgres.create_database("registry_test")   # postgresql+asyncpg://...

What it does: `initdb` a fresh cluster into a new directory under the system temp dir (trust
authentication, UTF-8, no fsync: a throw-away test cluster), start it with `pg_ctl` listening on
127.0.0.1 at a free port with its unix socket inside that directory (300 connections: the suite
shares one server), and stop it (`pg_ctl stop -m fast`) and delete the directory on `stop()` (or
at interpreter exit).

PostgreSQL refuses to run as root. When the tests run as root, every PostgreSQL command runs as
the `postgres` system user (created by the Debian package; `nobody` otherwise) via `runuser`,
and the directory is owned by that user. It lives under the system temp dir rather than pytest's
`tmp_path` because pytest's directories are private to root, which that user could not enter.

`PostgresProcess.binaries()` finds `initdb`/`pg_ctl` on PATH or in /usr/lib/postgresql/*/bin
(where Debian puts them, off PATH); it returns None when they are not installed, and tests skip
with that reason.
"""

from __future__ import annotations

import atexit
import os
import pwd
import re
import shutil
import subprocess
import tempfile
from pathlib import Path
from types import TracebackType
from typing import Self

from support.backends import BackendStartError, free_port

__all__ = ["PostgresProcess"]

_DEBIAN_BIN_GLOB = "/usr/lib/postgresql/*/bin"
_START_TIMEOUT_SECONDS = 30
_PORT_ATTEMPTS = 3
#: The suite shares one server (tests/conftest.py): replica tests run several processes, each with its pool, and a
#: module's connections may outlive it until collected; PostgreSQL's default of 100 leaves no room for that.
_MAX_CONNECTIONS = 300
_live: set[PostgresProcess] = set()


@atexit.register
def _stop_leftovers() -> None:
    for postgres in list(_live):
        postgres.stop()


class PostgresProcess:
    user = "postgres"  # the database superuser created by initdb

    def __init__(self) -> None:
        self.bin_dir = self.binaries()
        self.workdir: Path | None = None
        self.port: int | None = None
        self._databases = 0

    @staticmethod
    def binaries() -> Path | None:
        """The directory holding `initdb`, `pg_ctl` and `createdb`, or None if PostgreSQL is not installed."""
        on_path = shutil.which("pg_ctl")
        # Debian links some binaries onto PATH but not `createdb`; the real directory has them all.
        candidates = [Path(on_path).resolve().parent] if on_path else []
        candidates += sorted(Path("/").glob(_DEBIAN_BIN_GLOB.lstrip("/")), key=_version, reverse=True)
        for directory in candidates:
            if all((directory / binary).exists() for binary in ("initdb", "pg_ctl", "createdb")):
                return directory
        return None

    @property
    def running(self) -> bool:
        return self in _live

    def start(self) -> Self:
        if self.bin_dir is None:
            raise BackendStartError("PostgreSQL is not installed (Debian package `postgresql`).")
        self.workdir = Path(tempfile.mkdtemp(prefix="sre-postgres-"))
        owner = _run_as()
        if owner is not None:
            os.chown(self.workdir, owner.pw_uid, owner.pw_gid)
        self._command("initdb", "-D", str(self.data_dir), "-U", self.user, "--auth=trust", "-E", "UTF8", "--no-sync")
        for _ in range(_PORT_ATTEMPTS):
            self.port = free_port()
            options = (
                f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.workdir} -c fsync=off"
                f" -c max_connections={_MAX_CONNECTIONS}"
            )
            started = self._command(
                "pg_ctl", "start", "-D", str(self.data_dir), "-l", str(self.log_path), "-o", options, "-w",
                "-t", str(_START_TIMEOUT_SECONDS), check=False,
            )  # fmt: skip
            if started.returncode == 0:
                _live.add(self)
                return self
            if "could not bind" not in self._log():  # another process took the port: try another
                break
        log = self._log()
        self._remove()
        raise BackendStartError(f"PostgreSQL did not start:\n{started.stdout}{started.stderr}\n{log}")

    def create_database(self, name: str) -> str:
        """Create database `name` and return its SQLAlchemy async URL."""
        if not re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", name):
            raise ValueError(f"not a plain database name: {name!r}")
        self._command("createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", self.user, name)
        return self.url(name)

    def fresh_database(self) -> str:
        """A new, empty database (one per test keeps tests independent)."""
        self._databases += 1
        return self.create_database(f"test_{self._databases}")

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+asyncpg://{self.user}@127.0.0.1:{self.port}/{database}"

    def stop(self) -> None:
        if self.running and self.workdir is not None:
            self._command("pg_ctl", "stop", "-D", str(self.data_dir), "-m", "fast", "-w", check=False)
            _live.discard(self)
        self._remove()

    @property
    def data_dir(self) -> Path:
        assert self.workdir is not None
        return self.workdir / "data"

    @property
    def log_path(self) -> Path:
        assert self.workdir is not None
        return self.workdir / "postgres.log"

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def _command(self, binary: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        assert self.bin_dir is not None
        command = [str(self.bin_dir / binary), *args]
        owner = _run_as()
        if owner is not None:
            command = ["runuser", "-u", owner.pw_name, "--", *command]
        result = subprocess.run(command, capture_output=True, text=True, check=False, cwd=self.workdir)
        if check and result.returncode != 0:
            raise BackendStartError(f"{binary} failed ({result.returncode}):\n{result.stdout}{result.stderr}")
        return result

    def _log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def _remove(self) -> None:
        if self.workdir is not None:
            shutil.rmtree(self.workdir, ignore_errors=True)
            self.workdir = None


def _run_as() -> pwd.struct_passwd | None:
    """The unprivileged user to run PostgreSQL as, when we are root (None: run as ourselves)."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        try:
            return pwd.getpwnam(name)
        except KeyError:
            continue
    raise BackendStartError("Running as root, but there is no `postgres` or `nobody` user to run PostgreSQL as.")


def _version(path: Path) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", path.parent.name))
