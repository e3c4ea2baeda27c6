"""Suite loading: every layout from its sample file, content hashes, and each malformed case."""

from __future__ import annotations

from pathlib import Path

import pytest

from agentkit.eval import SuiteError, load_suite


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_jsonl_suite_loads_with_grader_files_and_metadata(tmp_path: Path) -> None:
    write(tmp_path / "notes.txt", "attached")
    suite_file = write(
        tmp_path / "mine.jsonl",
        '{"id": "a", "question": "2+2?", "answer": 4}\n'
        "\n"
        '{"id": 7, "question": "Capital of France?", "answer": "Paris", "grader": "judge", '
        '"files": ["notes.txt"], "level": 2}\n',
    )
    suite = load_suite(suite_file)
    assert (suite.name, suite.layout, suite.path) == ("mine", "jsonl", suite_file.resolve())
    first, second = suite.tasks
    assert (first.id, first.answer, first.grader, first.files) == ("a", "4", None, [])
    assert (second.id, second.grader, second.metadata) == ("7", "judge", {"level": 2})
    assert second.files == [(tmp_path / "notes.txt").resolve()]
    assert len(suite.content_hash) == 64


def test_missing_answer_names_the_line_and_field(tmp_path: Path) -> None:
    f = write(tmp_path / "s.jsonl", '{"id": "a", "question": "q", "answer": "x"}\n{"id": "b", "question": "q"}\n')
    with pytest.raises(SuiteError, match=r"s\.jsonl:2: missing field 'answer'"):
        load_suite(f)
