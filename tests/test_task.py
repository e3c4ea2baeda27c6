"""Task files: defaults, loading, and one clear message per malformed file."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
import yaml

from agentkit.task import (
    DEFAULT_TOOLS,
    ContextSpec,
    FetchSpec,
    HeavySpec,
    LimitsSpec,
    ModelSpec,
    OutputSpec,
    SandboxSpec,
    SearchSpec,
    Task,
    TaskFileError,
    load_task,
)

ROOT = Path(__file__).resolve().parent.parent
BAD = Path(__file__).resolve().parent / "fixtures" / "bad_tasks"
EXAMPLES = ROOT / "tasks"
SECRET = "sk-SECRET-do-not-print-0123456789"
ENV = {"MOONSHOT_API_KEY": SECRET}
FAKE_KEYS = {
    "MOONSHOT_API_KEY": SECRET,
    "OPENROUTER_API_KEY": SECRET,
    "TOGETHER_API_KEY": SECRET,
    "CHUTES_API_KEY": SECRET,
    "COMETAPI_KEY": SECRET,
    "OPENAI_API_KEY": SECRET,
}


def _expectations(path: Path) -> list[str]:
    raw = path.read_bytes()
    text = raw.decode("utf-16") if raw[:2] in (b"\xff\xfe", b"\xfe\xff") else raw.decode("utf-8", "replace")
    return [line.split("# expect:", 1)[1].strip() for line in text.splitlines() if "# expect:" in line]


BAD_FILES = sorted(BAD.glob("*.yaml"))


def test_corpus_is_large_enough() -> None:
    assert len(BAD_FILES) >= 25
    for path in BAD_FILES:
        assert _expectations(path), f"{path.name} has no '# expect:' comment"


@pytest.mark.parametrize("path", BAD_FILES, ids=[p.stem for p in BAD_FILES])
def test_bad_task_file_error_is_structured_for_callers(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """What the library gives a caller (the CLI pass in tests/cli checks the printed message,
    exit code and absence of tracebacks for the same corpus): a ``TaskFileError`` (a
    ``ValueError``) whose ``source``, ``field`` and ``problems`` agree with its one-line text."""
    monkeypatch.chdir(ROOT)  # relative paths inside a task resolve against its folder, not here
    source = str(path.relative_to(ROOT))
    with pytest.raises(TaskFileError) as info:
        load_task(source, env=ENV)
    error = info.value
    assert isinstance(error, ValueError) and error.source == source
    first = f"{error.field}: {error.message}" if error.field else error.message
    assert error.problems[0] == first and str(error).startswith(f"{source}: {first}")
    for fragment in _expectations(path):
        field, _, _ = fragment.partition(": ")
        if error.field and "." in field and " " not in field:  # the expectation names the field path
            assert error.field == field, (error.field, fragment)


def test_minimal_file_gives_all_defaults(tmp_path: Path) -> None:
    path = tmp_path / "t.yaml"
    path.write_text('task: "x"\n')
    task = load_task(path, env=ENV)
    assert task.task == "x"
    assert task.model == ModelSpec()
    assert (task.model.provider, task.model.name, task.model.resolved_name) == ("moonshot", None, "kimi-k3")
    assert (task.model.reasoning_effort, task.model.preserve_thinking) == (None, None)
    assert task.model.base_url is None and task.model.api_key_env is None
    assert task.model.temperature is None and task.model.max_tokens is None
    assert task.tools == list(DEFAULT_TOOLS) == ["web_search", "fetch", "python"]
    assert task.search == SearchSpec() and task.search.backend is None and task.search.url is None  # the auto chain
    assert task.fetch == FetchSpec(allow_private_hosts=False, respect_robots=True)
    assert (task.model.thinking, task.images, task.mcp) == (None, [], [])
    assert task.sandbox == SandboxSpec(network=False, memory_mb=2048, timeout_s=120, isolation="bwrap")
    assert (task.model.prices, task.model.stream, task.model.tool_choice) == (None, True, None)
    assert task.limits == LimitsSpec(max_steps=300, max_cost_usd=None, max_tokens=None, max_seconds=None)
    assert task.context == ContextSpec(window=None, keep_tool_results=None, max_prompt_tokens=None)
    assert task.heavy == HeavySpec(trajectories=1, aggregate="reflective")
    assert task.output == OutputSpec(dir=None, report=True, format="md")
    assert task.api_key_env == "MOONSHOT_API_KEY"
    assert task.context_window == 1_048_576  # kimi-k3's window on the Kimi platform
    assert task.profile.name == "moonshot"


FULL = """\
task: "Compare the energy density of LFP and NMC battery cells, with sources."
model:
  provider: openrouter
  name: moonshotai/kimi-k2.6
  base_url: https://openrouter.ai/api/v1
  api_key_env: MY_OPENROUTER_KEY
  temperature: 0.7
  max_tokens: 16000
  prices: {input: 0.6, cached_input: 0.15, output: 2.5}
  stream: false
  tool_choice: auto
  thinking: true
  reasoning_effort: null
  preserve_thinking: true
