from __future__ import annotations

import os

import pytest

# No test may depend on a real key, and none may leak one.
for _name in list(os.environ):
    if _name.endswith("_API_KEY") or _name in ("COMETAPI_KEY",):
        os.environ.pop(_name)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"
