"""Task files: the YAML spec of one research run, validated with path-precise errors.

A task file says what to research (``task``) and how: the model and provider profile, the
tools, the search backend, sandbox and run limits, the context budget, heavy mode and the
report output. :func:`load_task` reads one safely and returns a :class:`Task`; every mistake
raises :class:`TaskFileError`, whose text is one complete message naming the file and the
field path, e.g. ``tasks/bad.yaml: limits.max_steps: must be at least 1 (got 0)``.

Secrets never live in a task: ``model.api_key_env`` names the environment variable that
holds the key, and no message or stored config ever contains a secret's value.
"""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Annotated, Any, Literal, TypeGuard, get_args

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import ErrorDetails

from agentkit._redact import looks_opaque, redact_url, token_kind
from agentkit.llm.models import model_traits, option_problem
from agentkit.llm.profiles import PROFILES, ProviderProfile, get_profile
from agentkit.task._read import HugeNumber, decode, kind_of, parse_yaml, read_bytes, yaml_error
from agentkit.task._read import TaskFileError as TaskFileError
from agentkit.task._trust import REFUSAL, sandbox_writable
from agentkit.task.mcp_servers import MCPServerSpec
from agentkit.task.sections import (
    DEFAULT_TOOLS,
    MAX_CPUS,
    MAX_RUN_IMAGES,
    MAX_RUN_VIDEOS,
    MAX_USD,
    MAX_WINDOW_TOKENS,
    SEARCH_KEY_VARS,
    SPEC_CONFIG,
    TOOL_CHOICES,
    TOOL_NAMES,
    ContextSpec,
    FetchSpec,
    HeavySpec,
    LimitsSpec,
    MemorySpec,
    OutputSpec,
    PricesSpec,
    SandboxSpec,
    SearchSpec,
    SwarmSpec,
    check_http_url,
    default_tools,
    fail,
    from_base_dir,
    num,
    one_of,
    one_of_or_null,
)

_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
EFFORTS: tuple[str, ...] = ("low", "high", "max")
"""``model.reasoning_effort`` values: the Kimi platform's for K3 (OAS-EN, 2026-07-20 on)."""


# --- the spec ------------------------------------------------------------------------------

_Url = Annotated[str | None, BeforeValidator(check_http_url)]
_ToolName = Annotated[str, BeforeValidator(one_of(TOOL_NAMES, "tool"))]


