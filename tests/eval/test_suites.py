"""Suite loading: every layout from its sample file, content hashes, and each malformed case."""

from __future__ import annotations

import base64
import csv
import hashlib
import json
import re
import shutil
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


# --- the sample suites, one per published layout ------------------------------------------------

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "tasks" / "eval"


@pytest.mark.parametrize(
    ("name", "layout", "count", "first_id", "first_answer"),
    [
        ("sample.jsonl", "jsonl", 5, "boiling-point", "212"),
        ("simpleqa_sample.csv", "simpleqa", 4, "0", "W"),
        ("browsecomp_sample.csv", "browsecomp", 3, "0", "Tungsten"),
        ("frames_sample.tsv", "frames", 3, "0", "140"),
        ("gaia", "gaia", 3, "3f2b8c1e-6d4a-4f7b-9e2c-5a1d8b7c6e40", "678.75"),
    ],
)
def test_every_sample_layout_loads(name: str, layout: str, count: int, first_id: str, first_answer: str) -> None:
    suite = load_suite(SAMPLES / name)
    assert (suite.layout, len(suite.tasks)) == (layout, count)
    assert (suite.tasks[0].id, suite.tasks[0].answer) == (first_id, first_answer)
    assert all(t.question.strip() and t.answer.strip() for t in suite.tasks)
    assert len({t.id for t in suite.tasks}) == count


def test_simpleqa_metadata_column_is_read_as_the_dict_it_holds() -> None:
    task = load_suite(SAMPLES / "simpleqa_sample.csv").tasks[1]
    assert task.question == "Under what pen name did Mary Ann Evans publish the novel Middlemarch?"
    assert task.metadata["topic"] == "Art" and task.metadata["answer_type"] == "Person"
    assert task.metadata["urls"] == ["https://en.wikipedia.org/wiki/Middlemarch"]


