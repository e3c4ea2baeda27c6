"""Where the trace store lives: ``--store``, else ``$AGENTKIT_STORE``, else
``.agentkit/agentkit.db`` in the working directory (the CLI contract).

A location is a file path (SQLite), ``":memory:"`` (a :class:`MemoryStore`: nothing
survives the process), or ``scheme://...`` for a backend registered with
:func:`register_store_scheme`. Built in: ``sqlite:///abs/path.db``, and
``postgresql://...`` or ``postgres://...`` for the PostgreSQL store (it and psycopg are
imported only when such a URL is opened).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from agentkit.store.base import Store
from agentkit.store.memory import MemoryStore
from agentkit.store.sqlite import SQLiteStore

ENV_VAR = "AGENTKIT_STORE"
DEFAULT_STORE_PATH = Path(".agentkit") / "agentkit.db"
MEMORY = ":memory:"

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


def display_location(location: str | Path) -> str:
    """``location`` as messages may show it: a URL's password replaced by ``***``."""
    text = str(location)
    if "://" not in text:
        return text
    scheme, rest = text.split("://", 1)
    authority, slash, tail = rest.partition("/")
    user, at, host = authority.rpartition("@")
    if at and ":" in user:
        authority = f"{user.split(':', 1)[0]}:***@{host}"
    return f"{scheme}://{authority}{slash}{tail}"


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


__all__ = [
    "DEFAULT_STORE_PATH",
    "ENV_VAR",
    "display_location",
    "open_store",
    "register_store_scheme",
    "resolve_store_location",
]
