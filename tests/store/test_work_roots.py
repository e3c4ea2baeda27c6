"""Each store's own work-dir root, the one rendering of a store location for people, and host
writes into a work dir that never follow a link (issue #20, items 2 and 5)."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from agentkit.store._location import (
    WORK_ROOT_MARKER,
    command_location,
    display_location,
    ensure_work_root,
    hide_location_secrets,
    is_within_work_roots,
    work_root,
)
from agentkit.store._workfiles import UnsafeWorkPath, open_dir, write_file

pytest.importorskip("psycopg", reason='psycopg is not installed (pip install "agentkit[postgres]")')

# --- work_root ------------------------------------------------------------------------------------


def test_two_sqlite_stores_in_one_folder_have_their_own_roots(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("AGENTKIT_STORE", raising=False)
    a, b = work_root("a.db"), work_root("b.db")
    assert (a, b) == (tmp_path / "runs" / "a.db", tmp_path / "runs" / "b.db")
    assert work_root(None) == tmp_path / ".agentkit" / "runs" / "agentkit.db"  # the default store
    assert work_root(f"sqlite://{tmp_path}/c.db") == tmp_path / "runs" / "c.db"  # sqlite:///tmp/...
    monkeypatch.setenv("AGENTKIT_STORE", str(tmp_path / "env.db"))
    assert work_root(None) == tmp_path / "runs" / "env.db"


def test_a_postgres_root_names_server_database_and_schema_never_the_password(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with_password = work_root("postgresql://bob:hunter2@db.example:5433/evals?schema=k3")
    assert with_password.parent == tmp_path / ".agentkit" / "runs"
    assert with_password.name.startswith("postgresql-db.example-5433-evals-k3-")
    assert "hunter2" not in str(with_password) and "bob" not in str(with_password)
    # the same store whoever logs in, and however the password is given
    assert work_root("postgres://alice@db.example:5433/evals?schema=k3") == with_password
    assert work_root("postgresql://bob@db.example:5433/evals?schema=k3&password=hunter2") == with_password
    # another schema, database or server is another store
    others = {
        work_root("postgresql://bob:hunter2@db.example:5433/evals"),
        work_root("postgresql://bob:hunter2@db.example:5433/evals2?schema=k3"),
        work_root("postgresql://bob:hunter2@db2.example:5433/evals?schema=k3"),
    }
    assert with_password not in others and len(others) == 3


def test_memory_and_other_schemes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert work_root(":memory:") == tmp_path / ".agentkit" / "runs" / f"memory-{os.getpid()}"
    custom = work_root("mystore://u:pw@host/x")
    assert custom.parent == tmp_path / ".agentkit" / "runs" and re.fullmatch(r"mystore-[0-9a-f]{8}", custom.name)
    assert work_root("mystore://u@host/x") == custom  # the password is no part of the identity


def test_ensure_work_root_marks_it_and_paths_below_are_recognised(tmp_path: Path) -> None:
    root = ensure_work_root(tmp_path / "s.db")
    assert root == tmp_path / "runs" / "s.db" and (root / WORK_ROOT_MARKER).is_file()
    assert "sandboxed code" in (root / WORK_ROOT_MARKER).read_text()
    assert ensure_work_root(tmp_path / "s.db") == root  # again: nothing changes
    planted = root / "0123456789abcdef" / "task.yaml"
    planted.parent.mkdir()
    planted.write_text("task: x\nsandbox: {isolation: none}\n")
    assert is_within_work_roots(planted)  # any store's root, found by its marker
    assert is_within_work_roots(root)
    outside = tmp_path / "task.yaml"
    outside.write_text("task: y\n")
    assert not is_within_work_roots(outside)
    # a link from outside into a root is where it points
    link = tmp_path / "innocent.yaml"
    link.symlink_to(planted)
    assert is_within_work_roots(link)


def test_roots_of_named_stores_and_the_old_shared_folder_count_without_a_marker(tmp_path: Path) -> None:
    old = tmp_path / "runs" / "0123456789ab" / "task.yaml"  # an older version's <store dir>/runs/<run id>
    old.parent.mkdir(parents=True)
    old.write_text("task: x\n")
    assert not is_within_work_roots(old)
    assert is_within_work_roots(old, tmp_path / "agentkit.db")
    assert not is_within_work_roots(old, tmp_path / "elsewhere" / "agentkit.db", "nosuch://x")


# --- a store location for people -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("location", "shown", "command", "hidden"),
    [
        ("/tmp/a:b@c.db", "/tmp/a:b@c.db", "/tmp/a:b@c.db", False),
        ("postgresql://db.example/x", "postgresql://db.example/x", "postgresql://db.example/x", False),
        ("postgresql://bob@db.example/x", "postgresql://bob@db.example/x", "postgresql://bob@db.example/x", False),
        (
            "postgresql://bob:hunter2@db.example:5433/x?schema=s",
            "postgresql://bob:***@db.example:5433/x?schema=s",
            "postgresql://bob@db.example:5433/x?schema=s",
            True,
        ),
        (
            "postgresql://db.example/x?user=bob&password=hunter2&schema=s",
            "postgresql://db.example/x?user=bob&password=***&schema=s",
            "postgresql://db.example/x?user=bob&schema=s",
            True,
        ),
        (
            "postgresql://bob:p%40ss@db.example/x?sslpassword=key2",
            "postgresql://bob:***@db.example/x?sslpassword=***",
            "postgresql://bob@db.example/x",
            True,
        ),
    ],
)
def test_a_location_is_shown_and_repeated_without_its_password(
    location: str, shown: str, command: str, hidden: bool
) -> None:
    assert display_location(location) == shown
    assert command_location(location) == (command, hidden)


def test_an_error_text_loses_the_locations_password_as_written_and_decoded() -> None:
    url = "postgresql://bob:p%40ss@db.example/x?password=other"
    text = f"cannot connect to {url}: password p@ss rejected (also other)"
    hidden = hide_location_secrets(text, url)
    assert "p%40ss" not in hidden and "p@ss" not in hidden and "other" not in hidden
    assert hide_location_secrets("nothing to hide", "/tmp/s.db") == "nothing to hide"


# --- host writes into a work dir -----------------------------------------------------------------


def test_write_file_replaces_a_planted_link_instead_of_following_it(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "run").mkdir(parents=True)
    host = tmp_path / "host.txt"
    host.write_text("host\n")
    (root / "run" / "data.txt").symlink_to(host)
    source = tmp_path / "attachment.txt"
    source.write_text("attached\n")
    os.umask(umask := os.umask(0o077))  # even under a strict umask the sandbox's user can read it
    try:
        written = write_file(root, "run/data.txt", source)
    finally:
        os.umask(umask)
    assert written == root / "run" / "data.txt"
    assert host.read_text() == "host\n"
    assert not written.is_symlink() and written.read_text() == "attached\n"
    assert written.stat().st_mode & 0o777 == 0o644
    assert sorted(p.name for p in (root / "run").iterdir()) == ["data.txt"]  # no temporary file left


def test_write_file_creates_missing_dirs_and_refuses_a_linked_dir(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    assert write_file(root, "new/deeper/f.bin", b"\x00\x01").read_bytes() == b"\x00\x01"
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (root / "run").symlink_to(elsewhere, target_is_directory=True)
    with pytest.raises(UnsafeWorkPath, match="is a link or not a directory"):
        write_file(root, "run/data.txt", b"x")
    (root / "ok").mkdir()
    (root / "ok" / "sub").symlink_to(elsewhere, target_is_directory=True)
    with pytest.raises(UnsafeWorkPath):
        write_file(root, "ok/sub/data.txt", b"x")
    assert list(elsewhere.iterdir()) == []
    (root / "ok" / "taken").mkdir()
    with pytest.raises(UnsafeWorkPath, match="is a directory"):
        write_file(root, "ok/taken", b"x")


@pytest.mark.parametrize("bad", ["", ".", "/etc/passwd", "../x", "a/../../x", "a/.."])
def test_only_paths_inside_the_root(tmp_path: Path, bad: str) -> None:
    with pytest.raises(ValueError, match="not a path inside a work dir"):
        write_file(tmp_path, bad, b"x")


def test_open_dir_never_follows_a_link_below_the_root(tmp_path: Path) -> None:
    (tmp_path / "real").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "real", target_is_directory=True)
    fd = open_dir(tmp_path, "real", create=False)
    os.close(fd)
    with pytest.raises(UnsafeWorkPath):
        open_dir(tmp_path, "link", create=False)