class ModelSpec(BaseModel):
    """Which model, through which provider profile (see ``agentkit.llm.profiles``)."""

    model_config = SPEC_CONFIG

    provider: str = "moonshot"
    name: str | None = Field(default=None, min_length=1)
    """null: the provider profile's current default (``kimi-k3`` on moonshot)."""
    base_url: _Url = None
    api_key_env: str | None = None
    temperature: float | None = None
    max_tokens: int | None = Field(default=None, gt=0, le=MAX_WINDOW_TOKENS)
    prices: PricesSpec | None = None
    stream: bool = True
    tool_choice: Annotated[
        Literal["auto", "none"] | None, BeforeValidator(one_of_or_null(TOOL_CHOICES, "tool_choice"))
    ] = None
    """Sent on tool turns; the final-answer turn always asks for no tools, whatever this says."""
    thinking: bool | None = None
    """Thinking on or off for models that can switch (K2.5, K2.6); null: the model's default.
    Sent as the provider's ``thinking`` object, never a bare boolean; K3 and K2.7 Code always think."""
    reasoning_effort: Annotated[
        Literal["low", "high", "max"] | None, BeforeValidator(one_of_or_null(EFFORTS, "reasoning_effort"))
    ] = None
    """How hard a K3-family model thinks (null: the service's default, ``max``)."""
    preserve_thinking: bool | None = None
    """Keep earlier turns' reasoning in the model's context (K2.6's ``thinking.keep: "all"``; K3 and
    K2.7 Code always do). null: the model's default."""

    @field_validator("provider", mode="before")
    @classmethod
    def _known_provider(cls, value: object) -> object:
        return one_of(tuple(sorted(PROFILES)), "provider")(value)

    @field_validator("api_key_env")
    @classmethod
    def _env_name(cls, value: str | None) -> str | None:
        # Never echo this value: people paste the key itself here by mistake.
        if value is not None and not _ENV_NAME.fullmatch(value):
            raise fail(
                "must be the NAME of an environment variable (letters, digits, _), e.g. MOONSHOT_API_KEY; "
                "put the key itself in that variable, never in the task file"
            )
        return value

    @field_validator("temperature")
    @classmethod
    def _temperature_in_range(cls, value: float | None, info: ValidationInfo) -> float | None:
        provider = info.data.get("provider")
        if value is not None and provider in PROFILES:
            low, high = PROFILES[provider].temperature_range
            if not low <= value <= high:
                raise fail(f"must be between {num(low)} and {num(high)} for {provider}")
        return value

    @model_validator(mode="after")
    def _custom_needs_url(self) -> ModelSpec:
        profile = get_profile(self.provider)
        if self.base_url is None and profile.base_url is None and profile.auth == "api_key":
            raise fail(f"required for the {self.provider} provider (the endpoint's URL)", at="base_url")
        return self

    @model_validator(mode="after")
    def _options_fit_the_model(self) -> ModelSpec:
        traits = model_traits(self.resolved_name)
        problem = option_problem(
            traits,
            traits.family,  # agentkit's name for the model, never the file's text
            thinking=self.thinking,
            reasoning_effort=self.reasoning_effort,
            preserve_thinking=self.preserve_thinking,
        )
        if problem is not None:
            raise fail(problem[1], at=problem[0])
        return self

    @property
    def resolved_name(self) -> str:
        """The model's name as the provider is sent it (the profile's default when ``name`` is null)."""
        return get_profile(self.provider).resolve_model(self.name)


class EvalSpec(BaseModel):
    """``agentkit eval`` settings (``agentkit run`` ignores this section): the suite's cost
    budget (no new attempt starts once it is spent), the judge model's endpoint, the CPUs
    Ray reserves for each attempt (``--ray``) and the ``number`` grader's tolerance."""

    model_config = SPEC_CONFIG

    max_cost_usd: float | None = Field(default=None, gt=0, le=MAX_USD)
    judge: ModelSpec | None = None
    """The judge grader's model (default: the task's ``model``)."""
    cpus_per_attempt: float = Field(default=1.0, gt=0, le=MAX_CPUS)
    """With ``--ray``: fractions let several attempts share a core (they mostly wait on the model)."""
    tolerance: float | None = Field(default=None, ge=0, le=1, allow_inf_nan=False)
    """The ``number`` grader's relative tolerance (0.01: within 1% of the expected number);
    ``None``: exact, as GAIA compares numbers. ``--tolerance`` and a task's own win."""


EVAL_TASK = "(each suite task's question; `task:` is not used by agentkit eval)"
"""What stands in for ``task`` in a config read with ``load_task(..., require_task=False)``."""


