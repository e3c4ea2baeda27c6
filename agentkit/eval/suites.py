"""Evaluation suites: a file of questions with known answers, in agentkit's JSONL or a
published benchmark's own layout, loaded into one validated :class:`Suite`.

Layouts are told apart by their columns (keys), not by the file's name:

- ``jsonl``: one JSON object a line with ``id``, ``question``, ``answer`` (+ optional
  ``grader``: exact|number|judge, ``tolerance``: the ``number`` grader's relative tolerance,
  ``files``: paths relative to the suite file; any other key goes to the task's ``metadata``).
- ``simpleqa``: OpenAI's SimpleQA CSV (``metadata``, ``problem``, ``answer``).
- ``browsecomp``: OpenAI's BrowseComp CSV, encrypted (``problem``, ``answer``, ``canary``);
  decrypted as its reference code does.
- ``frames``: Google's FRAMES benchmark (``Prompt``, ``Answer``), TSV or CSV.
- ``gaia``: GAIA's ``metadata.jsonl`` (``task_id``, ``Question``, ``Final answer``,
  ``file_name``; the attached file lies beside it). A folder holding ``metadata.jsonl`` is
  read as that file.

CSV/TSV layouts have no id column; a task's id is its data row's index (0-based, as pandas
numbers the rows the reference code iterates). Every mistake raises :class:`SuiteError`,
whose text is one complete message naming the file, the line (or row) and the field.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from agentkit.eval._suite_errors import SuiteError
from agentkit.eval._suite_layouts import RawSuite, read_suite
from agentkit.eval._tolerance import MAX_TOLERANCE

Layout = Literal["jsonl", "simpleqa", "browsecomp", "frames", "gaia"]
GraderName = Literal["exact", "number", "judge"]


class SuiteTask(BaseModel):
    """One question of a suite and its expected answer."""

    model_config = ConfigDict(frozen=True)

    id: str
    question: str
    answer: str
    grader: GraderName | None = None
    """This task's grader, overriding the run's default (``None``: the default)."""
    tolerance: float | None = Field(default=None, ge=0, le=MAX_TOLERANCE, allow_inf_nan=False)
    """The ``number`` grader's relative tolerance for this task (0.01: 1%), overriding the
    eval's (``None``: the eval's, exact by default)."""
    files: list[Path] = Field(default_factory=list)
    """Absolute paths of attached files, each checked to exist inside the suite's folder."""
    metadata: dict[str, Any] = Field(default_factory=dict)


class Suite(BaseModel):
    """A loaded suite. ``content_hash`` is the SHA-256 (hex) of the suite file's bytes and
    of every attached file, the same for the same content whatever ``limit`` was asked."""

    model_config = ConfigDict(frozen=True)

    name: str
    path: Path
    layout: Layout
    tasks: list[SuiteTask]
    content_hash: str

    @property
    def suggested_grader(self) -> GraderName:
        """The grader the benchmark's authors score with: an LLM judge for SimpleQA,
        BrowseComp and FRAMES, GAIA's exact match otherwise."""
        return "judge" if self.layout in ("simpleqa", "browsecomp", "frames") else "exact"

    @property
    def judge_template(self) -> Literal["simpleqa", "browsecomp"]:
        """The published judge prompt that fits this suite (BrowseComp's for BrowseComp,
        SimpleQA's for the rest)."""
        return "browsecomp" if self.layout == "browsecomp" else "simpleqa"


def load_suite(path: str | Path, *, limit: int | None = None) -> Suite:
    """Read and validate the suite at ``path`` (a file, or a GAIA folder holding
    ``metadata.jsonl``); ``limit``: keep only the first ``limit`` tasks (the whole file is
    still validated and hashed, so a limited run resumes into a longer one)."""
    if limit is not None and limit < 1:
        raise SuiteError(f"limit must be at least 1 (got {limit})")
    raw = read_suite(Path(path))
    tasks = [SuiteTask.model_validate(t) for t in raw.tasks]
    return Suite(
        name=_name(raw),
        path=raw.path,
        layout=raw.layout,
        tasks=tasks if limit is None else tasks[:limit],
        content_hash=_content_hash(raw, tasks),
    )


def _name(raw: RawSuite) -> str:
    if raw.layout == "gaia" and raw.path.name == "metadata.jsonl":
        return raw.path.parent.name or raw.path.stem
    return raw.path.stem


def _content_hash(raw: RawSuite, tasks: list[SuiteTask]) -> str:
    """SHA-256 of the suite file's bytes, then of each attached file (path relative to the
    suite's folder and its own SHA-256), in task order."""
    h = hashlib.sha256(raw.data)
    seen: set[Path] = set()
    for task in tasks:
        for file in task.files:
            if file in seen:
                continue
            seen.add(file)
            h.update(b"\0" + str(file.relative_to(raw.folder)).encode() + b"\0")
            h.update(_file_digest(file))
    return h.hexdigest()


def _file_digest(path: Path) -> bytes:
    try:
        with path.open("rb") as f:
            return hashlib.file_digest(f, "sha256").digest()
    except OSError as exc:
        raise SuiteError(f"{path}: cannot read attached file: {exc.strerror or exc}") from exc


__all__ = ["GraderName", "Layout", "Suite", "SuiteError", "SuiteTask", "load_suite"]
