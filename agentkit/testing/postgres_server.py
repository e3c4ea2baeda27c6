"""A throwaway PostgreSQL cluster for tests and benchmarks: ``initdb`` in a new temporary
directory, ``pg_ctl start`` on a free loopback port (and a unix socket in the same
directory), ``pg_ctl stop`` and the directory removed at the end::

    with PostgresServer() as server:
        url = server.create_database("t1")   # postgresql://agentkit:...@127.0.0.1:PORT/t1

The binaries are found on ``PATH`` or in ``/usr/lib/postgresql/<version>/bin`` (Debian and
Ubuntu put ``initdb`` and ``pg_ctl`` there, off ``PATH``); :func:`find_bin_dir` returns
``None`` when there are none. PostgreSQL refuses to run as root: as root, the cluster is
created and run as the ``postgres`` user (or ``nobody``), which owns the directory.

The cluster listens on 127.0.0.1 only; local (socket) connections are trusted, TCP ones
need the password of the superuser ``agentkit``, a random one per cluster. Readiness is
awaited by polling the server (``pg_ctl start -w``, then ``pg_isready``), never by sleeping
a fixed time. No pytest here: ``tools/bench`` imports it too.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import re
import secrets
import shutil
import socket
import stat
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any, Self

SUPERUSER = "agentkit"
DEBIAN_BIN_GLOB = "/usr/lib/postgresql/*/bin"
FAST_SETTINGS = {"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off"}
"""For tests: a crash of the machine may lose the throwaway cluster, nothing else changes."""
_NEEDED = ("initdb", "pg_ctl", "pg_isready", "postgres")


class PostgresServerError(RuntimeError):
    """The cluster could not be created or started (the message ends with its log)."""


def _version_key(path: Path) -> tuple[int, ...]:
    return tuple(int(n) for n in re.findall(r"\d+", path.parent.name)) or (0,)


def find_bin_dir() -> Path | None:
    """The directory holding ``initdb``, ``pg_ctl``, ``pg_isready`` and ``postgres``: the
    one on ``PATH``, else the newest ``/usr/lib/postgresql/*/bin``; ``None`` when absent."""
    on_path = shutil.which("initdb")
    candidates = [Path(on_path).resolve().parent] if on_path else []
    candidates += sorted((Path(p) for p in glob.glob(DEBIAN_BIN_GLOB)), key=_version_key, reverse=True)
    for directory in candidates:
        if all(os.access(directory / name, os.X_OK) for name in _NEEDED):
            return directory
    return None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _service_user() -> pwd.struct_passwd | None:
    """The user the cluster runs as: ``None`` (this process's user) unless this is root."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        with contextlib.suppress(KeyError):
            return pwd.getpwnam(name)
    raise PostgresServerError("running as root and there is no 'postgres' or 'nobody' user to run PostgreSQL as")


def _traversable_temp_root() -> str:
    """A temporary directory every user can pass through (the cluster's user must reach its
    files even when ``$TMPDIR`` is private to root)."""
    base = Path(tempfile.gettempdir()).resolve()
    for part in (base, *base.parents):
        if not part.stat().st_mode & stat.S_IXOTH:
            return "/tmp"
    return str(base)


class PostgresServer:
    """One throwaway cluster (see the module docstring). ``settings`` are written to its
    ``postgresql.conf`` (e.g. :data:`FAST_SETTINGS` for tests)."""

    def __init__(self, *, bin_dir: Path | None = None, settings: dict[str, str] | None = None) -> None:
        found = bin_dir or find_bin_dir()
        if found is None:
            raise PostgresServerError(f"no PostgreSQL server binaries (initdb, pg_ctl) on PATH or in {DEBIAN_BIN_GLOB}")
        self.bin_dir = found
        self.settings = dict(settings or {})
        self.password = secrets.token_hex(12)
        self.host = "127.0.0.1"
        self.port = 0
        self.root: Path | None = None
        self._user = _service_user()
        self._running = False

    # -- paths and commands -----------------------------------------------------------------

    @property
    def data_dir(self) -> Path:
        return self._root / "data"

    @property
    def socket_dir(self) -> Path:
        return self._root

    @property
    def log_file(self) -> Path:
        return self._root / "server.log"

    @property
    def _root(self) -> Path:
        if self.root is None:
            raise PostgresServerError("the cluster was not started")
        return self.root

    def _run(self, name: str, *args: str, check: bool = True, timeout: float = 180) -> subprocess.CompletedProcess[str]:
        extra: dict[str, Any] = {}
        if self._user is not None:
            extra = {"user": self._user.pw_uid, "group": self._user.pw_gid, "extra_groups": []}
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        env["LC_ALL"] = env["LANG"] = "C.UTF-8"
        proc = subprocess.run(
            [str(self.bin_dir / name), *args],
            capture_output=True,
            text=True,
            env=env,
            cwd=self._root,
            timeout=timeout,
            check=False,
            **extra,
        )
        if check and proc.returncode != 0:
            raise PostgresServerError(f"{name} failed ({proc.returncode}): {proc.stderr.strip()}\n{self.log_tail()}")
        return proc

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    # -- lifecycle --------------------------------------------------------------------------

    def start(self) -> Self:
        """initdb and start; returns once the server accepts connections."""
        self.root = Path(tempfile.mkdtemp(prefix="agentkit-pg-", dir=_traversable_temp_root()))
        try:
            if self._user is not None:
                os.chown(self.root, self._user.pw_uid, self._user.pw_gid)
            self._initdb()
            self._start_on_a_free_port()
        except BaseException:
            self.stop()
            raise
        return self

    def _initdb(self) -> None:
        pwfile = self._root / "pwfile"
        pwfile.write_text(self.password + "\n")
        if self._user is not None:
            os.chown(pwfile, self._user.pw_uid, self._user.pw_gid)
        pwfile.chmod(0o600)
        self._run(
            "initdb",
            "-D",
            str(self.data_dir),
            "-U",
            SUPERUSER,
            f"--pwfile={pwfile}",
            "--auth-local=trust",
            "--auth-host=scram-sha-256",
            "--encoding=UTF8",
            "--no-locale",
            "--no-sync",
        )
        pwfile.unlink()
        settings = {
            "listen_addresses": "'127.0.0.1'",
            "unix_socket_directories": f"'{self.socket_dir}'",
            "max_connections": "200",
            **self.settings,
        }
        with (self.data_dir / "postgresql.conf").open("a") as conf:
            conf.write("".join(f"{k} = {v}\n" for k, v in settings.items()))

    def _start_on_a_free_port(self) -> None:
        for _attempt in range(5):
            self.port = _free_port()  # another process may take it first: then try another
            proc = self._pg_ctl_start(check=False)
            if proc.returncode == 0:
                self._running = True
                self.wait_ready()
                return
            tail = self.log_tail(50)
            if "could not bind" not in tail and "already in use" not in tail:
                break
        raise PostgresServerError(f"the PostgreSQL server did not start: {proc.stderr.strip()}\n{self.log_tail()}")

    def wait_ready(self, timeout: float = 60) -> None:
        """Poll ``pg_isready`` until the server accepts connections on its TCP port."""
        deadline = time.monotonic() + timeout
        while True:
            ready = self._run("pg_isready", "-q", "-h", self.host, "-p", str(self.port), "-t", "5", check=False)
            if ready.returncode == 0:
                return
            if time.monotonic() > deadline:
                raise PostgresServerError(f"the PostgreSQL server never accepted connections\n{self.log_tail()}")
            time.sleep(0.05)

    def stop_server(self, mode: str = "fast") -> None:
        """Stop the server, keeping its data (``mode``: ``fast``, or ``immediate`` as a crash)."""
        if self._running:
            self._run("pg_ctl", "stop", "-w", "-m", mode, "-D", str(self.data_dir), check=False)
            self._running = False

    def start_server(self) -> None:
        """Start the stopped server again, on the same port."""
        self._pg_ctl_start(check=True)
        self._running = True
        self.wait_ready()

    def _pg_ctl_start(self, *, check: bool) -> subprocess.CompletedProcess[str]:
        data, log, port = str(self.data_dir), str(self.log_file), f"-p {self.port}"
        return self._run("pg_ctl", "start", "-w", "-t", "120", "-D", data, "-l", log, "-o", port, check=check)

    def stop(self) -> None:
        """Stop the server (fast shutdown) and remove its directory."""
        if self.root is None:
            return
        try:
            self.stop_server()
        finally:
            shutil.rmtree(self.root, ignore_errors=True)
            self.root = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- databases --------------------------------------------------------------------------

    def url(self, database: str = "postgres", *, password: str | None = None) -> str:
        """A ``postgresql://`` URL to ``database`` over TCP, with the superuser's password
        (or ``password``: a wrong one for a test of refused logins)."""
        secret = self.password if password is None else password
        return f"postgresql://{SUPERUSER}:{secret}@{self.host}:{self.port}/{database}"

    def create_database(self, name: str | None = None) -> str:
        """A new, empty database; returns its URL."""
        import psycopg
        from psycopg import sql

        name = name or f"db_{secrets.token_hex(6)}"
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return self.url(name)


__all__ = ["FAST_SETTINGS", "SUPERUSER", "PostgresServer", "PostgresServerError", "find_bin_dir"]
