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
    # 300 steps is a long run: recall joins the three defaults (see test_recall_defaults.py)
    assert task.tools == [*DEFAULT_TOOLS, "recall"] == ["web_search", "fetch", "python", "recall"]
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
tools: [web_search, fetch, python, recall, note, delegate]
search:
  backend: [searxng, duckduckgo]
  url: http://localhost:8888
  index: null
fetch: {allow_private_hosts: true, respect_robots: false}
sandbox: {network: true, memory_mb: 4096, timeout_s: 30.5, isolation: none}
limits: {max_steps: 50, max_cost_usd: 2.5, max_tokens: 2000000, max_seconds: 3600}
context: {window: 128000, keep_tool_results: 8, max_prompt_tokens: 60000}
heavy: {trajectories: 8, aggregate: vote}
output:
  dir: out/reports
  report: false
  format: html
  schema: {type: object, properties: {answer: {type: string}}, required: [answer]}
swarm: {max_children: 50, max_per_turn: 10, concurrency: 4, max_depth: 1, max_steps: 20}
images: ["https://example.org/chart.png"]
videos: ["https://example.org/clip.mp4"]
memory: {runs: [3f2a9c1b7d04, 5e6f], tag: lfp-nmc}
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
    with pytest.raises(TaskFileError, match=r"task\.file: the file is empty$"):
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
    with pytest.raises(TaskFileError, match=r"model\.temperature: must be between 0 and 2 for openai$"):
        Task.from_mapping({"task": "x", "model": {"provider": "openai", "temperature": 2.5}})


def test_from_mapping_errors_name_the_source() -> None:
    with pytest.raises(TaskFileError) as info:
        Task.from_mapping({"task": "x", "limits": {"max_steps": 0}, "heavy": {"trajectories": 0}}, source="api")
    error = info.value
    assert str(error) == "api: limits.max_steps: must be at least 1 (and 1 more problem)"
    assert error.source == "api" and error.field == "limits.max_steps"
    assert error.problems == ["limits.max_steps: must be at least 1", "heavy.trajectories: must be at least 1"]
    with pytest.raises(TaskFileError, match=r"^<task>: the top level must be a mapping of keys \(got a list\)$"):
        Task.from_mapping([1, 2])  # type: ignore[arg-type]


def test_with_overrides() -> None:
    task = Task.from_mapping({"task": "x"})
    changed = task.with_overrides({"limits.max_steps": 5, "heavy.trajectories": 8, "output.dir": "out"})
    assert (changed.limits.max_steps, changed.heavy.trajectories, changed.output.dir) == (5, 8, Path("out"))
    assert task.limits.max_steps == 300
    with pytest.raises(TaskFileError, match=r"^--max-steps: limits\.max_steps: must be at least 1$"):
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
    assert "task.file: the file is not a regular file (a FIFO (named pipe))" in _refused(tmp_path, "fifo")
    (tmp_path / "dir").mkdir()
    assert "is a directory" in _refused(tmp_path, "dir")
    big = tmp_path / "big.md"
    big.write_bytes(b"x" * (1024 * 1024 + 1))
    assert "the file is 1,048,577 bytes; the limit is 1 MB" in _refused(tmp_path, "big.md")
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
    big = 10**30  # a long number a limit rejects: the limit is said, not the number
    with pytest.raises(TaskFileError, match=r"heavy.trajectories: must be at most 64$"):
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
        ({"model": {"tool_choice": "required"}}, "model.tool_choice: unknown tool_choice; valid"),
        ({"model": {"prices": {"input": -1, "output": 1}}}, "model.prices.input: must be at least 0"),
        ({"model": {"prices": {"output": 1}}}, "model.prices.input: required"),
        ({"model": {"prices": {"input": 1, "output": 1, "cached": 0}}}, "did you mean 'cached_input'?"),
        ({"model": {"stream": "yes"}}, "model.stream: must be true or false"),
        ({"sandbox": {"isolation": "docker"}}, "sandbox.isolation: unknown isolation; valid"),
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