def reference_encrypt(plaintext: str, canary: str) -> str:
    """The inverse of openai/simple-evals browsecomp_eval.py ``decrypt``, written out here
    independently of agentkit: XOR with SHA-256(canary) repeated, then base64."""
    data = plaintext.encode()
    digest = hashlib.sha256(canary.encode()).digest()
    key = (digest * (len(data) // len(digest) + 1))[: len(data)]
    return base64.b64encode(bytes(a ^ b for a, b in zip(data, key, strict=True))).decode()


def test_browsecomp_rows_are_decrypted_with_their_canary(tmp_path: Path) -> None:
    rows = [("problem", "answer", "problem_topic", "canary")]
    long_question = "Which river flows through the city whose old town " + "is very old " * 10 + "?"  # > 32 bytes
    rows.append((reference_encrypt(long_question, "c1"), reference_encrypt("Vltava", "c1"), "Geography", "c1"))
    rows.append((reference_encrypt("Second?", "other"), reference_encrypt("Ünïcödé", "other"), "Misc", "other"))
    f = tmp_path / "browse_comp_test_set.csv"
    with f.open("w", newline="") as out:
        csv.writer(out).writerows(rows)
    suite = load_suite(f)
    assert suite.layout == "browsecomp"
    assert [(t.question, t.answer) for t in suite.tasks] == [(long_question, "Vltava"), ("Second?", "Ünïcödé")]
    assert suite.tasks[0].metadata == {"problem_topic": "Geography"}  # the canary is not task data


def test_sample_browsecomp_file_decrypts_as_the_reference_does() -> None:
    with (SAMPLES / "browsecomp_sample.csv").open(newline="") as f:
        row = next(csv.DictReader(f))
    assert reference_encrypt("Tungsten", row["canary"]) == row["answer"]


def test_gaia_folder_and_its_metadata_file_are_the_same_suite() -> None:
    folder, file = load_suite(SAMPLES / "gaia"), load_suite(SAMPLES / "gaia" / "metadata.jsonl")
    assert folder == file
    assert folder.name == "gaia" and folder.path == (SAMPLES / "gaia" / "metadata.jsonl").resolve()
    first = folder.tasks[0]
    assert first.files == [(SAMPLES / "gaia" / "3f2b8c1e-6d4a-4f7b-9e2c-5a1d8b7c6e40.csv").resolve()]
    assert first.files[0].is_absolute() and first.files[0].is_file()
    assert first.metadata["Level"] == 1 and "Annotator Metadata" in first.metadata
    assert folder.tasks[1].files == []


def test_frames_reads_tsv_and_csv_alike(tmp_path: Path) -> None:
    tsv = load_suite(SAMPLES / "frames_sample.tsv")
    with (SAMPLES / "frames_sample.tsv").open(newline="") as f:
        rows = list(csv.reader(f, delimiter="\t"))
    as_csv = tmp_path / "frames.csv"
    with as_csv.open("w", newline="") as out:
        csv.writer(out).writerows(rows)
    assert [(t.question, t.answer, t.metadata) for t in load_suite(as_csv).tasks] == [
        (t.question, t.answer, t.metadata) for t in tsv.tasks
    ]
    assert "Unnamed: 0" not in tsv.tasks[0].metadata and "wiki_links" in tsv.tasks[0].metadata


def test_a_quoted_field_may_span_lines(tmp_path: Path) -> None:
    f = write(tmp_path / "qa.csv", 'metadata,problem,answer\n{},"Line one\nline two?",x\n{},Second?,y\n')
    suite = load_suite(f)
    assert [t.question for t in suite.tasks] == ["Line one\nline two?", "Second?"]
    assert [t.id for t in suite.tasks] == ["0", "1"]


def test_a_byte_order_mark_and_windows_line_ends_are_read(tmp_path: Path) -> None:
    csv_file = tmp_path / "qa.csv"
    csv_file.write_bytes(b'\xef\xbb\xbfmetadata,problem,answer\r\n{},"Q1?",A1\r\n{},Q2?,A2\r\n')
    assert [(t.question, t.answer) for t in load_suite(csv_file).tasks] == [("Q1?", "A1"), ("Q2?", "A2")]
    jsonl = tmp_path / "s.jsonl"
    jsonl.write_bytes(b"\xef\xbb\xbf" + GOOD.replace("\n", "\r\n").encode())
    assert [(t.id, t.answer) for t in load_suite(jsonl).tasks] == [("a", "x")]


# --- content hash and limit ---------------------------------------------------------------------


def test_content_hash_is_the_content_not_the_place_or_the_limit(tmp_path: Path) -> None:
    original = SAMPLES / "sample.jsonl"
    copy = tmp_path / "elsewhere.jsonl"
    shutil.copyfile(original, copy)
    full = load_suite(original)
    assert full.content_hash == hashlib.sha256(original.read_bytes()).hexdigest()
    assert load_suite(copy).content_hash == full.content_hash
    limited = load_suite(original, limit=2)
    assert [t.id for t in limited.tasks] == [t.id for t in full.tasks[:2]]
    assert limited.content_hash == full.content_hash
    copy.write_bytes(original.read_bytes().replace(b'"212"', b'"213"'))
    assert load_suite(copy).content_hash != full.content_hash


def test_gaia_content_hash_covers_the_attached_files(tmp_path: Path) -> None:
    folder = tmp_path / "validation"
    shutil.copytree(SAMPLES / "gaia", folder)
    before = load_suite(folder).content_hash
    assert before == load_suite(SAMPLES / "gaia").content_hash
    assert before != hashlib.sha256((folder / "metadata.jsonl").read_bytes()).hexdigest()
    attached = folder / "3f2b8c1e-6d4a-4f7b-9e2c-5a1d8b7c6e40.csv"
    attached.write_text(attached.read_text() + "scone,food,1,3.00\n")
    assert load_suite(folder).content_hash != before


def test_limit_must_be_positive() -> None:
    with pytest.raises(SuiteError, match="limit must be at least 1"):
        load_suite(SAMPLES / "sample.jsonl", limit=0)


# --- malformed suites ---------------------------------------------------------------------------

GOOD = '{"id": "a", "question": "q", "answer": "x"}\n'


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("s.jsonl", GOOD + '{"id": "b", "question": "q", "answer": \n', r"s\.jsonl:2: not valid JSON"),
        ("s.jsonl", GOOD + '["b", "q", "x"]\n', r"s\.jsonl:2: expected one JSON object a line, got list"),
        ("s.jsonl", GOOD + '{"id": "b", "answer": "x"}\n', r"s\.jsonl:2: missing field 'question'"),
        ("s.jsonl", GOOD + "\n" + GOOD, r"s\.jsonl:3: duplicate id 'a' \(first at .*s\.jsonl:1\)"),
        ("s.jsonl", '{"id": "a", "question": "  ", "answer": "x"}\n', r"s\.jsonl:1: question: must be non-empty"),
        ("s.jsonl", '{"id": ["a"], "question": "q", "answer": "x"}\n', r"s\.jsonl:1: id: must be a non-empty"),
        ("s.jsonl", '{"id": "a", "question": "q", "answer": null}\n', r"s\.jsonl:1: answer: must be non-empty"),
        ("s.jsonl", '{"id": "a", "question": "q", "answer": "x", "grader": "fuzzy"}\n', r"grader: must be one of"),
        ("s.jsonl", '{"id": "a", "question": "q", "answer": "x", "files": "f.txt"}\n', r"files: must be a list"),
        ("s.jsonl", "", r"s\.jsonl: the suite is empty"),
        ("s.jsonl", "\n  \n", r"s\.jsonl: the suite is empty"),
        ("qa.csv", "metadata,problem,answer\n", r"qa\.csv: the suite has no tasks"),
        ("qa.csv", "metadata,problem\n{},q\n", r"qa\.csv:1: unknown suite layout, columns \['metadata', 'problem'\]"),
        ("qa.csv", "metadata,problem,answer\n{},q,x\n{},q2\n", r"qa\.csv:3 \(row 1\): 2 fields, but the header has 3"),
        ("qa.csv", "metadata,problem,answer\n{},q,\n", r"qa\.csv:2 \(row 0\): answer: must be non-empty"),
        ("f.tsv", "Prompt\tAnswer\n\tx\n", r"f\.tsv:2 \(row 0\): Prompt: must be non-empty"),
        ("bc.csv", "problem,answer,canary\nabc,abc,key\n", r"bc\.csv:2 \(row 0\): problem: cannot be decrypted"),
        ("bc.csv", "problem,answer,canary\nYWJj,YWJj,\n", r"bc\.csv:2 \(row 0\): canary: empty"),
        (
            "metadata.jsonl",
            '{"task_id": "t1", "Question": "q", "file_name": ""}\n',
            r"metadata\.jsonl:1: missing field 'Final answer' \(a GAIA metadata\.jsonl line\)",
        ),
    ],
)
def test_malformed_suites_name_the_line_and_field(tmp_path: Path, name: str, text: str, message: str) -> None:
    with pytest.raises(SuiteError, match=message):
        load_suite(write(tmp_path / name, text))


