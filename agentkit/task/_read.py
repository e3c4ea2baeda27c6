"""Reading task files safely: size-capped reads that never follow a path into a device, a
FIFO or a /proc pseudo-file, and a YAML loader with limits on nesting and number length.

Private helpers of :mod:`agentkit.task` (which re-exports :class:`TaskFileError`): every
problem becomes one :class:`TaskFileError` line naming the file, and the field or position.
Also the reading of ``output.schema`` (:func:`output_schema`): a JSON schema inline or in a
file (``.json`` or YAML, relative to the task file), checked against its metaschema.
"""

from __future__ import annotations

import fcntl
import os
import re
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import orjson
import yaml
from yaml.composer import ComposerError
from yaml.nodes import Node, ScalarNode

MAX_FILE_BYTES = 1024 * 1024
"""The largest task file, and the largest ``task: {file: ...}`` text: 1 MB."""

MAX_DEPTH = 32
"""Deepest nesting of YAML collections; a task file needs three or four levels."""

MAX_NUMBER_CHARS = 64
"""Longest number literal; a longer one is kept as a :class:`HugeNumber` and rejected by
validation with its field path (``int()`` of 4,300+ digits raises, and no limit needs it)."""


class TaskFileError(ValueError):
    """A task file (or mapping) is invalid. ``str(error)`` is one complete message:
    ``SOURCE: FIELD: MESSAGE``. ``problems`` lists every problem found, first one first."""

    def __init__(
        self, source: str, message: str, *, field: str | None = None, problems: list[str] | None = None
    ) -> None:
        self.source = source
        self.field = field
        self.message = message
        first = f"{field}: {message}" if field else message
        self.problems = problems or [first]
        more = len(self.problems) - 1
        suffix = f" (and {more} more problem{'s' if more > 1 else ''})" if more > 0 else ""
        super().__init__(f"{source}: {first}{suffix}")


TaskFileError.__module__ = "agentkit.task"  # where users import it from


class ReadRefused(Exception):
    """The path cannot be used as a task (text) file; ``str()`` says why, without the path."""


class HugeNumber:
    """A number literal too long to convert; validation rejects it at its field."""

    def __init__(self, text: str) -> None:
        self.digits = sum(ch.isdigit() for ch in text)

    def __repr__(self) -> str:
        return f"a number with {self.digits:,} digits"