class Task(BaseModel):
    """One research run: the question and everything about how to run it."""

    model_config = SPEC_CONFIG

    task: str
    model: ModelSpec = Field(default_factory=ModelSpec)
    tools: list[_ToolName] = Field(default_factory=lambda: [*DEFAULT_TOOLS])
    """Unlisted: web_search, fetch, python, and recall in a long run or one with memory
    (:func:`~agentkit.task.sections.default_tools`)."""
    search: SearchSpec = Field(default_factory=SearchSpec)
    fetch: FetchSpec = Field(default_factory=FetchSpec)
    sandbox: SandboxSpec = Field(default_factory=SandboxSpec)
    limits: LimitsSpec = Field(default_factory=LimitsSpec)
    context: ContextSpec = Field(default_factory=ContextSpec)
    heavy: HeavySpec = Field(default_factory=HeavySpec)
    swarm: SwarmSpec = Field(default_factory=SwarmSpec)
    """How far the delegate tool may fan out (see :class:`~agentkit.task.sections.SwarmSpec`)."""
    output: OutputSpec = Field(default_factory=OutputSpec)
    images: list[str] = Field(default_factory=list, max_length=MAX_RUN_IMAGES)
    """Images that go with the task: file paths (relative to the task file) or http(s) URLs."""
    videos: list[str] = Field(default_factory=list, max_length=MAX_RUN_VIDEOS)
    """Videos that go with the task: file paths (relative to the task file) or http(s) URLs."""
    mcp: list[MCPServerSpec] = Field(default_factory=list)
    """MCP servers whose tools the agent uses (see :class:`~agentkit.task.mcp_servers.MCPServerSpec`)."""
    memory: MemorySpec | None = None
    """Earlier runs ``recall`` searches too (see :class:`~agentkit.task.sections.MemorySpec`)."""
    eval: EvalSpec | None = None

    @field_validator("mcp")
    @classmethod
    def _mcp_names_unique(cls, value: list[MCPServerSpec]) -> list[MCPServerSpec]:
        names = [s.name for s in value]
        for i, name in enumerate(names):
            if name in names[:i]:
                raise fail(f"the name of mcp[{names.index(name)}] again: server names must be unique", at=f"[{i}].name")
        return value

    @field_validator("memory")
    @classmethod
    def _memory_names_something(cls, value: MemorySpec | None) -> MemorySpec | None:
        if value is not None and not value.active:
            raise fail("give the runs to recall: runs: [RUN_ID, ...] or tag: NAME")
        return value

    @model_validator(mode="after")
    def _recall_in_long_runs(self) -> Task:
        """Tools not listed: the defaults for this run's length; memory turns recall on (written
        to ``__dict__``: assigning would validate the model again)."""
        memory = self.memory is not None
        if "tools" not in self.model_fields_set:
            self.__dict__["tools"] = list(
                default_tools(self.limits.max_steps, self.context.keep_tool_results, memory=memory)
            )
        elif memory and "recall" not in self.tools:
            self.__dict__["tools"] = [*self.tools, "recall"]
        return self

    @field_validator("task")
    @classmethod
    def _task_not_empty(cls, value: str) -> str:
        if not value.strip():
            raise fail("must not be empty: write the research question or instructions")
        return value

    @field_validator("images", "videos")
    @classmethod
    def _media_exist(cls, value: list[str], info: ValidationInfo) -> list[str]:
        what = "image" if info.field_name == "images" else "video"
        out: list[str] = []
        for i, item in enumerate(value):
            if item.startswith(("http://", "https://")):
                check_http_url(item)
                out.append(item)
                continue
            path = from_base_dir(item, info)
            if not path.is_file():
                raise fail(f"{what} not found (a path is relative to the task file's folder)", at=f"[{i}]")
            out.append(str(path))
        return out

    @field_validator("tools")
    @classmethod
    def _tools_unique(cls, value: list[str]) -> list[str]:
        for i, name in enumerate(value):
            if name in value[:i]:  # a known tool's name (validated), not the file's text
                raise fail(f"tool {name!r} is listed twice", at=f"[{i}]")
        return value

    # -- construction ---------------------------------------------------------------------

    @classmethod
    def from_mapping(
        cls,
        data: Mapping[str, Any],
        *,
        source: str = "<task>",
        base_dir: str | Path | None = None,
        stores: Iterable[str | Path | None] = (None,),
    ) -> Task:
        """Validate a mapping (e.g. parsed YAML). Relative paths (``task.file``,
        ``search.index``) resolve against ``base_dir`` (default: the working directory); a
        ``task.file`` in a run's work dir is refused (see :func:`load_task`'s ``stores``).
        Raises :class:`TaskFileError`, whose messages never quote the values."""
        if not isinstance(data, Mapping):
            raise TaskFileError(source, f"the top level must be a mapping of keys (got {kind_of(data)})")
        base = Path(base_dir) if base_dir is not None else None
        values = dict(data)
        if isinstance(values.get("task"), Mapping):
            values["task"] = _read_task_text(values["task"], base, source, stores)
        try:
            return cls.model_validate(values, context={"base_dir": base})
        except ValidationError as exc:
            problems = [_describe(err) for err in exc.errors(include_url=False)]
            field, message = problems[0]
            listed = [f"{f}: {m}" if f else m for f, m in problems]
            raise TaskFileError(source, message, field=field or None, problems=listed) from None

    def with_overrides(self, overrides: Mapping[str, object], *, source: str = "command line") -> Task:
        """A copy with dotted keys replaced, re-validated: ``{"limits.max_steps": 50}``."""
        data: dict[str, Any] = self.model_dump()
        if "tools" not in self.model_fields_set:
            del data["tools"]  # the defaults follow the overridden limits
        for dotted, value in overrides.items():
            *parents, leaf = dotted.split(".")
            node = data
            for i, part in enumerate(parents):
                child = node.get(part)
                if not isinstance(child, dict):
                    where = ".".join(parents[: i + 1])
                    raise TaskFileError(source, "cannot override: not a section of the task", field=where)
                node = child
            node[leaf] = value
        return Task.from_mapping(data, source=source)

    # -- derived facts --------------------------------------------------------------------

    @property
    def profile(self) -> ProviderProfile:
        """The provider profile named by ``model.provider``."""
        return get_profile(self.model.provider)

    @property
    def api_key_env(self) -> str | None:
        """The environment variable holding the API key: ``model.api_key_env`` or the profile's."""
        return self.model.api_key_env or self.profile.api_key_env

    @property
    def context_window(self) -> int:
        """``context.window`` or, when null, the profile's window for the model."""
        return self.profile.window_for(self.context.window, self.model.resolved_name)

    def check_api_key(self, env: Mapping[str, str] | None = None, *, source: str = "<task>") -> None:
        """Raise :class:`TaskFileError` when a key this task needs is not set in ``env``
        (default ``os.environ``): the model's, when the profile requires one or when
        ``model.api_key_env`` names a variable explicitly, and that of each keyed search service
        ``search.backend`` names (with ``web_search`` among the tools). Only variable names are
        reported."""
        environ = os.environ if env is None else env
        self._check_model_key(environ, source)
        if "web_search" not in self.tools or self.search.backend is None:
            return  # the automatic chain takes only the services whose key is set
        for name in self.search.backends:
            names = SEARCH_KEY_VARS.get(name, ())
            if names and not any(environ.get(v, "").strip() for v in names):
                raise TaskFileError(
                    source, f"{name} needs an API key: set {' or '.join(names)}", field="search.backend"
                )

    def _check_model_key(self, environ: Mapping[str, str], source: str) -> None:
        provider = self.model.provider
        explicit = self.model.api_key_env
        if not (self.profile.api_key_required or explicit):
            return
        var = self.api_key_env
        if var is None:
            raise TaskFileError(
                source,
                f"{provider} needs an API key: name its variable in model.api_key_env",
                field="model.provider",
            )
        if environ.get(var):
            return
        if explicit:
            raise TaskFileError(
                source,
                f"{var} is not set (the variable holding the {provider} API key)",
                field="model.api_key_env",
            )
        raise TaskFileError(
            source, f"{provider} needs an API key: set {var} (or model.api_key_env)", field="model.provider"
        )

    def redacted_config(self) -> dict[str, Any]:
        """The spec as JSON-ready data for traces. It holds env-var names, never key values;
        credentials inside URLs are masked."""
        data: dict[str, Any] = self.model_dump(mode="json", exclude={"eval"})  # a run needs no eval settings
        for section, key in (("model", "base_url"), ("search", "url")):
            if data[section][key] is not None:
                data[section][key] = redact_url(data[section][key])
        return data


