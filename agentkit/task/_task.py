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
from collections.abc import Mapping
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

from agentkit._redact import redact_url
from agentkit.llm.models import model_traits, option_problem
from agentkit.llm.profiles import PROFILES, ProviderProfile, get_profile
from agentkit.task._read import HugeNumber, decode, parse_yaml, read_bytes, yaml_error
from agentkit.task._read import TaskFileError as TaskFileError
from agentkit.task.sections import (
    DEFAULT_TOOLS,
    MAX_RUN_IMAGES,
    SPEC_CONFIG,
    TOOL_CHOICES,
    TOOL_NAMES,
    ContextSpec,
    FetchSpec,
    HeavySpec,
    LimitsSpec,
    MCPServerSpec,
    OutputSpec,
    PricesSpec,
    SandboxSpec,
    SearchSpec,
    SwarmSpec,
    check_http_url,
    fail,
    from_base_dir,
    num,
    one_of,
    one_of_or_null,
    show,
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
    max_tokens: int | None = Field(default=None, gt=0)
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
                raise fail(f"must be between {num(low)} and {num(high)} for {provider} (got {num(value)})")
        return value

    @model_validator(mode="after")
    def _custom_needs_url(self) -> ModelSpec:
        profile = get_profile(self.provider)
        if self.base_url is None and profile.base_url is None and profile.auth == "api_key":
            raise fail(f"required for the {self.provider} provider (the endpoint's URL)", at="base_url")
        return self

    @model_validator(mode="after")
    def _options_fit_the_model(self) -> ModelSpec:
        model = self.resolved_name
        problem = option_problem(
            model_traits(model),
            model,
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

    max_cost_usd: float | None = Field(default=None, gt=0)
    judge: ModelSpec | None = None
    """The judge grader's model (default: the task's ``model``)."""
    cpus_per_attempt: float = Field(default=1.0, gt=0)
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
    mcp: list[MCPServerSpec] = Field(default_factory=list)
    """MCP servers whose tools the agent uses (see :class:`~agentkit.task.sections.MCPServerSpec`)."""
    eval: EvalSpec | None = None

    @field_validator("mcp")
    @classmethod
    def _mcp_names_unique(cls, value: list[MCPServerSpec]) -> list[MCPServerSpec]:
        names = [s.name for s in value]
        for i, name in enumerate(names):
            if name in names[:i]:
                raise fail(f"server name {name!r} is used twice", at=f"[{i}].name")
        return value

    @field_validator("task")
    @classmethod
    def _task_not_empty(cls, value: str) -> str:
        if not value.strip():
            raise fail("must not be empty: write the research question or instructions")
        return value

    @field_validator("images")
    @classmethod
    def _images_exist(cls, value: list[str], info: ValidationInfo) -> list[str]:
        out: list[str] = []
        for i, item in enumerate(value):
            if item.startswith(("http://", "https://")):
                check_http_url(item)
                out.append(item)
                continue
            path = from_base_dir(item, info)
            if not path.is_file():
                raise fail(f"image not found: {path}", at=f"[{i}]")
            out.append(str(path))
        return out

    @field_validator("tools")
    @classmethod
    def _tools_unique(cls, value: list[str]) -> list[str]:
        for i, name in enumerate(value):
            if name in value[:i]:
                raise fail(f"tool {name!r} is listed twice", at=f"[{i}]")
        return value

    # -- construction ---------------------------------------------------------------------

    @classmethod
    def from_mapping(
        cls, data: Mapping[str, Any], *, source: str = "<task>", base_dir: str | Path | None = None
    ) -> Task:
        """Validate a mapping (e.g. parsed YAML). Relative paths (``task.file``,
        ``search.index``) resolve against ``base_dir`` (default: the working directory).
        Raises :class:`TaskFileError`."""
        if not isinstance(data, Mapping):
            raise TaskFileError(source, f"the top level must be a mapping of keys (got {_kind(data)})")
        base = Path(base_dir) if base_dir is not None else None
        values = dict(data)
        if isinstance(values.get("task"), Mapping):
            values["task"] = _read_task_text(values["task"], base, source)
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
        """Raise :class:`TaskFileError` when the key this task needs is not set in ``env``
        (default ``os.environ``). A key is needed when the profile requires one or when
        ``model.api_key_env`` names a variable explicitly. Only variable names are reported."""
        environ = os.environ if env is None else env
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

_SIMPLE: dict[str, str] = {
    **dict.fromkeys(("int_type", "int_parsing", "int_from_float"), "must be a whole number"),
    **dict.fromkeys(("float_type", "float_parsing"), "must be a number"),
    **dict.fromkeys(("bool_type", "bool_parsing"), "must be true or false"),
    **dict.fromkeys(("model_type", "model_attributes_type", "dict_type"), "must be a mapping of keys"),
    "finite_number": "must be a finite number",
    "string_type": "must be a string",
    "list_type": "must be a list",
    "path_type": "must be a file path (a string)",
    "string_too_short": "must not be empty",
}


def _kind(value: object) -> str:
    if isinstance(value, list | tuple):
        return "a list"
    if isinstance(value, str):
        return "a string"
    if value is None:
        return "nothing"
    return show(value)


def _path(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
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
    if model is None:
        return "unknown key"
    valid = list(model.model_fields)
    if key.lower().replace("-", "_") in ("api_key", "apikey", "key", "secret", "token"):
        return (
            "unknown key; never put a key in a task file: set an environment variable and name it in model.api_key_env"
        )
    close = difflib.get_close_matches(key, valid, n=1, cutoff=0.6)
    if close:
        return f"unknown key; did you mean {close[0]!r}?"
    return f"unknown key; valid keys: {', '.join(valid)}"


def _describe(err: ErrorDetails) -> tuple[str, str]:
    """(field path, message) for one pydantic error, in our wording."""
    loc = tuple(err["loc"])
    kind = err["type"]
    ctx: dict[str, Any] = dict(err.get("ctx") or {})
    value = err["input"]
    field = _path(loc)
    if isinstance(value, HugeNumber):
        return field, f"number too large ({value.digits:,} digits)"
    if kind == "agentkit":
        at = str(ctx.get("at") or "")
        if at:
            field = f"{field}{at}" if at.startswith("[") or not field else f"{field}.{at}"
        return field, str(ctx["message"])
    if kind == "missing":
        if loc == ("task",):
            return field, 'required: the research question or instructions, e.g. task: "..."'
        return field, "required"
    if kind == "extra_forbidden":
        return field, _unknown_key(loc[:-1], str(loc[-1]))
    if kind == "invalid_key":
        return _path(loc[:-1]), f"keys must be strings (got {show(value)})"
    bounds = {"ge": "at least", "gt": "greater than", "le": "at most", "lt": "less than"}
    bound = next((k for k in bounds if k in ctx), None)
    if bound is not None and kind.startswith(("greater", "less")):
        message = f"must be {bounds[bound]} {num(ctx[bound])}"
    elif kind in _SIMPLE:
        message = _SIMPLE[kind]
        if loc == ("task",) and kind == "string_type":
            message = "must be a string (the research question) or a mapping {file: PATH}"
    else:
        text = str(err["msg"]).removeprefix("Value error, ").removeprefix("Assertion failed, ")
        message = text[:1].lower() + text[1:]
    if field == "model.api_key_env":
        return field, message  # never echo: it may be the secret itself
    shown = redact_url(value) if isinstance(value, str) and field.endswith("url") else value
    return field, f"{message} (got {show(shown)})"


# --- loading -------------------------------------------------------------------------------


def _read_task_text(spec: Mapping[Any, Any], base: Path | None, source: str) -> str:
    """``task: {file: question.md}`` -> the file's text (relative to the task file)."""
    for key in spec:
        if key != "file":
            close = difflib.get_close_matches(str(key), ["file"], n=1)
            hint = "did you mean 'file'?" if close else "the only key is 'file'"
            raise TaskFileError(source, f"unknown key; {hint}", field=f"task.{key}")
    name = spec.get("file")
    if not isinstance(name, str) or not name.strip():
        raise TaskFileError(source, f"must be a file path (got {show(name)})", field="task.file")
    path = Path(name).expanduser()
    if not path.is_absolute() and base is not None:
        path = base / path
    raw = read_bytes(path, source, "task.file", f": {path}")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise TaskFileError(source, f"{path} is not UTF-8 text", field="task.file") from None
    if not text.strip():
        raise TaskFileError(source, f"{path} is empty", field="task.file")
    return text


def load_task(
    path: str | Path, *, env: Mapping[str, str] | None = None, check_api_key: bool = True, require_task: bool = True
) -> Task:
    """Read and validate a YAML task file. Raises :class:`TaskFileError` with one message
    naming the file and the field path. With ``check_api_key``, the provider's API-key
    variable must be set in ``env`` (default ``os.environ``). ``require_task=False`` reads an
    eval config, where each suite task brings its question: a missing ``task`` is
    :data:`EVAL_TASK`."""
    source = str(path)
    file = Path(path)
    text = decode(read_bytes(file, source, None, allow_pipe=True), source)
    try:
        data = parse_yaml(text)
    except yaml.YAMLError as exc:
        raise yaml_error(exc, text, source) from None
    if data is None:
        raise TaskFileError(source, 'the file is empty; a task file needs at least: task: "your question"')
    if not isinstance(data, dict):
        raise TaskFileError(source, f"the top level must be a mapping of keys (got {_kind(data)})")
    if not require_task and "task" not in data:
        data = {**data, "task": EVAL_TASK}
    task = Task.from_mapping(data, source=source, base_dir=file.parent)
    if check_api_key:
        task.check_api_key(env, source=source)
    return task
