"""Helpers shared by the sandbox tests."""

from __future__ import annotations

import os

import pytest

from agentkit.sandbox import probe_bwrap

requires_bwrap = pytest.mark.usefixtures("require_isolation")
"""The test needs a real sandbox: skipped where none is possible, but FAILS when ``CI`` is set
(a CI machine that cannot isolate must not pass the containment battery by skipping it)."""


def check_isolation() -> None:
    status = probe_bwrap()
    if status.available:
        return
    message = f"no sandbox is possible here: {status.reason}"
    if os.environ.get("CI"):
        pytest.fail(f"CI is set and {message}", pytrace=False)
    pytest.skip(message)


def sandbox_processes() -> list[int]:
    """Pids of live processes started for sandboxed kernels (their command lines name the
    private connection dir)."""
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as fh:
                cmd = fh.read()
            with open(f"/proc/{entry}/stat") as fh:
                state = fh.read().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if b"agentkit-k-" in cmd and state != "Z":
            pids.append(int(entry))
    return pids
