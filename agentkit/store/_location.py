"""Where the trace store lives: ``--store``, else ``$AGENTKIT_STORE``, else
``.agentkit/agentkit.db`` in the working directory (the CLI contract).

A location is a file path (SQLite), ``":memory:"`` (a :class:`MemoryStore`: nothing
survives the process), or ``scheme://...`` for a backend registered with
:func:`register_store_scheme`. Built in: ``sqlite:///abs/path.db``, and
``postgresql://...`` or ``postgres://...`` for the PostgreSQL store (it and psycopg are
imported only when such a URL is opened).
"""

from __future__ import annotations

import hashlib
import os
import re
import stat
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple
from urllib.parse import unquote

from agentkit.store.base import Store
from agentkit.store.memory import MemoryStore
from agentkit.store.sqlite import SQLiteStore

ENV_VAR = "AGENTKIT_STORE"
DEFAULT_STORE_PATH = Path(".agentkit") / "agentkit.db"
MEMORY = ":memory:"
MASK_TEXT = "***"

StoreFactory = Callable[[str], Store]
"""Builds a store from the full location string (``scheme://...``)."""

_SCHEMES: dict[str, StoreFactory] = {}


def register_store_scheme(scheme: str, factory: StoreFactory) -> None:
    """Make ``open_store("SCHEME://...")`` build a store with ``factory``."""
    _SCHEMES[scheme.lower()] = factory


def _sqlite_url(location: str) -> Store:
    return SQLiteStore(location.split("://", 1)[1] or MEMORY)


register_store_scheme("sqlite", _sqlite_url)

POSTGRES_SCHEMES = ("postgresql", "postgres")
POSTGRES_EXTRA = 'pip install "agentkit[postgres]"'


def _postgres_url(location: str, readonly: bool = False) -> Store:
    """A :class:`~agentkit.store.postgres.PostgresStore`, imported only now: psycopg is an
    optional extra, and importing ``agentkit.store`` must not need it."""
    try:
        from agentkit.store.postgres import PostgresStore
    except ImportError as exc:
        if (exc.name or "").split(".")[0] not in ("psycopg", "psycopg_pool", "psycopg_binary"):
            raise
        raise ValueError(f"the PostgreSQL store needs psycopg, which is not installed: {POSTGRES_EXTRA}") from None
    return PostgresStore(location, readonly=readonly)


for _scheme in POSTGRES_SCHEMES:
    register_store_scheme(_scheme, _postgres_url)


_QUERY_SECRET = re.compile(r"(^|&)((?:ssl)?password)=([^&]*)", re.IGNORECASE)
"""libpq's URL query parameters that carry a password (``?password=...``, ``sslpassword``)."""


class _Url(NamedTuple):
    scheme: str
    user: str | None
    """``None``: no ``@`` in the URL."""
    password: str | None
    """As written (percent-encoded); ``None``: no ``user:password@``."""
    host: str
    path: str
    """With its leading ``/``."""
    query: str
    """Without its ``?``."""

    @classmethod
    def parse(cls, text: str) -> _Url | None:
        """The parts of a ``scheme://`` location; ``None`` for a path or ``:memory:``."""
        if "://" not in text:
            return None
        scheme, rest = text.split("://", 1)
        rest, _, query = rest.partition("?")
        authority, slash, tail = rest.partition("/")
        login, at, host = authority.rpartition("@")
        user, colon, password = login.partition(":")
        return cls(scheme, user if at else None, password if colon else None, host, slash + tail, query)

    def secrets(self) -> list[str]:
        """The passwords it carries, as written."""
        found = [m.group(3) for m in _QUERY_SECRET.finditer(self.query)]
        return [s for s in (self.password, *found) if s]

    def render(self, password: str | None) -> str:
        """The URL with every password shown as ``password``, or left out when it is ``None``."""
        login = ""
        if self.user is not None:
            shown = "" if self.password is None or password is None else f":{password}"
            login = f"{self.user}{shown}@"
        if password is None:
            query = "&".join(p for p in self.query.split("&") if p and not _QUERY_SECRET.fullmatch(p))
        else:
            query = _QUERY_SECRET.sub(lambda m: f"{m.group(1)}{m.group(2)}={password}", self.query)
        return f"{self.scheme}://{login}{self.host}{self.path}" + (f"?{query}" if query else "")