def test_a_row_encrypted_with_another_canary_is_refused(tmp_path: Path) -> None:
    wrong = reference_encrypt("What is the tallest mountain on Earth, above sea level?", "right")
    f = tmp_path / "bc.csv"
    with f.open("w", newline="") as out:
        csv.writer(out).writerows([("problem", "answer", "canary"), (wrong, reference_encrypt("x", "right"), "wrong")])
    with pytest.raises(SuiteError, match=r"bc\.csv:2 \(row 0\): problem: cannot be decrypted with the row's canary"):
        load_suite(f)


def test_unreadable_suites(tmp_path: Path) -> None:
    with pytest.raises(SuiteError, match=r"missing\.jsonl: no such suite file"):
        load_suite(tmp_path / "missing.jsonl")
    with pytest.raises(SuiteError, match=r"holds no metadata\.jsonl"):
        load_suite(tmp_path)
    latin1 = tmp_path / "latin1.jsonl"
    latin1.write_bytes((GOOD + '{"id": "b", "question": "café?", "answer": "x"}\n').encode("latin-1"))
    with pytest.raises(SuiteError, match=r"latin1\.jsonl:2: not UTF-8 text \(bad byte at offset 72\)"):
        load_suite(latin1)


def test_attached_files_must_stay_inside_the_suite_folder(tmp_path: Path) -> None:
    folder = tmp_path / "suite"
    folder.mkdir()
    secret = write(tmp_path / "secret.txt", "outside")
    (folder / "inside.txt").write_text("ok")
    (folder / "link.txt").symlink_to(secret)
    (folder / "sub").mkdir()
    (folder / "sub" / "dir-link").symlink_to(tmp_path, target_is_directory=True)

    def attach(*files: str) -> Path:
        line = {"id": "a", "question": "q", "answer": "x", "files": list(files)}
        return write(folder / "s.jsonl", json.dumps(line) + "\n")

    assert load_suite(attach("inside.txt", "sub/../inside.txt")).tasks[0].files == [(folder / "inside.txt")] * 2
    cases = {
        "../secret.txt": "'../secret.txt' lies outside the suite's folder",
        "link.txt": "'link.txt' lies outside the suite's folder",
        "sub/dir-link/secret.txt": "'sub/dir-link/secret.txt' lies outside the suite's folder",
        str(secret): f"{str(secret)!r} must be relative to the suite's folder",
        "nope.txt": "'nope.txt': no such file in",
        "sub": "'sub': no such file in",
        "": "'' is not a file name",
    }
    for name, message in cases.items():
        with pytest.raises(SuiteError, match=re.escape("s.jsonl:1: files: " + message)):
            load_suite(attach(name))


def test_a_gaia_file_name_escaping_the_folder_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "gaia"
    folder.mkdir()
    write(tmp_path / "outside.csv", "a,b\n")
    line = {"task_id": "t1", "Question": "q", "Final answer": "1", "file_name": "../outside.csv"}
    write(folder / "metadata.jsonl", json.dumps(line) + "\n")
    with pytest.raises(SuiteError, match=r"metadata\.jsonl:1: file_name: '\.\./outside\.csv' lies outside"):
        load_suite(folder)
