"""Sandbox settings and the environment a kernel is allowed to see."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

SANDBOX_WORKDIR = "/work"
"""Where the run's work dir appears inside the sandbox (also the kernel's cwd)."""

SANDBOX_UID = 65534
SANDBOX_GID = 65534
"""The ids sandboxed code sees inside a user namespace (started by an ordinary user)."""

ROOT_UID_BASE = 0x7A000000
ROOT_UID_COUNT = 1 << 16
"""Started as root, each sandbox runs as its own host uid (= gid) from this range, so
RLIMIT_NPROC counts one sandbox's processes, not all sandboxes' together. A work dir keeps
the uid it was given, so a restarted or resumed kernel gets the same one back."""

ISOLATION_MODES = ("bwrap", "none")
"""The task file's ``sandbox.isolation`` values; ``bwrap`` is the default."""

_SECRET_NAME = re.compile(
    r"KEY|TOKEN|SECRET|PASSW|PASSPHRASE|CREDENTIAL|AUTH|COOKIE|PRIVATE|SIGNATURE|^PWD$|^OLDPWD$"
    r"|^AWS_|^AZURE_|^GCP_|^GOOGLE_|^GCLOUD_|^GH_|^GITHUB_|^GITLAB_|^HF_|^HUGGING|^OPENAI|^ANTHROPIC"
    r"|^MOONSHOT|^OPENROUTER|^TOGETHER|^COMETAPI|^CHUTES|^DATABASE_URL$|_DSN$|^SSH_|^GPG_|^VAULT_",
    re.IGNORECASE,
)
_CREDENTIAL_URL = re.compile(r"://[^/\s]*@")
_PROXY_VARS = ("HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "no_proxy")
_PASSED_THROUGH = ("LANG", "LC_ALL", "LC_CTYPE", "LC_NUMERIC", "LC_TIME", "LC_COLLATE", "LC_MESSAGES", "TZ")


def is_secret(name: str, value: str = "") -> bool:
    """Whether an environment variable must never reach sandboxed code."""
    return bool(_SECRET_NAME.search(name) or _CREDENTIAL_URL.search(value))


@dataclass(frozen=True)
class SandboxConfig:
    """Limits and options of sandboxed kernels (the task file's ``sandbox:`` section).

    ``memory_mb`` bounds the kernel's address space (RLIMIT_AS); ``max_procs`` the number of
    processes/threads of the sandbox user (RLIMIT_NPROC, enforced because sandboxed code
    never runs as root); ``cpu_s`` the CPU seconds one kernel may use over its life.
    """

    network: bool = False
    memory_mb: int = 2048
    timeout_s: float = 120.0
    cpu_s: int = 3600
    max_procs: int = 256
    file_mb: int = 1024
    tmp_mb: int = 512
    max_open_files: int = 1024
    interrupt_grace_s: float = 5.0
    startup_timeout_s: float = 30.0
    max_output_chars: int = 12_000
    """stdout/stderr of one cell: the first 3/4 and the last 1/4 are kept."""
    max_result_chars: int = 4_000
    max_traceback_chars: int = 6_000
    max_figures: int = 10
    max_figure_bytes: int = 8 * 1024 * 1024
    max_threads: int = 4
    """Upper bound for BLAS/OpenMP thread pools (threads count against ``max_procs``)."""
    extra_env: Mapping[str, str] = field(default_factory=dict)
    """More variables for the kernel; secret-looking names are dropped even here."""
    extra_ro_binds: tuple[str, ...] = ()
    """More host paths made visible read-only at the same place (datasets, models)."""
    isolation: str = "bwrap"
    """``bwrap``: kernels run inside bubblewrap, and where that is impossible Python is refused.
    ``none``: the task opts out; kernels run as the user with resource limits only (loudly)."""
    max_log_bytes: int = 1024 * 1024
    """What the host keeps of the kernel process's own stdout/stderr (``.kernel.log`` in the
    work dir, the previous kernel's in ``.kernel.log.1``): the head and the last quarter."""

    def __post_init__(self) -> None:
        if self.isolation not in ISOLATION_MODES:
            raise ValueError(f"sandbox isolation must be one of {', '.join(ISOLATION_MODES)}, not {self.isolation!r}")
        if self.max_log_bytes < 4096:
            raise ValueError("sandbox max_log_bytes must be at least 4096")
        if self.memory_mb < 256:
            raise ValueError("sandbox memory_mb must be at least 256")
        if self.timeout_s <= 0:
            raise ValueError("sandbox timeout_s must be positive")
        if self.max_procs < 32:
            raise ValueError("sandbox max_procs must be at least 32 (kernel threads count too)")


def kernel_env(config: SandboxConfig, *, home: str, path_dirs: list[str]) -> dict[str, str]:
    """The kernel's whole environment: rebuilt from an allow-list, secrets scrubbed."""
    env: dict[str, str] = {
        "PATH": ":".join(dict.fromkeys([*path_dirs, "/usr/local/bin", "/usr/bin", "/bin"])),
        "HOME": home,
        "TMPDIR": "/tmp",
        "LANG": "C.UTF-8",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONIOENCODING": "utf-8",
        "MPLBACKEND": "module://matplotlib_inline.backend_inline",
        "MPLCONFIGDIR": f"{home}/.config/matplotlib",
        "IPYTHONDIR": f"{home}/.ipython",
        "XDG_CONFIG_HOME": f"{home}/.config",
        "XDG_CACHE_HOME": f"{home}/.cache",
        "MALLOC_ARENA_MAX": "2",
        "TERM": "dumb",
    }
    threads = str(max(1, min(config.max_threads, os.cpu_count() or 1)))
    for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_MAX_THREADS"):
        env[name] = threads
    passed = list(_PASSED_THROUGH) + (list(_PROXY_VARS) if config.network else [])
    for name in passed:
        value = os.environ.get(name)
        if value is not None:
            env[name] = value
    env.update(config.extra_env)
    return {k: v for k, v in env.items() if not is_secret(k, v) and "\0" not in v and "=" not in k}