def display_location(location: str | Path) -> str:
    """``location`` as every message shows it: a URL's password (in ``user:password@`` or a
    ``password=`` query parameter) replaced by ``***``. The one rendering of a store for people."""
    url = _Url.parse(str(location))
    return str(location) if url is None else url.render(MASK_TEXT)


def command_location(location: str | Path) -> tuple[str, bool]:
    """``location`` as a command line to copy may repeat it, and whether a password was left
    out: without it, libpq reads ``PGPASSWORD`` or ``~/.pgpass`` (``***`` in its place would be
    sent as the password)."""
    url = _Url.parse(str(location))
    if url is None or not url.secrets():
        return str(location), False
    return url.render(None), True


def hide_location_secrets(text: str, location: str | Path | None) -> str:
    """``text`` (an error's message, say) with the passwords of ``location``'s URL masked
    wherever they appear, as written and percent-decoded."""
    url = _Url.parse(str(location or ""))
    found = {v for s in (url.secrets() if url else []) for v in (s, unquote(s)) if v}
    for secret in sorted(found, key=len, reverse=True):
        text = text.replace(secret, MASK_TEXT)
    return text


def resolve_store_location(location: str | Path | None = None) -> str | Path:
    """The location to open: the argument, else the env var, else the default path.

    Relative paths are made absolute against the current directory (so a later ``chdir``
    does not move the store); ``~`` is expanded. ``":memory:"`` and URLs pass through.
    """
    chosen: str | Path
    if location is not None and str(location).strip():
        chosen = location
    elif os.environ.get(ENV_VAR, "").strip():
        chosen = os.environ[ENV_VAR].strip()
    else:
        chosen = DEFAULT_STORE_PATH
    if isinstance(chosen, str) and (chosen == MEMORY or "://" in chosen):
        return chosen
    path = Path(chosen).expanduser()
    return path if path.is_absolute() else Path.cwd() / path


def open_store(location: str | Path | None = None, *, readonly: bool = False) -> Store:
    """Open the store at ``location`` resolved by :func:`resolve_store_location`.

    Nothing touches the disk until the store is first used (or entered with ``async with``).
    ``readonly=True`` is for commands that only look: a SQLite or PostgreSQL store is then
    opened read-only and never created (a missing file, or a database without the store, is
    :class:`~agentkit.store.base.StoreMissing`); other backends are opened as usual. Raises
    ``ValueError`` for a URL whose scheme no backend registered (or whose backend's optional
    dependencies are not installed), or that is not valid (its password never shown).
    """
    resolved = resolve_store_location(location)
    if resolved == MEMORY:
        return MemoryStore()
    if isinstance(resolved, str):
        scheme = resolved.split("://", 1)[0].lower()
        if scheme == "sqlite":
            return SQLiteStore(resolved.split("://", 1)[1] or MEMORY, readonly=readonly)
        if scheme in POSTGRES_SCHEMES:
            return _postgres_url(resolved, readonly=readonly)
        factory = _SCHEMES.get(scheme)
        if factory is None:
            known = ", ".join(f"{s}://" for s in sorted(_SCHEMES))
            raise ValueError(f"no store backend for {scheme}:// (known: {known}, a file path, {MEMORY})")
        return factory(resolved)
    return SQLiteStore(resolved, readonly=readonly)


RUNS_DIR = "runs"
WORK_ROOT_MARKER = ".agentkit-work-root"
"""The file :func:`ensure_work_root` leaves in a work-dir root: how :func:`is_within_work_roots`
knows a root of any store."""
_UNSAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


def _slug(text: str, limit: int = 40) -> str:
    return _UNSAFE_NAME.sub("_", text).strip("._")[:limit] or "_"


def _digest(*parts: str) -> str:
    return hashlib.sha256("\0".join(parts).encode("utf-8", "surrogatepass")).hexdigest()[:8]


