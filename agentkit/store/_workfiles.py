"""Files the host writes into a run's work dir, where sandboxed code writes too.

Below a store's work-dir root (:func:`agentkit.store._location.work_root`) everything may have
been made by the sandbox, which can swap any name for a link (to ``~/.bashrc``, say) or a
directory between two host operations. So the host never resolves a path there by name:

- each directory below the root is opened relative to the one above it (``dir_fd``) with
  ``O_NOFOLLOW | O_DIRECTORY``: a link on the way is refused (:class:`UnsafeWorkPath`), never
  followed, and a missing directory is created first;
- a file is written under a fresh name (``O_CREAT | O_EXCL | O_NOFOLLOW``) and renamed over
  whatever had its name: a planted link is replaced, never written through.

Checking with ``lstat`` and then opening by path would leave a window between the check and
the use; descriptors leave none. The root itself is the host's (its parents are the user's
folders, which may be links the user made) and is opened as given.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import shutil
from pathlib import Path, PurePosixPath


class UnsafeWorkPath(OSError):
    """A host write into a work dir met a link or another kind of file where a directory or a
    file of its own should be; nothing was written through it."""


def _parts(rel: str | PurePosixPath) -> list[str]:
    path = PurePosixPath(rel)
    parts = list(path.parts)
    if path.is_absolute() or not parts or any(p in ("", ".", "..") or "\0" in p for p in parts):
        raise ValueError(f"not a path inside a work dir: {str(rel)!r}")
    return parts


def open_dir(root: Path, rel: str | PurePosixPath = ".", *, create: bool = True) -> int:
    """A descriptor of the directory ``root/rel``, each part below ``root`` opened without
    following links (and created, 0o755, when missing and ``create``). The caller closes it."""
    parts = [] if str(rel) in ("", ".") else _parts(rel)
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        for part in parts:
            if create:
                with contextlib.suppress(FileExistsError):
                    os.mkdir(part, 0o755, dir_fd=fd)
            try:
                below = os.open(part, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=fd)
            except OSError as exc:
                if exc.errno in (errno.ELOOP, errno.ENOTDIR):
                    raise UnsafeWorkPath(
                        exc.errno, f"{part!r} in {root} is a link or not a directory: refusing to write through it"
                    ) from None
                raise
            os.close(fd)
            fd = below
    except BaseException:
        os.close(fd)
        raise
    return fd


def write_file(root: Path, rel: str | PurePosixPath, data: bytes | Path, *, mode: int = 0o644) -> Path:
    """Write ``data`` (bytes, or the contents of the host file ``data``) as ``root/rel``: a new
    file (``mode``, whatever the umask: sandboxed code runs as another user and reads it),
    renamed over whatever had the name. Raises :class:`UnsafeWorkPath` when a directory on the
    way is a link, or the name is taken by a directory."""
    *dirs, name = _parts(rel)
    dir_fd = open_dir(root, PurePosixPath(*dirs) if dirs else ".")
    try:
        tmp = f".{name}.{secrets.token_hex(8)}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, mode, dir_fd=dir_fd)
        try:
            os.fchmod(fd, mode)
            with os.fdopen(fd, "wb") as out:
                if isinstance(data, Path):
                    with data.open("rb") as source:
                        shutil.copyfileobj(source, out)
                else:
                    out.write(data)
            try:
                os.replace(tmp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
            except IsADirectoryError:
                raise UnsafeWorkPath(errno.EISDIR, f"{name!r} in {root / Path(*dirs)} is a directory") from None
            except OSError as exc:
                if exc.errno not in (errno.ENOTEMPTY, errno.EEXIST):
                    raise
                raise UnsafeWorkPath(exc.errno, f"{name!r} in {root / Path(*dirs)} is a directory") from None
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp, dir_fd=dir_fd)
            raise
    finally:
        os.close(dir_fd)
    return root.joinpath(*dirs, name)


__all__ = ["UnsafeWorkPath", "open_dir", "write_file"]
