"""Readers for each suite layout: the file's bytes to plain task dicts, with every mistake a
:class:`SuiteError` naming the file, the line (or data row) and the field."""

from __future__ import annotations

import ast
import base64
import binascii
import csv
import hashlib
import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import orjson

from agentkit.eval._suite_errors import SuiteError
from agentkit.eval._tolerance import check_tolerance

LayoutName = Literal["jsonl", "simpleqa", "browsecomp", "frames", "gaia"]
GRADERS = ("exact", "number", "judge")
JSONL_FIELDS = ("id", "question", "answer", "grader", "tolerance", "files")
GAIA_FIELDS = ("task_id", "Question", "Final answer", "file_name")


@dataclass
class RawSuite:
    path: Path
    """The suite file, absolute and resolved."""
    folder: Path
    """Its folder: attached files must lie inside it."""
    layout: LayoutName
    data: bytes
    tasks: list[dict[str, Any]] = field(default_factory=list)


def read_suite(path: Path) -> RawSuite:
    """Read the suite at ``path`` (a file, or a folder holding GAIA's ``metadata.jsonl``)."""
    path = path.expanduser()
    if path.is_dir():
        if not (path / "metadata.jsonl").is_file():
            raise SuiteError(f"{path}: a folder is read as a GAIA suite, but it holds no metadata.jsonl")
        path = path / "metadata.jsonl"
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise SuiteError(f"{path}: no such suite file") from None
    except OSError as exc:
        raise SuiteError(f"{path}: cannot read the suite file: {exc.strerror or exc}") from None
    path = path.resolve()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise SuiteError(f"{path}:{line}: not UTF-8 text (bad byte at offset {exc.start})") from None
    if not text.strip():
        raise SuiteError(f"{path}: the suite is empty")
    suite = RawSuite(path=path, folder=path.parent, layout="jsonl", data=data)
    if text.lstrip().startswith(("{", "[")):
        _read_json_lines(suite, text)
    else:
        _read_table(suite, text)
    if not suite.tasks:
        raise SuiteError(f"{path}: the suite has no tasks")
    _check_unique_ids(suite)
    return suite


# --- JSON lines: agentkit's own layout and GAIA's metadata.jsonl -------------------------------


def _json_lines(path: Path, text: str) -> Iterator[tuple[int, dict[str, Any]]]:
    # Split on "\n" only: JSON strings may hold U+2028 and other characters str.splitlines breaks on.
    for number, line in enumerate(text.split("\n"), 1):
        if not line.strip():
            continue
        try:
            value = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            raise SuiteError(f"{path}:{number}: not valid JSON: {exc}") from None
        if not isinstance(value, dict):
            raise SuiteError(
                f"{path}:{number}: expected one JSON object a line, got {type(value).__name__} "
                "(a suite is JSON lines, not one JSON document)"
            )
        yield number, value


def _read_json_lines(suite: RawSuite, text: str) -> None:
    for number, obj in _json_lines(suite.path, text):
        where = f"{suite.path}:{number}"
        if not suite.tasks:
            suite.layout = "gaia" if "task_id" in obj and "Question" in obj else "jsonl"
        task = _gaia_task(suite, obj, where) if suite.layout == "gaia" else _jsonl_task(suite, obj, where)
        task["_where"] = where
        suite.tasks.append(task)


def _jsonl_task(suite: RawSuite, obj: dict[str, Any], where: str) -> dict[str, Any]:
    for name in ("id", "question", "answer"):
        if name not in obj:
            raise SuiteError(f"{where}: missing field {name!r} (a suite line needs id, question and answer)")
    grader = obj.get("grader")
    if grader is not None and grader not in GRADERS:
        raise SuiteError(f"{where}: grader: must be one of {', '.join(GRADERS)} (got {grader!r})")
    tolerance = obj.get("tolerance")
    if tolerance is not None:
        if grader in ("exact", "judge"):
            raise SuiteError(f"{where}: tolerance: applies to the number grader, but this task's grader is {grader}")
        try:
            tolerance = check_tolerance(tolerance)
        except ValueError as exc:
            raise SuiteError(f"{where}: tolerance: {exc}") from None
    files = obj.get("files", [])
    if not isinstance(files, list) or not all(isinstance(f, str) for f in files):
        raise SuiteError(f"{where}: files: must be a list of paths relative to the suite file (got {files!r})")
    metadata = {k: v for k, v in obj.items() if k not in JSONL_FIELDS and k != "metadata"}
    extra = obj.get("metadata")
    if isinstance(extra, dict):
        metadata.update(extra)
    elif extra is not None:
        metadata["metadata"] = extra
    return {
        "id": _id(obj["id"], where, "id"),
        "question": _text(obj["question"], where, "question"),
        "answer": _answer(obj["answer"], where, "answer"),
        "grader": grader,
        "tolerance": tolerance,
        "files": [_attached(suite.folder, f, where, "files") for f in files],
        "metadata": metadata,
    }


