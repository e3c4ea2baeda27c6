from __future__ import annotations

import os
import signal
from collections.abc import Generator
from typing import Any

import pytest

# No test may depend on a real key, and none may leak one.
for _name in list(os.environ):
    if _name.endswith("_API_KEY") or _name in ("COMETAPI_KEY",):
        os.environ.pop(_name)


# Tests send Ctrl-C (SIGINT) to the CLI in child processes. A shell that started this run in
# the background (`pytest ... &`, a CI step) leaves SIGINT ignored, and an ignored signal stays
# ignored across exec: every child would then ignore Ctrl-C, as POSIX asks of programs started
# that way. Handled again here, a child starts with the default and Python's own handler.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


NOT_APPLICABLE = "not applicable"
"""A skip reason containing this is a test that cannot apply to the case (e.g. reopening an
in-memory store). Every other skip is a missing part of the machine (bwrap, Chromium,
PostgreSQL), which CI installs: there it is a failure, so a broken install cannot pass."""


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, Any, None]:
    outcome = yield
    report: pytest.TestReport = outcome.get_result()
    if not os.environ.get("CI") or not report.skipped or hasattr(report, "wasxfail"):
        return
    reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
    if NOT_APPLICABLE not in reason:
        report.outcome = "failed"
        report.longrepr = f"skipped in CI, where every part the tests need is installed: {reason}"


# A real throwaway PostgreSQL cluster per session; `postgres_url` is a new database per test.
# A loopback web server of numbered pages (`pages`), for runs that fetch.
from _pages import pages  # noqa: E402, F401
from _postgres import postgres_server, postgres_url  # noqa: E402, F401