def kind_of(value: object) -> str:
    """What kind of value a message says it got: ``a string``, ``a number``, ``a list``...

    Never the value itself. A message about a task file names the key path and the problem,
    never what the file says there: the file may not be a task file at all (``/etc/shadow``
    passed as a config) or hold a secret under a known key, and messages reach terminals,
    logs and MCP clients."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true or false"
    if isinstance(value, float) and not value.is_integer():
        return "a number with a fraction"
    if isinstance(value, int | float | HugeNumber):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list | tuple):
        return "a list"
    if isinstance(value, Mapping):
        return "a mapping"
    return "a value of another kind"


def _kind(mode: int) -> str:
    if stat.S_ISCHR(mode):
        return "a character device"
    if stat.S_ISBLK(mode):
        return "a block device"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "a special file"


def _limit_text(limit: int) -> str:
    return f"{limit // (1024 * 1024)} MB" if limit % (1024 * 1024) == 0 else f"{limit:,} bytes"


def read_capped(path: Path, *, limit: int = MAX_FILE_BYTES, allow_pipe: bool = False) -> bytes:
    """The bytes of a regular file of at most ``limit`` bytes.

    The path is checked before it is opened (a device is never opened), opened with
    ``O_NONBLOCK`` (a FIFO cannot hang the open) and checked again on the open descriptor.
    A "regular" file whose size on disk differs from what it reads (``/proc`` and ``/sys``
    pseudo-files such as ``/proc/self/environ``) is refused. ``allow_pipe`` admits a pipe
    or FIFO (``agentkit run <(generate-task)``), read up to the same limit.
    Raises :class:`ReadRefused`, or ``OSError`` (file not found, permission denied...).
    """

    def admissible(mode: int) -> bool:
        return stat.S_ISREG(mode) or (allow_pipe and stat.S_ISFIFO(mode))

    before = os.stat(path)
    if not admissible(before.st_mode):
        raise ReadRefused(_refusal(before.st_mode))
    flags = os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | getattr(os, "O_CLOEXEC", 0)
    fd = os.open(path, flags)
    try:
        st = os.fstat(fd)
        if not admissible(st.st_mode):  # swapped between the check and the open
            raise ReadRefused(_refusal(st.st_mode))
        if st.st_size > limit:
            raise ReadRefused(f"is {st.st_size:,} bytes; the limit is {_limit_text(limit)}")
        if stat.S_ISFIFO(st.st_mode):
            fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) & ~os.O_NONBLOCK)
        chunks: list[bytes] = []
        size = 0
        while size <= limit:
            chunk = os.read(fd, min(1 << 16, limit + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    finally:
        os.close(fd)
    if size > limit:
        raise ReadRefused(f"is larger than {_limit_text(limit)}, the limit")
    if stat.S_ISREG(st.st_mode) and size != st.st_size:
        raise ReadRefused(
            "is not a regular file: a pseudo-file (like those in /proc or /sys) whose content is generated, not stored"
        )
    return b"".join(chunks)


def _refusal(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "is a directory, not a file"
    return f"is not a regular file ({_kind(mode)})"


class TaskLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` with a nesting limit and long numbers kept unconverted."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent: Node | None, index: int) -> Node | None:
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                mark = self.peek_event().start_mark  # type: ignore[no-untyped-call]
                raise ComposerError(None, None, f"nested more than {MAX_DEPTH} levels deep", mark)
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def _construct_int(loader: TaskLoader, node: ScalarNode) -> Any:
    if len(str(node.value)) > MAX_NUMBER_CHARS:
        return HugeNumber(str(node.value))
    return loader.construct_yaml_int(node)


def _construct_float(loader: TaskLoader, node: ScalarNode) -> Any:
    if len(str(node.value)) > MAX_NUMBER_CHARS:
        return HugeNumber(str(node.value))
    return loader.construct_yaml_float(node)


TaskLoader.add_constructor("tag:yaml.org,2002:int", _construct_int)
TaskLoader.add_constructor("tag:yaml.org,2002:float", _construct_float)


def parse_yaml(text: str) -> Any:
    """Parse one YAML document with :class:`TaskLoader`; raises ``yaml.YAMLError``."""
    loader = TaskLoader(text)
    try:
        return loader.get_single_data()
    finally:
        loader.dispose()


def read_bytes(path: Path, source: str, field: str | None, what: str = "", *, allow_pipe: bool = False) -> bytes:
    """A regular file's bytes (up to 1 MB); ``what`` (``"the file"``) starts a refusal's
    message. Messages never repeat ``path``: when ``field`` is set, the path is a value the
    task file gave (the field names it)."""
    try:
        return read_capped(path, limit=MAX_FILE_BYTES, allow_pipe=allow_pipe)
    except ReadRefused as exc:
        raise TaskFileError(source, f"{what} {exc}".strip(), field=field) from None
    except FileNotFoundError:
        raise TaskFileError(source, "file not found", field=field) from None
    except OSError as exc:
        raise TaskFileError(
            source, f"cannot read the file: {exc.strerror or type(exc).__name__}", field=field
        ) from None


def decode(raw: bytes, source: str) -> str:
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise TaskFileError(source, "the file is UTF-16 encoded; save it as UTF-8")
    if b"\x00" in raw:
        raise TaskFileError(source, "this is a binary file (it contains NUL bytes), not a YAML task file")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise TaskFileError(
            source, f"not valid UTF-8 text (at byte offset {exc.start}); save the file as UTF-8", field=f"line {line}"
        ) from None


_QUOTED = re.compile(r""" ?(?:'((?:[^'\\]|\\.)*)'|"((?:[^"\\]|\\.)*)")""")
_SYNTAX = re.compile(r"<[a-z ]+>|\W|\\[a-z]")
"""What PyYAML quotes that is safe to repeat: a token's name (``'<block end>'``), one
punctuation character (``'@'``) or an escape (``'\\t'``); anything else it quotes (a tag, an
alias, a character of a word) is the file's text."""