def _gaia_task(suite: RawSuite, obj: dict[str, Any], where: str) -> dict[str, Any]:
    for name in ("task_id", "Question", "Final answer"):
        if name not in obj:
            raise SuiteError(f"{where}: missing field {name!r} (a GAIA metadata.jsonl line)")
    file_name = obj.get("file_name") or ""
    if not isinstance(file_name, str):
        raise SuiteError(f"{where}: file_name: must be a file name (got {file_name!r})")
    metadata = {k: v for k, v in obj.items() if k not in GAIA_FIELDS}
    if file_name:
        metadata["file_name"] = file_name
    return {
        "id": _id(obj["task_id"], where, "task_id"),
        "question": _text(obj["Question"], where, "Question"),
        "answer": _answer(obj["Final answer"], where, "Final answer"),
        "files": [_attached(suite.folder, file_name, where, "file_name")] if file_name else [],
        "metadata": metadata,
    }


# --- CSV / TSV: SimpleQA, BrowseComp, FRAMES ----------------------------------------------------

TABLES: dict[LayoutName, tuple[str, ...]] = {
    # Checked in this order: BrowseComp's columns include SimpleQA's problem and answer.
    "browsecomp": ("problem", "answer", "canary"),
    "simpleqa": ("metadata", "problem", "answer"),
    "frames": ("Prompt", "Answer"),
}


def _table_layout(columns: list[str]) -> LayoutName | None:
    return next((name for name, needed in TABLES.items() if set(needed) <= set(columns)), None)


def _read_table(suite: RawSuite, text: str) -> None:
    header_line = text.split("\n", 1)[0]
    delimiter, layout, columns = ",", None, []
    for delimiter in (",", "\t"):
        columns = [c.strip() for c in next(csv.reader([header_line], delimiter=delimiter))]
        layout = _table_layout(columns)
        if layout is not None:
            break
    if layout is None:
        delimiter = "\t" if "\t" in header_line else ","
        columns = [c.strip() for c in next(csv.reader([header_line], delimiter=delimiter))]
        raise SuiteError(
            f"{suite.path}:1: unknown suite layout, columns {columns}. Expected JSON lines with id, question "
            "and answer, or a published layout's columns: SimpleQA (metadata, problem, answer), "
            "BrowseComp (problem, answer, canary), FRAMES (Prompt, Answer)"
        )
    suite.layout = layout
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    make = _TABLE_TASK[layout]
    try:
        next(reader)
        index = 0
        for cells in reader:
            if not cells or not any(c.strip() for c in cells):
                continue
            where = f"{suite.path}:{reader.line_num} (row {index})"
            if len(cells) != len(columns):
                raise SuiteError(f"{where}: {len(cells)} fields, but the header has {len(columns)}")
            row = dict(zip(columns, cells, strict=True))
            task = make(row, where)
            task["id"] = str(index)
            task["_where"] = where
            suite.tasks.append(task)
            index += 1
    except csv.Error as exc:
        raise SuiteError(f"{suite.path}:{reader.line_num}: malformed {layout} table: {exc}") from None


def _others(row: dict[str, str], *used: str) -> dict[str, Any]:
    """Columns beyond the used ones, for the task's metadata (pandas' index column dropped)."""
    return {k: v for k, v in row.items() if k not in used and k and not k.startswith("Unnamed:")}


def _simpleqa_task(row: dict[str, str], where: str) -> dict[str, Any]:
    metadata = _others(row, "metadata", "problem", "answer")
    # SimpleQA's metadata column is a Python dict literal: {'topic': ..., 'answer_type': ..., 'urls': [...]}.
    try:
        parsed = ast.literal_eval(row["metadata"]) if row["metadata"].strip() else {}
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        parsed = None
    if isinstance(parsed, dict):
        metadata.update({str(k): v for k, v in parsed.items()})
    else:
        metadata["metadata"] = row["metadata"]
    return {
        "question": _text(row["problem"], where, "problem"),
        "answer": _text(row["answer"], where, "answer"),
        "metadata": metadata,
    }