def work_root(location: str | Path | None = None) -> Path:
    """The folder that holds the work dirs (``<root>/<run id>``, the python tool's ``/work``)
    of the runs of the store at ``location`` (resolved by :func:`resolve_store_location`).

    Every store has its own, so runs of two stores never share a work dir (an eval's attempt
    run ids depend only on the suite, so two stores of one suite hold runs with the same ids):

    - a SQLite file ``DIR/NAME``: ``DIR/runs/NAME/`` (run files live beside the store, so a
      resume from another folder finds them);
    - PostgreSQL: ``.agentkit/runs/postgresql-HOST-PORT-DB-SCHEMA-HASH/`` in the working
      directory (run files stay on this machine), from the server, database and schema only:
      never the user or the password, so a URL with its password and one relying on
      ``PGPASSWORD`` name the same root;
    - ``:memory:``: ``.agentkit/runs/memory-PID/`` (that store lives as long as its process);
    - another scheme: ``.agentkit/runs/SCHEME-HASH/``, the hash of the location without its
      password.

    The path is absolute. Nothing is created: :func:`ensure_work_root` makes it.
    """
    resolved = resolve_store_location(location)
    if isinstance(resolved, Path):
        return resolved.parent / RUNS_DIR / resolved.name
    local = Path.cwd() / ".agentkit" / RUNS_DIR
    if resolved == MEMORY:
        return local / f"memory-{os.getpid()}"
    scheme, rest = resolved.split("://", 1)
    scheme = scheme.lower()
    if scheme == "sqlite":
        path = Path(rest).expanduser() if rest else None
        if path is None or rest == MEMORY:
            return local / f"memory-{os.getpid()}"
        path = path if path.is_absolute() else Path.cwd() / path
        return path.parent / RUNS_DIR / path.name
    if scheme in POSTGRES_SCHEMES:
        from agentkit.store._pg_errors import parse_target  # psycopg: only for a PostgreSQL URL

        t = parse_target(resolved)
        name = "-".join(_slug(p) for p in ("postgresql", t.host, t.port, t.dbname, t.schema))
        return local / f"{name}-{_digest(t.host, t.port, t.dbname, t.schema)}"
    shown, _ = command_location(resolved)  # the same store whatever password is given
    return local / f"{_slug(scheme, 20)}-{_digest(shown)}"


def ensure_work_root(location: str | Path | None = None) -> Path:
    """:func:`work_root`, made by :func:`make_work_root`. Call it once the store has opened:
    a location that is no store must leave its folder as it was."""
    return make_work_root(work_root(location))


def make_work_root(root: Path) -> Path:
    """Create the work-dir root ``root`` if missing, with its marker file (see
    :func:`is_within_work_roots`); returns it. Its parents are the user's folders; what lies
    below it is written by sandboxed code, so the host writes there only through
    :mod:`agentkit.store._workfiles`."""
    root.mkdir(parents=True, exist_ok=True)
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        marker = os.open(
            WORK_ROOT_MARKER, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644, dir_fd=fd
        )
    except FileExistsError:
        return root
    finally:
        os.close(fd)
    with os.fdopen(marker, "w", encoding="utf-8") as fh:
        fh.write(
            "agentkit: this folder holds the work dirs of one store's runs (one folder per run id).\n"
            "Files below were written by sandboxed code: agentkit never takes them as configuration.\n"
        )
    return root


def is_within_work_roots(path: str | Path, *locations: str | Path | None) -> bool:
    """Whether ``path`` (links followed) lies in a work-dir root, where sandboxed code writes:
    one made by :func:`ensure_work_root` for any store (its marker file), the root of one of
    ``locations`` (``None``: the store the environment names), or the folder that holds such
    roots (``<store dir>/runs``, where older versions kept every store's work dirs)."""
    real = Path(os.path.realpath(path))
    roots = set()
    for location in locations:
        try:
            roots.add(Path(os.path.realpath(work_root(location).parent)))
        except (ValueError, ImportError):  # no location a store opens here: it names no root
            continue
    return any(folder in roots or _is_marked(folder) for folder in (real, *real.parents))


def _is_marked(folder: Path) -> bool:
    try:
        return stat.S_ISREG((folder / WORK_ROOT_MARKER).lstat().st_mode)  # a file, not a link to one
    except OSError:
        return False


__all__ = [
    "DEFAULT_STORE_PATH",
    "ENV_VAR",
    "WORK_ROOT_MARKER",
    "command_location",
    "display_location",
    "ensure_work_root",
    "hide_location_secrets",
    "is_within_work_roots",
    "make_work_root",
    "open_store",
    "register_store_scheme",
    "resolve_store_location",
    "work_root",
]
