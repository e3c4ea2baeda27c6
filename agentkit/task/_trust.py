"""Where agentkit takes task and config files from: never a place sandboxed code can write.

A run's work dir is the python tool's ``/work``: whatever code the model wrote can put a file
there, or a link. A task file names commands agentkit starts on the host (``mcp: [{command:
...}]``), so a task file from a work dir would let the sandbox run a host command. The rule
is one function, :func:`sandbox_writable`, used by every reader of task files
(:func:`agentkit.task.load_task`, ``task: {file: ...}``) and by ``agentkit mcp`` for its
config folder. A path is refused when it, or any link on the way to the file, lies in a
work-dir root (:func:`agentkit.store._location.is_within_work_roots`): a link outside that
points inside, and a link inside (which the sandbox controls) that points outside.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

MAX_LINKS = 40
"""Links followed before giving up (the kernel's own limit); the read then fails with ELOOP."""

REFUSAL = (
    "refused: this path is in (or passes through a link in) a run's work dir, where sandboxed code "
    "writes; agentkit never reads task or config files from there"
)


def sandbox_writable(path: str | Path, stores: Iterable[str | Path | None] = (None,)) -> bool:
    """Whether ``path``, or a link it passes through, lies where sandboxed code writes: a
    work-dir root of any store (its marker file), of one of ``stores`` (``None``: the store the
    environment names) or the ``runs`` folder beside one of them.

    The path is walked one component at a time from the working directory, links followed
    as the kernel does (``..`` after a link goes up from the link's target); every folder a
    component lives in is checked, so neither the link nor its target may lie in a work dir.
    """
    from agentkit.store._location import is_within_work_roots

    locations = list(stores)

    def inside(folder: Path) -> bool:
        return is_within_work_roots(folder, *locations)

    here = Path(os.path.realpath(Path.cwd()))
    pending = list(Path(path).parts)
    if pending and Path(pending[0]).is_absolute():
        here, pending = Path(pending[0]), pending[1:]
    links = 0
    while pending:
        part = pending.pop(0)
        if part in ("", "."):
            continue
        if part == "..":
            here = here.parent
            continue
        if inside(here):
            return True
        step = here / part
        try:
            target = os.readlink(step)
        except OSError:  # not a link (or not there): the walk goes on through it
            here = step
            continue
        links += 1
        if links > MAX_LINKS:
            return False
        parts = list(Path(target).parts)
        if parts and Path(parts[0]).is_absolute():
            here, parts = Path(parts[0]), parts[1:]
        pending[:0] = parts
    return inside(here)
