"""Sandboxed Python: Jupyter kernels inside bubblewrap, with resource limits and a warm pool.

See DESIGN.md, "Sandbox". Where bubblewrap is missing or cannot create namespaces, kernels
run with resource limits only, and the pool says so loudly (a logged warning, and
``KernelPool.fallback_reason`` for callers to pass on to the model).
"""

from agentkit.sandbox._config import SANDBOX_GID, SANDBOX_UID, SANDBOX_WORKDIR, SandboxConfig, is_secret, kernel_env
from agentkit.sandbox._kernel import ExecutionResult, SandboxError, SandboxKernel
from agentkit.sandbox._launch import BwrapStatus, probe_bwrap
from agentkit.sandbox._output import CellOutput, ErrorInfo
from agentkit.sandbox._pool import KernelPool

__all__ = [
    "SANDBOX_GID",
    "SANDBOX_UID",
    "SANDBOX_WORKDIR",
    "BwrapStatus",
    "CellOutput",
    "ErrorInfo",
    "ExecutionResult",
    "KernelPool",
    "SandboxConfig",
    "SandboxError",
    "SandboxKernel",
    "is_secret",
    "kernel_env",
    "probe_bwrap",
]