# --- error formatting ----------------------------------------------------------------------
#
# A message names the file, the key path, the problem and what is expected; it never quotes
# a value or any other text of the file. The file may be no task file at all (``/etc/shadow``
# passed as a config) or hold a secret under a known key, and messages reach terminals, logs,
# MCP clients and the models behind them. Key names are shown only when they look like a
# name a person typed (``limts``); a key that does not is file content ("a key that is not a
# name"), and a file none of whose top-level keys is a task key is "not a task file".

_SIMPLE: dict[str, str] = {
    **dict.fromkeys(("int_type", "int_parsing", "int_from_float"), "must be a whole number"),
    **dict.fromkeys(("float_type", "float_parsing"), "must be a number"),
    **dict.fromkeys(("bool_type", "bool_parsing"), "must be true or false"),
    **dict.fromkeys(("model_type", "model_attributes_type", "dict_type"), "must be a mapping of keys"),
    "string_type": "must be a string",
    "list_type": "must be a list",
    "path_type": "must be a file path (a string)",
}
"""Type errors: the message, then the kind of value found (``(got a string)``)."""
_PLAIN: dict[str, str] = {"finite_number": "must be a finite number", "string_too_short": "must not be empty"}

_KEY_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_-]{0,39}")
"""A key shown in a message: what a person types as a key name, not a line of some file."""
_AT = re.compile(r"(\.?[A-Za-z_][A-Za-z0-9_-]{0,39}|\[\d+\])+")
NOT_A_NAME = "<key>"
"""Stands in the field path for a key that is not shown."""