tools: [web_search, fetch, python, note, delegate]
search:
  backend: [searxng, duckduckgo]
  url: http://localhost:8888
  index: null
fetch: {allow_private_hosts: true, respect_robots: false}
sandbox: {network: true, memory_mb: 4096, timeout_s: 30.5, isolation: none}
limits: {max_steps: 50, max_cost_usd: 2.5, max_tokens: 2000000, max_seconds: 3600}
context: {window: 128000, keep_tool_results: 8, max_prompt_tokens: 60000}
heavy: {trajectories: 8, aggregate: vote}
output: {dir: out/reports, report: false, format: html}
swarm: {max_children: 50, max_per_turn: 10, concurrency: 4, max_depth: 1, max_steps: 20}
images: ["https://example.org/chart.png"]
mcp:
  - {name: time, command: mcp-server-time, args: [--local-timezone, UTC], env: {}, cwd: null, url: null,
     headers: {}, timeout_s: 60.0, startup_timeout_s: 20.0, max_result_bytes: 1048576, required: true}
  - {name: docs, command: null, args: [], env: {}, cwd: null, url: "http://localhost:9000/mcp",
     headers: {Authorization: {from_env: DOCS_TOKEN}}, timeout_s: 120.0, startup_timeout_s: 30.0,
     max_result_bytes: 8388608, required: false}
