"""Where a PostgreSQL store is and how it names what went wrong.

:class:`PgTarget` is the parsed ``postgresql://`` URL: what psycopg is given, and a
description for messages (host, port, database, user, schema) that never holds the
password. :func:`pg_error` maps psycopg's errors to the typed store errors of
:mod:`agentkit.store.base`; every text taken from psycopg passes :meth:`PgTarget.redact`
first, since libpq echoes parts of a malformed connection string.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit, urlunsplit

import psycopg
import psycopg.errors
from psycopg.conninfo import conninfo_to_dict
from psycopg_pool import PoolTimeout

from agentkit._redact import register_secret
from agentkit.store.base import StoreCorrupt, StoreError, StoreFull, StoreMissing, StoreUnavailable

DEFAULT_SCHEMA = "agentkit"
SCHEMA_PARAM = "schema"
"""agentkit's own URL query parameter (``?schema=name``), removed before libpq sees the URL."""
_SCHEMA_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")


@dataclass(frozen=True)
class PgTarget:
    conninfo: str
    """The URL as psycopg gets it (``schema`` removed)."""
    schema: str
    host: str
    port: str
    dbname: str
    user: str
    params: dict[str, Any] = field(default_factory=dict)
    """The connection parameters the URL sets (psycopg's parse), password included."""
    secrets: tuple[str, ...] = ()

    @property
    def where(self) -> str:
        """``database 'x' at host:port (user u, schema s)``: for messages, no password."""
        return f"database {self.dbname!r} at {self.host}:{self.port} (user {self.user}, schema {self.schema})"

    @property
    def display(self) -> str:
        """The URL with its password replaced by ``***``."""
        return self.redact(self.conninfo) + ("" if self.schema == DEFAULT_SCHEMA else f" (schema {self.schema})")

    def redact(self, text: str) -> str:
        for secret in sorted(self.secrets, key=len, reverse=True):
            text = text.replace(secret, "***")
        return text

    def reason(self, exc: BaseException) -> str:
        """psycopg's message on one line, redacted, without libpq's prefixes."""
        text = " ".join(str(exc).split()) or type(exc).__name__
        text = re.sub(r"^(connection failed: )?connection to server at [^:]*? failed: ", "", text)
        return self.redact(text.replace("FATAL: ", ""))


def _secrets(url: str) -> tuple[str, ...]:
    """The password as written in the URL (percent-encoded or not) and decoded."""
    try:
        raw = urlsplit(url).netloc.rpartition("@")[0].partition(":")[2]
    except ValueError:
        raw = ""
    found = {raw, unquote(raw)} if raw else set()
    return tuple(s for s in found if s)


def parse_target(url: str, schema: str | None = None) -> PgTarget:
    """Parse a ``postgresql://`` or ``postgres://`` URL; ``ValueError`` (password redacted)
    when it is not a valid one. Unset parts fall back to libpq's environment variables and
    defaults, as the connection will."""
    secrets = _secrets(url)

    def hide(text: str) -> str:
        for secret in sorted(secrets, key=len, reverse=True):
            text = text.replace(secret, "***")
        return text

    try:
        parts = urlsplit(url)
        query = parse_qsl(parts.query, keep_blank_values=True)
    except ValueError as exc:
        raise ValueError(f"not a valid PostgreSQL URL: {hide(url)} ({hide(str(exc))})") from None
    given = [v for k, v in query if k == SCHEMA_PARAM]
    chosen = schema or (given[-1] if given else DEFAULT_SCHEMA)
    if not _SCHEMA_NAME.fullmatch(chosen):
        raise ValueError(f"not a valid schema name for the store: {chosen!r} (letters, digits and _)")
    conninfo = urlunsplit(parts._replace(query=urlencode([(k, v) for k, v in query if k != SCHEMA_PARAM])))
    try:
        params: dict[str, Any] = conninfo_to_dict(conninfo)
    except psycopg.Error as exc:
        first = " ".join(str(exc).split())
        raise ValueError(f"not a valid PostgreSQL URL: {hide(url)} ({hide(first)})") from None
    password = params.get("password")
    if password:
        secrets = (*secrets, str(password))
    register_secret(*secrets, os.environ.get("PGPASSWORD"))  # masked wherever text leaves the process
    host = str(params.get("host") or os.environ.get("PGHOST") or "localhost (socket)")
    port = str(params.get("port") or os.environ.get("PGPORT") or "5432")
    user = str(params.get("user") or os.environ.get("PGUSER") or _login())
    dbname = str(params.get("dbname") or os.environ.get("PGDATABASE") or user)
    return PgTarget(conninfo, chosen, host, port, dbname, user, params, tuple(sorted(set(secrets))))


def _login() -> str:
    import getpass

    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "?"


_UNAVAILABLE_CLASSES = ("08", "53", "57", "58", "28", "3D", "42501", "25006", "40", "55")


def pg_error(exc: BaseException, target: PgTarget, *, readonly: bool = False) -> BaseException:
    """The typed store error for a psycopg error (``exc`` itself for a programming error)."""
    where, why = target.where, target.reason(exc)
    if isinstance(exc, PoolTimeout):
        return StoreUnavailable(
            f"no free connection to the PostgreSQL store in time, {where}: {why}", location=target.display
        )
    if not isinstance(exc, psycopg.Error):
        return exc
    state = exc.sqlstate or ""
    if isinstance(exc, psycopg.DataError) and not state:  # refused before it was sent: a NUL in an id
        return ValueError(f"the PostgreSQL store cannot take this value: {why}")
    if state == "53100" or isinstance(exc, psycopg.errors.DiskFull):
        return StoreFull(
            f"the PostgreSQL store is full, {where} ({why}): free disk space on the server; what was committed is kept",
            location=target.display,
        )
    if state in ("XX001", "XX002"):
        return StoreCorrupt(f"the PostgreSQL store is damaged, {where} ({why})", location=target.display)
    if isinstance(exc, psycopg.OperationalError) and not state:  # no answer from a server: connecting
        return _connect_error(why, target, readonly)
    if state.startswith(_UNAVAILABLE_CLASSES) or isinstance(exc, psycopg.InterfaceError | psycopg.OperationalError):
        return StoreUnavailable(f"cannot use the PostgreSQL store, {where}: {why}", location=target.display)
    return exc


def _connect_error(why: str, target: PgTarget, readonly: bool) -> StoreError:
    where = target.where
    if "authentication failed" in why or "no password supplied" in why or "pg_hba.conf" in why:
        return StoreUnavailable(
            f"cannot log in to the PostgreSQL store, {where}: {why} (check the user and password; "
            "the password is not shown)",
            location=target.display,
        )
    if re.search(r'database ".*" does not exist', why):
        if readonly:
            return StoreMissing(f"no store at {target.display}: the database does not exist", location=target.display)
        return StoreUnavailable(
            f"the PostgreSQL store cannot be opened, {where}: the database does not exist "
            f"(create it first: createdb {target.dbname})",
            location=target.display,
        )
    return StoreUnavailable(f"cannot reach the PostgreSQL store, {where}: {why}", location=target.display)


__all__ = ["DEFAULT_SCHEMA", "PgTarget", "parse_target", "pg_error"]
