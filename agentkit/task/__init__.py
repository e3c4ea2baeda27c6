"""The task file: its typed sections (``sections``, and ``mcp_servers`` for ``mcp:``), YAML
reading with path-precise errors (``_read``) and the ``Task`` a run starts from. Imports: the
vocabulary, ``_redact``, ``llm.profiles``.

``sections``, ``mcp_servers`` and ``_read`` sit at the bottom (every layer validates with them); ``Task`` also
reads the provider profiles. Names are loaded on first use, so a tool importing a section
does not load the profiles.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from agentkit.task._task import EVAL_TASK as EVAL_TASK
    from agentkit.task._task import EvalSpec as EvalSpec
    from agentkit.task._task import ModelSpec as ModelSpec
    from agentkit.task._task import Task as Task
    from agentkit.task._task import TaskFileError as TaskFileError
    from agentkit.task._task import load_task as load_task

__all__ = ["EVAL_TASK", "EvalSpec", "ModelSpec", "Task", "TaskFileError", "load_task"]


def __getattr__(name: str) -> Any:
    """The task module's public names (and the sections it re-exports), loaded on first use."""
    if not name.startswith("_"):
        module = importlib.import_module("agentkit.task._task")
        if hasattr(module, name):
            return getattr(module, name)
    raise AttributeError(f"module 'agentkit.task' has no attribute {name!r}")