"""


def test_full_file_round_trips(tmp_path: Path) -> None:
    path = tmp_path / "full.yaml"
    path.write_text(FULL)
    task = load_task(path, env={"MY_OPENROUTER_KEY": SECRET})
    assert task.model.temperature == 0.7 and task.model.api_key_env == "MY_OPENROUTER_KEY"
    assert task.search.backends == ["searxng", "duckduckgo"]
    assert task.output.dir == Path("out/reports") and task.output.format == "html"
    assert task.heavy.trajectories == 8 and task.context_window == 128000
    config = task.redacted_config()
    assert config == yaml.safe_load(FULL)  # every key, nothing added
    again = tmp_path / "again.yaml"
    again.write_text(yaml.safe_dump(config))
    assert load_task(again, env={"MY_OPENROUTER_KEY": SECRET}) == task
    assert Task.from_mapping(config) == task


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.yaml")), ids=lambda p: p.stem)
def test_example_tasks_load(path: Path) -> None:
    task = load_task(path, env=FAKE_KEYS)
    assert task.task.strip()
    assert SECRET not in str(task.redacted_config())


def test_examples_exist() -> None:
    names = {p.name for p in EXAMPLES.glob("*.yaml")}
    assert {"kimi-moonshot.yaml", "kimi-openrouter.yaml", "k2-vllm-local.yaml"} <= names
    moonshot = load_task(EXAMPLES / "kimi-moonshot.yaml", env={"MOONSHOT_API_KEY": "k"})
    assert (moonshot.model.resolved_name, moonshot.model.reasoning_effort) == ("kimi-k3", "high")
    vllm = load_task(EXAMPLES / "k2-vllm-local.yaml", env={})
    assert vllm.model.provider == "vllm" and vllm.model.base_url == "http://localhost:8000/v1"


def test_task_text_from_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "q").mkdir()
    (tmp_path / "q" / "question.md").write_text("# Question\nWhich is older, A or B?\n")
    (tmp_path / "t.yaml").write_text("task: {file: q/question.md}\n")
    monkeypatch.chdir("/")
    task = load_task(tmp_path / "t.yaml", env=ENV)
    assert task.task.startswith("# Question")
    (tmp_path / "q" / "empty.md").write_text("\n")
    (tmp_path / "e.yaml").write_text("task: {file: q/empty.md}\n")
    with pytest.raises(TaskFileError, match=r"task\.file: .*empty\.md is empty"):
        load_task(tmp_path / "e.yaml", env=ENV)


def test_local_index_relative_to_task_file(tmp_path: Path) -> None:
    (tmp_path / "corpus").mkdir()
    (tmp_path / "t.yaml").write_text("task: x\nsearch: {backend: local, index: corpus}\n")
    task = load_task(tmp_path / "t.yaml", env=ENV)
    assert task.search.index == tmp_path / "corpus"


def test_file_level_errors(tmp_path: Path) -> None:
    with pytest.raises(TaskFileError, match=r"^tasks/none\.yaml: file not found$"):
        load_task("tasks/none.yaml")
    with pytest.raises(TaskFileError, match="is a directory"):
        load_task(tmp_path)
    empty = tmp_path / "empty.yaml"
    empty.write_bytes(b"")
    with pytest.raises(TaskFileError, match="the file is empty"):
        load_task(empty)


def test_api_key_rules(tmp_path: Path) -> None:
    path = tmp_path / "t.yaml"
    path.write_text("task: x\n")
    with pytest.raises(TaskFileError) as info:
        load_task(path, env={})
    assert str(info.value) == (
        f"{path}: model.provider: moonshot needs an API key: set MOONSHOT_API_KEY (or model.api_key_env)"
    )
    assert load_task(path, env={}, check_api_key=False).model.provider == "moonshot"
    with pytest.raises(TaskFileError, match="MOONSHOT_API_KEY"):
        load_task(path, env={"MOONSHOT_API_KEY": ""})  # empty counts as unset
    path.write_text("task: x\nmodel: {provider: vllm}\n")
    assert load_task(path, env={}).api_key_env == "VLLM_API_KEY"  # optional for local engines
    path.write_text("task: x\nmodel: {provider: custom, base_url: 'https://llm.example.org/v1'}\n")
    assert load_task(path, env={}).model.base_url == "https://llm.example.org/v1"


def test_os_environ_is_the_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "t.yaml"
    path.write_text("task: x\nmodel: {provider: together}\n")
    monkeypatch.delenv("TOGETHER_API_KEY", raising=False)
    with pytest.raises(TaskFileError, match="TOGETHER_API_KEY"):
        load_task(path)
    monkeypatch.setenv("TOGETHER_API_KEY", SECRET)
    assert load_task(path).model.provider == "together"


def test_temperature_range_follows_the_profile() -> None:
    assert Task.from_mapping({"task": "x", "model": {"provider": "openai", "temperature": 1.5}})
    with pytest.raises(TaskFileError, match=r"model\.temperature: must be between 0 and 2 for openai \(got 2\.5\)"):
        Task.from_mapping({"task": "x", "model": {"provider": "openai", "temperature": 2.5}})


def test_from_mapping_errors_name_the_source() -> None:
    with pytest.raises(TaskFileError) as info:
        Task.from_mapping({"task": "x", "limits": {"max_steps": 0}, "heavy": {"trajectories": 0}}, source="api")
    error = info.value
    assert str(error) == "api: limits.max_steps: must be at least 1 (got 0) (and 1 more problem)"
    assert error.source == "api" and error.field == "limits.max_steps"
    assert error.problems == [
        "limits.max_steps: must be at least 1 (got 0)",
        "heavy.trajectories: must be at least 1 (got 0)",
    ]
    with pytest.raises(TaskFileError, match=r"^<task>: the top level must be a mapping of keys \(got a list\)$"):
        Task.from_mapping([1, 2])  # type: ignore[arg-type]


def test_with_overrides() -> None:
    task = Task.from_mapping({"task": "x"})
    changed = task.with_overrides({"limits.max_steps": 5, "heavy.trajectories": 8, "output.dir": "out"})
    assert (changed.limits.max_steps, changed.heavy.trajectories, changed.output.dir) == (5, 8, Path("out"))
    assert task.limits.max_steps == 300
    with pytest.raises(TaskFileError, match=r"^--max-steps: limits\.max_steps: must be at least 1 \(got 0\)$"):
        task.with_overrides({"limits.max_steps": 0}, source="--max-steps")
    with pytest.raises(TaskFileError, match="did you mean 'max_steps'"):
        task.with_overrides({"limits.max_step": 3})


def test_redacted_config_hides_url_credentials() -> None:
    task = Task.from_mapping(
        {
            "task": "x",
            "model": {
                "provider": "custom",
                "base_url": "https://bob:hunter2@llm.example.org/v1?api_key=abc&x=1",
            },
            "search": {"backend": "searxng", "url": "http://searx.local:8888/?token=zzz"},
        }
    )
    config = task.redacted_config()
    assert config["model"]["base_url"] == "https://***@llm.example.org/v1?api_key=***&x=1"
    assert config["search"]["url"] == "http://searx.local:8888/?token=***"
    assert "hunter2" not in str(config) and "zzz" not in str(config)
    assert task.model.base_url is not None and "hunter2" in task.model.base_url  # the client still needs it


def test_assignment_is_validated() -> None:
    task = Task.from_mapping({"task": "x"})
    task.limits.max_steps = 10
    assert task.limits.max_steps == 10
    with pytest.raises(ValueError):
        task.limits.max_steps = 0


# --- hostile input -------------------------------------------------------------------------


def _refused(tmp_path: Path, target: str, name: str = "t.yaml") -> str:
    path = tmp_path / name
    path.write_text(f"task: {{file: '{target}'}}\nmodel: {{provider: vllm}}\n")
    with pytest.raises(TaskFileError) as info:
        load_task(path, env={})
    message = str(info.value)
    assert message.startswith(f"{path}: task.file: ") and "\n" not in message
    return message


def test_task_text_only_from_a_regular_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGENTKIT_CANARY", "canary-value-never-in-a-task")
    message = _refused(tmp_path, "/proc/self/environ")
    assert "pseudo-file" in message and "canary" not in message
    (tmp_path / "env.md").symlink_to("/proc/self/environ")  # a link does not launder it
    assert "pseudo-file" in _refused(tmp_path, "env.md")
    assert "(a character device)" in _refused(tmp_path, "/dev/zero")  # would read until MemoryError
    os.mkfifo(tmp_path / "fifo")  # would hang the open (and the read) forever
    assert "/fifo is not a regular file (a FIFO (named pipe))" in _refused(tmp_path, "fifo")
    (tmp_path / "dir").mkdir()
    assert "is a directory" in _refused(tmp_path, "dir")
    big = tmp_path / "big.md"
    big.write_bytes(b"x" * (1024 * 1024 + 1))
    assert "big.md is 1,048,577 bytes; the limit is 1 MB" in _refused(tmp_path, "big.md")
    big.write_bytes(b"x" * (1024 * 1024))
    (tmp_path / "ok.yaml").write_text("task: {file: big.md}\nmodel: {provider: vllm}\n")
    assert len(load_task(tmp_path / "ok.yaml", env={}).task) == 1024 * 1024


def test_the_task_file_itself_is_read_safely(tmp_path: Path) -> None:
    with pytest.raises(TaskFileError, match=r"^/dev/zero: is not a regular file \(a character device\)$"):
        load_task("/dev/zero")
    with pytest.raises(TaskFileError, match=r"the limit is 1 MB"):
        big = tmp_path / "big.yaml"
        big.write_text("task: x\n# " + "y" * (1024 * 1024) + "\n")
        load_task(big)
    os.mkfifo(tmp_path / "fifo.yaml")  # a FIFO is allowed (agentkit run <(make-task)); no writer: empty
    with pytest.raises(TaskFileError, match="the file is empty"):
        load_task(tmp_path / "fifo.yaml")
    read, write = os.pipe()
    os.write(write, b"task: from a pipe\nmodel: {provider: vllm}\n")
    os.close(write)
    try:
        assert load_task(f"/dev/fd/{read}", env={}).task == "from a pipe"
    finally:
        os.close(read)


def test_numbers_and_nesting_have_limits() -> None:
    with pytest.raises(TaskFileError, match=r"^<task>: heavy.trajectories: number too large \(70 digits\)"):
        Task.from_mapping(_parse("task: x\nheavy: {trajectories: " + "1" * 70 + "}\n"))
    with pytest.raises(TaskFileError, match=r"sandbox.timeout_s: number too large \(201 digits\)"):
        Task.from_mapping(_parse("task: x\nsandbox: {timeout_s: 1" + "0" * 199 + ".5}\n"))
    assert _parse("a: " + "[" * 31 + "]" * 31) == {"a": _nest(30)}  # 32 levels with the top mapping
    with pytest.raises(yaml.YAMLError, match="nested more than 32 levels deep"):
        _parse("a: " + "[" * 32 + "]" * 32)
    big = 10**30  # a long number a limit rejects is shown in full
    with pytest.raises(
        TaskFileError, match=r"heavy.trajectories: must be at most 64 \(got 1000000000000000000000000000000\)"
    ):
        Task.from_mapping({"task": "x", "heavy": {"trajectories": big}})


def _parse(text: str) -> object:
    from agentkit.task._read import parse_yaml

    return parse_yaml(text)


def _nest(depth: int) -> list[object]:
    out: list[object] = []
    for _ in range(depth):
        out = [out]
    return out


def test_prices_stream_tool_choice_and_isolation() -> None:
    task = Task.from_mapping(
        {
            "task": "x",
            "model": {
                "provider": "vllm",
                "prices": {"input": 0.6, "cached_input": 0.15, "output": 2.5},
                "stream": False,
                "tool_choice": "none",
            },
            "sandbox": {"isolation": "none"},
        }
    )
    assert task.model.prices is not None and task.model.prices.cached_input == 0.15
    assert (task.model.stream, task.model.tool_choice, task.sandbox.isolation) == (False, "none", "none")
    plain = Task.from_mapping({"task": "x"})
    assert (plain.model.prices, plain.model.stream, plain.model.tool_choice) == (None, True, None)
    assert plain.sandbox.isolation == "bwrap"
    no_cache = Task.from_mapping({"task": "x", "model": {"prices": {"input": 1, "output": 3}}})
    assert no_cache.model.prices is not None and no_cache.model.prices.cached_input == 1  # defaults to input
    for bad, message in (
        ({"model": {"tool_choice": "required"}}, "model.tool_choice: unknown tool_choice 'required'; valid"),
        ({"model": {"prices": {"input": -1, "output": 1}}}, "model.prices.input: must be at least 0 (got -1)"),
        ({"model": {"prices": {"output": 1}}}, "model.prices.input: required"),
        ({"model": {"prices": {"input": 1, "output": 1, "cached": 0}}}, "did you mean 'cached_input'?"),
        ({"model": {"stream": "yes"}}, "model.stream: must be true or false"),
        ({"sandbox": {"isolation": "docker"}}, "sandbox.isolation: unknown isolation 'docker'; valid"),
    ):
        with pytest.raises(TaskFileError, match=re.escape(message)):
            Task.from_mapping({"task": "x", **bad})


def test_local_search_needs_its_index(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(TaskFileError, match=r"search.index: required when the local backend is used"):
        Task.from_mapping({"task": "x", "search": {"backend": ["duckduckgo", "local"]}})
    (tmp_path / "docs").mkdir()
    monkeypatch.chdir(tmp_path)
    task = Task.from_mapping({"task": "x", "search": {"backend": "local", "index": "docs"}})
    assert task.search.index == tmp_path / "docs"  # absolute: a resume elsewhere finds it


def test_vertex_needs_no_base_url_or_key_variable(tmp_path: Path) -> None:
    """Vertex AI's endpoint comes from the project and location, its token from application
    default credentials: the task file names neither a URL nor a key variable."""
    path = tmp_path / "t.yaml"
    path.write_text("task: q\nmodel: {provider: vertex, name: moonshotai/kimi-k2-thinking-maas}\n")
    task = load_task(path, env={})
    assert task.model.provider == "vertex" and task.model.base_url is None