def _without_text(problem: str) -> str:
    """PyYAML's wording with any quoted text of the file left out (never the snippet either:
    only the problem, the context and their line and column are used)."""
    return _QUOTED.sub(lambda m: m.group(0) if _SYNTAX.fullmatch(m.group(1) or m.group(2) or "") else "", problem)


def yaml_error(exc: yaml.YAMLError, text: str, source: str) -> TaskFileError:
    if isinstance(exc, yaml.MarkedYAMLError) and exc.problem_mark is not None:
        mark = exc.problem_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}"
        problem = _without_text(exc.problem or "cannot parse")
        if "'\\t'" in problem:
            problem += " (indent with spaces, not tabs)"
        ctx_mark = exc.context_mark
        if exc.context and ctx_mark is not None and (ctx_mark.line, ctx_mark.column) != (mark.line, mark.column):
            problem += f" ({_without_text(exc.context)} at line {ctx_mark.line + 1}, column {ctx_mark.column + 1})"
        return TaskFileError(source, f"invalid YAML: {problem}", field=where)
    if isinstance(exc, yaml.reader.ReaderError):
        line = text[: exc.position].count("\n") + 1
        return TaskFileError(
            source,
            f"invalid YAML: unacceptable character #x{exc.character:04x} (control characters are not allowed)",
            field=f"line {line}",
        )
    return TaskFileError(source, f"invalid YAML ({type(exc).__name__})")  # str(exc) may quote the file


# --- output.schema (a JSON schema inline, or the path of a file holding one) ---------------


class SchemaProblem(ValueError):
    """``output.schema`` is not usable; ``at`` is the path inside the schema (``properties.x.type``)."""

    def __init__(self, message: str, at: str = "") -> None:
        super().__init__(message)
        self.at = at


def output_schema(value: object, base_dir: Path | None) -> dict[str, Any] | None:
    """The schema ``value`` stands for (read from its file when it is a path), checked against
    the JSON Schema metaschema its ``$schema`` names (draft 2020-12 by default). Raises
    :class:`SchemaProblem`."""
    if value is None:
        return None
    origin = ""
    if isinstance(value, str):
        path = _schema_path(value, base_dir)
        value, origin = _read_schema_file(path), " (in the schema file)"
    if not isinstance(value, dict):
        raise SchemaProblem(f"must be a JSON schema (a mapping) or the path of a file that holds one{origin}")
    try:  # JSON values only (YAML dates become strings; a number too long to read is refused)
        schema: dict[str, Any] = orjson.loads(orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS))
    except TypeError:
        raise SchemaProblem(f"must hold only JSON values (a number is too long to read){origin}") from None
    from jsonschema import Draft202012Validator, SchemaError
    from jsonschema.validators import validator_for

    try:
        validator_for(schema, default=Draft202012Validator).check_schema(schema)
    except SchemaError as exc:
        where = ".".join(str(p) for p in exc.absolute_path)
        # the metaschema's rule, never jsonschema's message: that quotes the schema's values (#20.3)
        rule = f"fails the metaschema's {exc.validator!r} rule"
        raise SchemaProblem(f"not a valid JSON schema ({rule}){origin}", at=where) from None
    return schema


def _schema_path(text: str, base_dir: Path | None) -> Path:
    if not text.strip():
        raise SchemaProblem("must be a JSON schema (a mapping) or the path of a file that holds one (got '')")
    path = Path(text).expanduser()
    if base_dir is not None and not path.is_absolute():
        path = base_dir / path
    return path.absolute()


def _read_schema_file(path: Path) -> Any:
    try:
        raw = read_capped(path)
    except ReadRefused as exc:
        raise SchemaProblem(f"the schema file {exc}") from None
    except FileNotFoundError:
        raise SchemaProblem("schema file not found (a path is relative to the task file's folder)") from None
    except OSError as exc:
        raise SchemaProblem(f"cannot read the schema file: {exc.strerror or type(exc).__name__}") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise SchemaProblem("the schema file is not UTF-8 text") from None
    try:
        return parse_yaml(text)  # JSON is YAML: one reader for both, with the task file's limits
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        raise SchemaProblem(f"the schema file is not JSON or YAML{where}") from None