# --- what a message may say: the key path and the problem, never the file's text ----------


def _vocabulary() -> set[str]:
    """Names of agentkit's own (keys, tools, providers...): a message may say them."""
    from agentkit.llm import models as model_catalog
    from agentkit.llm.profiles import PROFILES
    from agentkit.task import _task, sections

    names = {*PROFILES, *sections.TOOL_NAMES, *sections.SEARCH_BACKENDS, *sections.AGGREGATORS}
    names |= {t.family for t in vars(model_catalog).values() if isinstance(t, model_catalog.ModelTraits)}
    names |= set(_task.EFFORTS)
    names |= {*sections.OUTPUT_FORMATS, *sections.TOOL_CHOICES, *sections.ISOLATIONS}
    models = [Task, ModelSpec, SearchSpec, FetchSpec, SandboxSpec, LimitsSpec, ContextSpec, HeavySpec, OutputSpec]
    return names | {field for model in models for field in model.model_fields}


def _texts_of(data: object, key: str = "") -> list[str]:
    """Every string value of a parsed file (and every key that is no name), except what the
    key of a variable's name holds (said once the file is valid: "MY_KEY is not set")."""
    if isinstance(data, dict):
        out = [str(k) for k in data if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_-]{0,39}", str(k))]
        return out + [t for k, v in data.items() for t in _texts_of(v, str(k))]
    if isinstance(data, list):
        return [t for item in data for t in _texts_of(item, key)]
    return [data] if isinstance(data, str) and key != "api_key_env" else []


