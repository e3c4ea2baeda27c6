"""Sandbox pieces that need no kernel: env scrubbing, launch command, output caps."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from sandbox_helpers import requires_bwrap

from agentkit.sandbox import SandboxConfig, is_secret, kernel_env, probe_bwrap
from agentkit.sandbox._klog import KernelLog
from agentkit.sandbox._launch import build_launch, python_paths
from agentkit.sandbox._output import CappedText, FigureWriter, OutputCollector, cap_middle, trim_traceback
from agentkit.tools.python import PythonTool


@pytest.mark.parametrize(
    "name",
    [
        "MOONSHOT_API_KEY",
        "OPENAI_API_KEY",
        "GITHUB_TOKEN",
        "AWS_REGION",
        "DB_PASSWORD",
        "MY_SECRET",
        "GOOGLE_APPLICATION_CREDENTIALS",
        "HF_HOME",
        "SSH_AUTH_SOCK",
        "PWD",
        "DATABASE_URL",
        "Some_Api_Key",
    ],
)
def test_secret_names_are_recognised(name: str) -> None:
    assert is_secret(name)


def test_credentials_in_values_are_recognised() -> None:
    assert is_secret("HTTPS_PROXY", "http://bob:hunter2@proxy:3128")
    assert not is_secret("HTTPS_PROXY", "http://proxy:3128")
    assert not is_secret("LANG", "C.UTF-8")


def test_kernel_env_is_an_allow_list(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MOONSHOT_API_KEY", "sk-test")
    monkeypatch.setenv("RANDOM_SETTING", "x")
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy:3128")
    monkeypatch.setenv("TZ", "Europe/Paris")
    cfg = SandboxConfig(extra_env={"SERVICE_TOKEN": "t", "DATA_DIR": "/data"})
    env = kernel_env(cfg, home="/tmp", path_dirs=["/opt/py/bin"])
    assert "MOONSHOT_API_KEY" not in env and "RANDOM_SETTING" not in env and "SERVICE_TOKEN" not in env
    assert "HTTPS_PROXY" not in env
    assert env["TZ"] == "Europe/Paris" and env["DATA_DIR"] == "/data" and env["HOME"] == "/tmp"
    assert env["PATH"].startswith("/opt/py/bin:")
    net_env = kernel_env(SandboxConfig(network=True), home="/tmp", path_dirs=[])
    assert net_env["HTTPS_PROXY"] == "http://proxy:3128"


@requires_bwrap
def test_launch_command_isolates(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MOONSHOT_API_KEY", "sk-test-argv")
    monkeypatch.chdir(tmp_path)
    private = tmp_path / "private"
    private.mkdir()
    work = tmp_path / "work"
    spec = build_launch(
        SandboxConfig(), workdir=work, private=private, connection_file=private / "k.json", status=probe_bwrap()
    )
    argv = spec.argv
    joined = " ".join(argv)
    assert "sk-test-argv" not in joined and "sk-test-argv" not in str(spec.env)
    for flag in ("--unshare-net", "--unshare-pid", "--die-with-parent", "--new-session", "--clearenv"):
        assert flag in argv
    assert ["--bind", str(work), "/work"] == argv[argv.index(str(work)) - 1 : argv.index(str(work)) + 2]
    binds = [argv[i + 1] for i, a in enumerate(argv) if a in ("--bind", "--ro-bind")]
    assert str(tmp_path) not in binds and str(Path.home()) not in binds and "/" not in binds
    open_spec = build_launch(
        SandboxConfig(network=True),
        workdir=work,
        private=private,
        connection_file=private / "k.json",
        status=probe_bwrap(),
    )
    assert "--unshare-net" not in open_spec.argv
    assert "/etc/resolv.conf" in open_spec.argv or not os.path.exists("/etc/resolv.conf")


def test_python_paths_do_not_expose_home_or_project() -> None:
    home = str(Path.home().resolve())
    for p in python_paths():
        assert p not in ("/", home) and not home.startswith(p + "/")


def test_capped_text_keeps_head_and_tail_in_bounded_memory() -> None:
    capped = CappedText(1000)
    capped.add("HEAD")
    for _ in range(10_000):
        capped.add("x" * 100)
    capped.add("TAIL")
    out = capped.render()
    assert out.startswith("HEAD") and out.endswith("TAIL")
    assert len(out) < 1100 and "characters omitted" in out
    assert capped.omitted == 4 + 1_000_000 + 4 - 1000


def test_cap_middle() -> None:
    assert cap_middle("abc", 10) == "abc"
    text = cap_middle("a" * 500 + "b" * 500, 100)
    assert text.startswith("a" * 75) and text.endswith("b" * 25)


def test_trim_traceback_strips_colours_and_elides_frames() -> None:
    frames = ["\x1b[0;31m---------------\x1b[0m", "\x1b[0;31mValueError\x1b[0m    Traceback (most recent call last)"]
    frames += [f"Cell In[1], line {i}, in f{i}()\n----> {i} f{i + 1}()" for i in range(20)]
    frames += ["\x1b[0;31mValueError\x1b[0m: bad"]
    text = trim_traceback(frames, 10_000)
    assert "\x1b" not in text and "-----" not in text
    assert text.startswith("Traceback (most recent call last):")
    assert "[15 frames omitted]" in text and text.endswith("ValueError: bad")
    assert len(trim_traceback(frames, 200)) <= 200


def test_figure_writer_refuses_planted_symlinks(tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    target = tmp_path / "target"
    target.mkdir()
    (work / "figures").symlink_to(target)
    with pytest.raises(OSError):
        FigureWriter(work).save(b"png")
    (work / "figures").unlink()
    (work / "figures").mkdir()
    victim = tmp_path / "victim.txt"
    victim.write_text("keep")
    (work / "figures" / "figure-001.png").symlink_to(victim)
    saved = FigureWriter(work).save(b"png")
    assert saved.name == "figure-002.png" and victim.read_text() == "keep"


def test_collector_caps_figures_and_results(tmp_path: Path) -> None:
    collector = OutputCollector(
        max_output_chars=100,
        max_result_chars=50,
        max_traceback_chars=100,
        max_figures=1,
        max_figure_bytes=10,
        figures=FigureWriter(tmp_path),
    )
    collector.handle("execute_result", {"execution_count": 3, "data": {"text/plain": "r" * 1000}})
    collector.handle("display_data", {"data": {"image/png": "aGVsbG8="}})
    collector.handle("display_data", {"data": {"image/png": "aGVsbG8="}})
    collector.handle("display_data", {"data": {"text/plain": "<table>"}})
    collector.handle("stream", {"name": "stdout", "text": "\x1b[1mbold\x1b[0m\nprogress 10%\r100%\n"})
    out = collector.finish()
    assert out.execution_count == 3 and out.result is not None and len(out.result) < 100
    assert len(out.figures) == 1 and out.figures[0].read_bytes() == b"hello"
    assert any("1 more figure" in n for n in out.notes)
    assert out.output == "<table>\nbold\n100%\n"


def test_kernel_log_never_writes_through_planted_links(tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    victim = tmp_path / "victim.txt"
    victim.write_text("keep")
    (work / ".kernel.log.1").mkdir()  # rotation fails: the old name stays taken
    (work / ".kernel.log.1" / "x").write_text("x")
    (work / ".kernel.log").symlink_to(victim)
    klog = KernelLog(work, 8192)
    os.write(klog.write_fd, b"hello\n" + b"z" * 20_000 + b"\nthe end\n")
    klog.start()
    assert klog.join(10)
    assert victim.read_text() == "keep"
    log = work / ".kernel.log"
    assert not log.is_symlink() and log.stat().st_size <= 8192
    data = log.read_bytes()
    assert data.startswith(b"hello") and data.endswith(b"the end\n") and b"bytes of kernel output dropped" in data
    assert klog.recent().endswith("the end")
    # A FIFO in its place is replaced as well (opening it would block the host).
    log.unlink()
    os.mkfifo(log)
    klog = KernelLog(work, 8192)
    klog.start()
    assert klog.join(10) and log.is_file()


def test_isolation_setting_is_checked() -> None:
    assert SandboxConfig().isolation == "bwrap" and SandboxConfig(isolation="none").isolation == "none"
    with pytest.raises(ValueError, match="isolation"):
        SandboxConfig(isolation="off")
    with pytest.raises(ValueError, match="isolation"):
        PythonTool(config=SandboxConfig(), isolation="none")


def test_work_dir_mount_point_never_hides_the_interpreter() -> None:
    """A venv in /work/venv (a checkout's sibling) must stay visible: the work dir moves aside."""
    from agentkit.sandbox._launch import sandbox_workdir

    assert sandbox_workdir(("/usr/local", "/root/.pyenv/versions/3.11.7")) == "/work"
    moved = sandbox_workdir(("/work/venv", "/root/.pyenv/versions/3.11.7"))
    assert moved != "/work" and not "/work/venv".startswith(moved + "/")
    assert sandbox_workdir(("/opt/py",), ("/work",)) != "/work"