def _shown_key(key: object) -> str:
    """``key`` when it looks like a name a person typed; else :data:`NOT_A_NAME` (a line of
    another file parsed as a key, a token used as one)."""
    if isinstance(key, str) and _KEY_NAME.fullmatch(key) and not token_kind(key) and not looks_opaque(key):
        return key
    return NOT_A_NAME


def _path(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{_shown_key(part)}" if out else _shown_key(part))
    return out


def _section_model(section: tuple[int | str, ...]) -> type[BaseModel] | None:
    """The spec class at a field path (``("model", "prices")`` -> PricesSpec)."""
    model: type[BaseModel] = Task
    for part in section:
        info = model.model_fields.get(str(part))
        if info is None:
            return None
        found = [a for a in (info.annotation, *get_args(info.annotation)) if _is_model(a)]
        if not found:
            return None
        model = found[0]
    return model


def _is_model(annotation: object) -> TypeGuard[type[BaseModel]]:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


def _unknown_key(section: tuple[int | str, ...], key: str) -> str:
    model = _section_model(section)
    # as a file spells them
    valid = [info.alias or name for name, info in model.model_fields.items()] if model is not None else []
    listed = f"valid keys: {', '.join(valid)}" if valid else ""
    if _shown_key(key) == NOT_A_NAME:
        return "a key that is not a name (not shown)" + (f"; {listed}" if listed else "")
    if key.lower().replace("-", "_") in ("api_key", "apikey", "key", "secret", "token"):
        return (
            "unknown key; never put a key in a task file: set an environment variable and name it in model.api_key_env"
        )
    close = difflib.get_close_matches(key, valid, n=1, cutoff=0.6)
    if close:
        return f"unknown key; did you mean {close[0]!r}?"
    return f"unknown key; {listed}" if listed else "unknown key"


def _describe(err: ErrorDetails) -> tuple[str, str]:
    """(field path, message) for one pydantic error, in our wording, without the value."""
    loc = tuple(err["loc"])
    kind = err["type"]
    ctx: dict[str, Any] = dict(err.get("ctx") or {})
    value = err["input"]
    field = _path(loc)
    if isinstance(value, HugeNumber):
        return field, f"number too large ({value.digits:,} digits)"
    if kind == "agentkit":
        at = str(ctx.get("at") or "")
        if at and not _AT.fullmatch(at):
            at = NOT_A_NAME
        if at:
            field = f"{field}{at}" if at.startswith("[") or not field else f"{field}.{at}"
        return field, str(ctx["message"])
    if kind == "missing":
        if loc == ("task",):
            return field, 'required: the research question or instructions, e.g. task: "..."'
        return field, "required"
    if kind == "extra_forbidden":
        parent = _path(loc[:-1])
        message = _unknown_key(loc[:-1], str(loc[-1]))
        return (parent, message) if field.endswith(NOT_A_NAME) else (field, message)
    if kind == "invalid_key":
        return _path(loc[:-1]), f"keys must be strings (got {kind_of(value)})"
    bounds = {"ge": "at least", "gt": "greater than", "le": "at most", "lt": "less than"}
    bound = next((k for k in bounds if k in ctx), None)
    if bound is not None and kind.startswith(("greater", "less")):
        return field, f"must be {bounds[bound]} {num(ctx[bound])}"
    if kind in _PLAIN:
        return field, _PLAIN[kind]
    if kind in _SIMPLE:
        message = _SIMPLE[kind]
        if loc == ("task",) and kind == "string_type":
            message = "must be a string (the research question) or a mapping {file: PATH}"
        return field, f"{message} (got {kind_of(value)})"
    text = str(err["msg"]).removeprefix("Value error, ").removeprefix("Assertion failed, ")
    return field, text[:1].lower() + text[1:]  # pydantic's own words (they name no input)


# --- loading -------------------------------------------------------------------------------


def _read_task_text(
    spec: Mapping[Any, Any], base: Path | None, source: str, stores: Iterable[str | Path | None]
) -> str:
    """``task: {file: question.md}`` -> the file's text (relative to the task file)."""
    for key in spec:
        if key != "file":
            close = difflib.get_close_matches(str(key), ["file"], n=1)
            hint = "did you mean 'file'?" if close else "the only key is 'file'"
            raise TaskFileError(source, f"unknown key; {hint}", field=f"task.{_shown_key(key)}")
    name = spec.get("file")
    if not isinstance(name, str) or not name.strip():
        raise TaskFileError(source, f"must be a file path (got {kind_of(name)})", field="task.file")
    path = Path(name).expanduser()
    if not path.is_absolute() and base is not None:
        path = base / path
    if sandbox_writable(path, stores):
        raise TaskFileError(source, REFUSAL, field="task.file")
    raw = read_bytes(path, source, "task.file", "the file")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise TaskFileError(source, "the file is not UTF-8 text", field="task.file") from None
    if not text.strip():
        raise TaskFileError(source, "the file is empty", field="task.file")
    return text


def load_task(
    path: str | Path,
    *,
    env: Mapping[str, str] | None = None,
    check_api_key: bool = True,
    require_task: bool = True,
    stores: Iterable[str | Path | None] = (None,),
) -> Task:
    """Read and validate a YAML task file. Raises :class:`TaskFileError` with one message
    naming the file and the field path (never a value or other text of the file). With
    ``check_api_key``, the provider's API-key variable must be set in ``env`` (default
    ``os.environ``). ``require_task=False`` reads an eval config, where each suite task brings
    its question: a missing ``task`` is :data:`EVAL_TASK`.

    A file where sandboxed code can write is refused before it is opened: in a run's work
    dir (any store's, by its marker; the work dirs of ``stores``, ``None`` being the store
    the environment names) or reached through a link there (see :mod:`agentkit.task._trust`).
    """
    source = str(path)
    file = Path(path)
    stores = list(stores)
    if sandbox_writable(file, stores):
        raise TaskFileError(source, REFUSAL)
    text = decode(read_bytes(file, source, None, allow_pipe=True), source)
    try:
        data = parse_yaml(text)
    except yaml.YAMLError as exc:
        raise yaml_error(exc, text, source) from None
    if data is None:
        raise TaskFileError(source, 'the file is empty; a task file needs at least: task: "your question"')
    if not isinstance(data, dict):
        raise TaskFileError(source, f"the top level must be a mapping of keys (got {kind_of(data)})")
    if data and not any(key in Task.model_fields for key in data):
        raise TaskFileError(
            source, f"not a task file: none of its top-level keys is a task key ({', '.join(Task.model_fields)})"
        )
    if not require_task and "task" not in data:
        data = {**data, "task": EVAL_TASK}
    task = Task.from_mapping(data, source=source, base_dir=file.parent, stores=stores)
    if check_api_key:
        task.check_api_key(env, source=source)
    return task