@pytest.mark.parametrize("path", BAD_FILES, ids=[p.stem for p in BAD_FILES])
def test_no_message_quotes_the_file(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Not a value, not a key that is no name, not a snippet of a line: a file given as a task
    file may be no task file at all (/etc/shadow) or hold a secret under a known key."""
    from agentkit.task._read import parse_yaml

    monkeypatch.chdir(ROOT)
    source = str(path.relative_to(ROOT))
    with pytest.raises(TaskFileError) as info:
        load_task(source, env=ENV)
    said = " ".join(info.value.problems) + str(info.value).removeprefix(source)
    assert "sk-SECRET" not in said
    try:
        data = parse_yaml(path.read_bytes().decode("utf-8"))
    except (UnicodeDecodeError, yaml.YAMLError):
        return
    vocabulary = _vocabulary()
    for text in _texts_of(data):
        if len(text) >= 4 and text not in vocabulary:
            assert text not in said, (text, said)


@pytest.mark.parametrize(
    "text",
    [
        "task: *SECRETALIAS\n",
        "task: !SECRETTAG x\n",
        "task: !!python/object/apply:os.system [SECRETCMD]\n",
        'task: "\\qSECRET"\n',
        "task: x\nmodel: {provider: vllm\nSECRETLINE: [1, 2\n",
        "task: &a SECRET\nlimits: &a SECRETANCHOR\n",
        "task: x\n%SECRETDIRECTIVE 1\n---\n",
        "task: [x\n  SECRET: y\n",
    ],
)
def test_a_yaml_error_says_where_never_what(tmp_path: Path, text: str) -> None:
    path = tmp_path / "t.yaml"
    path.write_text(text)
    with pytest.raises(TaskFileError) as info:
        load_task(path, env=ENV)
    message = str(info.value)
    assert "invalid YAML" in message and "SECRET" not in message and "\n" not in message


def test_a_file_that_is_no_task_file_is_not_shown(tmp_path: Path) -> None:
    """The way `research(config=/etc/shadow)` read it: a line as a key, shown as the field."""
    shadow = tmp_path / "shadow"
    shadow.write_text(f"root:$6$salt${SECRET}:19000:0:99999:7:::\nbin:*:19000:0:99999:7:::\n")
    with pytest.raises(TaskFileError) as info:
        load_task(shadow, env=ENV)
    assert str(info.value) == (
        f"{shadow}: not a task file: none of its top-level keys is a task key ({', '.join(Task.model_fields)})"
    )
    config = tmp_path / "c.yaml"  # a secret under known keys: the path and the kind, never the value
    config.write_text(f"model:\n  temperature: {SECRET}\n  max_tokens: {SECRET}\nsearch: {{url: {SECRET}}}\n")
    with pytest.raises(TaskFileError) as info:
        load_task(config, env=ENV, require_task=False)
    assert info.value.problems == [
        "model.temperature: must be a number (got a string)",
        "model.max_tokens: must be a whole number (got a string)",
        "search.url: must be an http(s) URL such as http://localhost:8000/v1",
    ]


def test_every_count_and_limit_has_an_upper_bound() -> None:
    """A value past 64 bits used to reach SQLite or orjson: `internal error`, exit 1."""
    unbounded: list[str] = []

    def walk(schema: dict[str, object], defs: dict[str, dict[str, object]], path: str) -> None:
        ref = schema.get("$ref")
        if isinstance(ref, str):
            walk(defs[ref.rsplit("/", 1)[1]], defs, path)
        for option in schema.get("anyOf", []) or []:  # type: ignore[attr-defined]
            walk(option, defs, path)
        if schema.get("type") in ("integer", "number") and "maximum" not in schema:
            unbounded.append(path)
        for name, sub in (schema.get("properties") or {}).items():  # type: ignore[attr-defined]
            walk(sub, defs, f"{path}.{name}".lstrip("."))
        items = schema.get("items")
        if isinstance(items, dict):
            walk(items, defs, f"{path}[]")

    schema = Task.model_json_schema()
    walk(schema, schema.get("$defs", {}), "")
    assert unbounded == ["model.temperature", "eval.judge.temperature"]  # the provider's range (a validator)


@pytest.mark.parametrize("override", [{"limits.max_steps": 10**30}, {"context.window": 2**63}])
def test_a_huge_integer_is_one_line_naming_the_field(override: dict[str, object]) -> None:
    (field,) = override
    with pytest.raises(TaskFileError, match=rf"^--max-steps: {re.escape(field)}: must be at most [0-9]+$"):
        Task.from_mapping({"task": "x"}).with_overrides(override, source="--max-steps")


def test_the_cli_answers_a_huge_max_steps_with_exit_2(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from agentkit.cli import app

    task = tmp_path / "t.yaml"
    task.write_text("task: hello\nmodel: {provider: vllm}\n")
    result = CliRunner().invoke(app, ["run", str(task), "--max-steps", str(10**30), "--store", str(tmp_path / "s.db")])
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert result.exit_code == 2 and len(lines) == 1, result.output
    assert "limits.max_steps: must be at most 10000" in lines[0] and "Traceback" not in result.output


# --- never a task file from where sandboxed code writes --------------------------------------

GOOD = "task: x\nmodel: {provider: vllm}\n"


def _refused_here(path: Path | str, **options: object) -> str:
    with pytest.raises(TaskFileError) as info:
        load_task(path, env={}, **options)  # type: ignore[arg-type]
    message = str(info.value)
    assert "refused: this path is in (or passes through a link in) a run's work dir" in message
    assert "\n" not in message and "task: x" not in message
    return message


def test_task_files_are_never_read_from_a_work_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from agentkit.store._location import ensure_work_root

    monkeypatch.chdir(tmp_path)
    root = ensure_work_root(tmp_path / "data" / "s.db")  # data/runs/s.db, with its marker
    run = root / "run1"
    run.mkdir()
    (run / "agent.yaml").write_text(GOOD)  # what the python tool can write in /work
    (tmp_path / "ok.yaml").write_text(GOOD)
    assert load_task(tmp_path / "ok.yaml", env={}).task == "x"
    _refused_here(run / "agent.yaml")
    _refused_here("data/runs/s.db/run1/agent.yaml")  # relative to the working directory
    (tmp_path / "via.yaml").symlink_to(run / "agent.yaml")  # a link outside, pointing inside
    _refused_here(tmp_path / "via.yaml")
    (run / "out.yaml").symlink_to(tmp_path / "ok.yaml")  # a link inside (the sandbox's), pointing out
    _refused_here(run / "out.yaml")
    (run / "up").symlink_to(tmp_path)
    _refused_here(run / "up" / "ok.yaml")  # ... or passing through a linked folder
    (tmp_path / "runlink").symlink_to(run)
    _refused_here(tmp_path / "runlink" / "agent.yaml")
    _refused_here(run / ".." / ".." / ".." / ".." / "ok.yaml")
    (tmp_path / "q.yaml").write_text(f"task: {{file: '{run / 'question.md'}'}}\nmodel: {{provider: vllm}}\n")
    (run / "question.md").write_text("a question the sandbox wrote")
    assert _refused_here(tmp_path / "q.yaml").startswith(f"{tmp_path / 'q.yaml'}: task.file: refused")


def test_a_store_runs_folder_without_a_marker_is_refused_too(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Work dirs older versions made (``<store dir>/runs/<run id>``, no marker): refused for the
    store the caller names, and for the store the environment names."""
    old = tmp_path / "old" / "runs" / "abc123"
    old.mkdir(parents=True)
    (old / "agent.yaml").write_text(GOOD)
    assert load_task(old / "agent.yaml", env={}).task == "x"  # no store says it is a work dir
    _refused_here(old / "agent.yaml", stores=[tmp_path / "old" / "agentkit.db"])
    monkeypatch.setenv("AGENTKIT_STORE", str(tmp_path / "old" / "agentkit.db"))
    _refused_here(old / "agent.yaml")


def test_the_cli_refuses_a_task_file_from_a_work_dir(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from agentkit.cli import app
    from agentkit.store._location import ensure_work_root

    run = ensure_work_root(tmp_path / "s.db") / "run1"
    run.mkdir()
    (run / "agent.yaml").write_text(GOOD)
    result = CliRunner().invoke(app, ["run", str(run / "agent.yaml"), "--store", str(tmp_path / "other.db")])
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert result.exit_code == 2 and len(lines) == 1 and "refused" in lines[0], result.output


@pytest.mark.parametrize("command", ["run", "eval"])
def test_the_cli_refuses_a_task_file_from_its_stores_runs_folder(tmp_path: Path, command: str) -> None:
    """A work dir an older version made (``<store dir>/runs/<id>``, no marker): ``--store``
    names the store, so ``run`` and ``eval --config`` know its runs folder."""
    from typer.testing import CliRunner

    from agentkit.cli import app

    old = tmp_path / "runs" / "abc123"
    old.mkdir(parents=True)
    (old / "agent.yaml").write_text(GOOD)
    store = ["--store", str(tmp_path / "s.db")]
    suite = ROOT / "tests" / "fixtures" / "eval" / "suite20.jsonl"
    args = ["run", str(old / "agent.yaml"), *store]
    if command == "eval":
        args = ["eval", str(suite), "--config", str(old / "agent.yaml"), *store, "--limit", "1"]
    result = CliRunner().invoke(app, args, env={"AGENTKIT_STORE": str(tmp_path / "elsewhere.db")})
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert result.exit_code == 2 and len(lines) == 1 and "refused: this path is in" in lines[0], result.output


def test_the_cli_never_shows_a_file_that_is_no_task_file(tmp_path: Path) -> None:
    """#20.3 for the CLI: `agentkit run /etc/shadow` (a copy here) says what is wrong, not what it read."""
    from typer.testing import CliRunner

    from agentkit.cli import app

    shadow = tmp_path / "shadow"
    shadow.write_text(f"root:$6$salt${SECRET}:19000:0:99999:7:::\n")
    config = tmp_path / "c.yaml"
    config.write_text(f"task: q\nmodel: {{temperature: {SECRET}}}\n")
    for path in (shadow, config):
        result = CliRunner().invoke(app, ["run", str(path), "--store", str(tmp_path / "s.db")])
        lines = [line for line in result.output.splitlines() if line.strip()]
        assert result.exit_code == 2 and len(lines) == 1, result.output
        assert SECRET not in result.output and "salt" not in result.output, result.output