def derive_key(password: str, length: int) -> bytes:
    """BrowseComp's key: SHA-256 of the password, repeated to ``length`` bytes. As
    openai/simple-evals browsecomp_eval.py ``derive_key`` (MIT licence)."""
    key = hashlib.sha256(password.encode()).digest()
    return key * (length // len(key)) + key[: length % len(key)]


def decrypt(ciphertext_b64: str, password: str) -> str:
    """BrowseComp's cipher: XOR of the base64-decoded text with :func:`derive_key`, as
    openai/simple-evals browsecomp_eval.py ``decrypt``."""
    encrypted = base64.b64decode(ciphertext_b64)
    key = derive_key(password, len(encrypted))
    return bytes(a ^ b for a, b in zip(encrypted, key, strict=True)).decode()


def encrypt(plaintext: str, password: str) -> str:
    """The inverse of :func:`decrypt` (XOR is its own inverse), for writing BrowseComp-layout files."""
    data = plaintext.encode()
    key = derive_key(password, len(data))
    return base64.b64encode(bytes(a ^ b for a, b in zip(data, key, strict=True))).decode()


def _browsecomp_task(row: dict[str, str], where: str) -> dict[str, Any]:
    canary = row["canary"]
    if not canary:
        raise SuiteError(f"{where}: canary: empty (BrowseComp rows are decrypted with their canary)")
    plain: dict[str, str] = {}
    for name in ("problem", "answer"):
        try:
            plain[name] = decrypt(_text(row[name], where, name), canary)
        except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
            raise SuiteError(f"{where}: {name}: cannot be decrypted with the row's canary ({exc})") from None
    return {
        "question": _text(plain["problem"], where, "problem"),
        "answer": _text(plain["answer"], where, "answer"),
        "metadata": _others(row, "problem", "answer", "canary"),
    }


def _frames_task(row: dict[str, str], where: str) -> dict[str, Any]:
    return {
        "question": _text(row["Prompt"], where, "Prompt"),
        "answer": _text(row["Answer"], where, "Answer"),
        "metadata": _others(row, "Prompt", "Answer"),
    }


_TABLE_TASK: dict[LayoutName, Callable[[dict[str, str], str], dict[str, Any]]] = {
    "simpleqa": _simpleqa_task,
    "browsecomp": _browsecomp_task,
    "frames": _frames_task,
}


# --- fields -------------------------------------------------------------------------------------


def _id(value: object, where: str, name: str) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, str) and value.strip():
        return value
    raise SuiteError(f"{where}: {name}: must be a non-empty string or an integer (got {value!r})")


def _text(value: object, where: str, name: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise SuiteError(f"{where}: {name}: must be non-empty text (got {value!r})")
    return value


def _answer(value: object, where: str, name: str) -> str:
    """The expected answer as text; a JSON number is accepted as written (``42``, ``0.5``)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return orjson.dumps(value).decode()
    return _text(value, where, name)


def _attached(folder: Path, name: str, where: str, field_name: str) -> Path:
    """The attached file ``name`` (relative to ``folder``), resolved: it must exist and, once
    symlinks are followed, lie inside ``folder``."""
    if not name.strip() or "\0" in name:
        raise SuiteError(f"{where}: {field_name}: {name!r} is not a file name")
    relative = Path(name)
    if relative.is_absolute():
        raise SuiteError(f"{where}: {field_name}: {name!r} must be relative to the suite's folder {folder}")
    resolved = (folder / relative).resolve()
    if not resolved.is_relative_to(folder):
        raise SuiteError(f"{where}: {field_name}: {name!r} lies outside the suite's folder {folder}")
    if not resolved.is_file():
        raise SuiteError(f"{where}: {field_name}: {name!r}: no such file in {folder}")
    return resolved


def _check_unique_ids(suite: RawSuite) -> None:
    first: dict[str, str] = {}
    for task in suite.tasks:
        where = task.pop("_where")
        if task["id"] in first:
            raise SuiteError(f"{where}: duplicate id {task['id']!r} (first at {first[task['id']]})")
        first[task["id"]] = where
