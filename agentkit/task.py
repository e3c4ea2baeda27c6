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
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Annotated, Any, Literal, TypeGuard, get_args
from urllib.parse import urlsplit

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import ErrorDetails, PydanticCustomError

from agentkit._redact import redact_url
from agentkit._task_read import HugeNumber, decode, parse_yaml, read_bytes, yaml_error
from agentkit._task_read import TaskFileError as TaskFileError
from agentkit.llm.profiles import PROFILES, ProviderProfile, get_profile

TOOL_NAMES: tuple[str, ...] = ("web_search", "fetch", "python", "note", "delegate")
DEFAULT_TOOLS: tuple[str, ...] = ("web_search", "fetch", "python")
SEARCH_BACKENDS: tuple[str, ...] = ("duckduckgo", "searxng", "local")
AGGREGATORS: tuple[str, ...] = ("reflective", "vote", "select")
OUTPUT_FORMATS: tuple[str, ...] = ("md", "html")
TOOL_CHOICES: tuple[str, ...] = ("auto", "none")
ISOLATIONS: tuple[str, ...] = ("bwrap", "none")

_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


# --- small helpers -------------------------------------------------------------------------


def _fail(message: str, at: str = "") -> PydanticCustomError:
    """A validation error with our own wording; ``at`` extends the field path (``[1]``, ``url``)."""
    return PydanticCustomError("agentkit", "{message}", {"message": message, "at": at})


def _num(value: object) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _show(value: object, limit: int = 60) -> str:
    """A short, safe rendering of a user's value for a message."""
    if value is None:
        return "null"
    if isinstance(value, HugeNumber):
        return repr(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return _num(value)
    if isinstance(value, str):
        text = value if len(value) <= limit else value[: limit - 3] + "..."
        return repr(text)
    if isinstance(value, list | tuple):
        return "a list"
    if isinstance(value, Mapping):
        return "a mapping"
    return f"a {type(value).__name__}"


def _check_http_url(value: str | None) -> str | None:
    if value is None:
        return None
    try:
        parts = urlsplit(value)
        ok = parts.scheme in ("http", "https") and bool(parts.hostname)
    except ValueError:
        ok = False
    if not ok:
        raise _fail(f"must be an http(s) URL such as http://localhost:8000/v1 (got {_show(redact_url(value))})")
    return value


def _one_of(valid: tuple[str, ...], noun: str) -> Callable[[object], object]:
    def check(value: object) -> object:
        if isinstance(value, str) and value in valid:
            return value
        choices = ", ".join(valid)
        if not isinstance(value, str):
            raise _fail(f"must be one of {choices} (got {_show(value)})")
        close = difflib.get_close_matches(value, valid, n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise _fail(f"unknown {noun} {_show(value)}; {hint}valid {noun}s: {choices}")

    return check


def _one_of_or_null(valid: tuple[str, ...], noun: str) -> Callable[[object], object]:
    check = _one_of(valid, noun)
    return lambda value: None if value is None else check(value)


# --- the spec ------------------------------------------------------------------------------

_CONFIG = ConfigDict(extra="forbid", strict=True, validate_assignment=True, allow_inf_nan=False)

Aggregate = Literal["reflective", "vote", "select"]
OutputFormat = Literal["md", "html"]
Backend = Literal["duckduckgo", "searxng", "local"]
_Url = Annotated[str | None, BeforeValidator(_check_http_url)]
_ToolName = Annotated[str, BeforeValidator(_one_of(TOOL_NAMES, "tool"))]


class PricesSpec(BaseModel):
    """USD per million tokens, for a model the profiles do not price (self-hosted, new)."""

    model_config = _CONFIG

    input: float = Field(ge=0)
    cached_input: float | None = Field(default=None, ge=0)
    """Prompt tokens served from the provider's prefix cache; default: ``input``."""
    output: float = Field(ge=0)

    @model_validator(mode="after")
    def _cached_defaults_to_input(self) -> PricesSpec:
        if self.cached_input is None:
            self.cached_input = self.input
        return self


class ModelSpec(BaseModel):
    """Which model, through which provider profile (see ``agentkit.llm.profiles``)."""

    model_config = _CONFIG

    provider: str = "moonshot"
    name: str = Field(default="kimi-k2-thinking", min_length=1)
    base_url: _Url = None
    api_key_env: str | None = None
    temperature: float | None = None
    max_tokens: int | None = Field(default=None, gt=0)
    prices: PricesSpec | None = None
    stream: bool = True
    tool_choice: Annotated[
        Literal["auto", "none"] | None, BeforeValidator(_one_of_or_null(TOOL_CHOICES, "tool_choice"))
    ] = None
    """Sent on tool turns; the final-answer turn always asks for no tools, whatever this says."""

    @field_validator("provider", mode="before")
    @classmethod
    def _known_provider(cls, value: object) -> object:
        return _one_of(tuple(sorted(PROFILES)), "provider")(value)

    @field_validator("api_key_env")
    @classmethod
    def _env_name(cls, value: str | None) -> str | None:
        # Never echo this value: people paste the key itself here by mistake.
        if value is not None and not _ENV_NAME.fullmatch(value):
            raise _fail(
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
                raise _fail(f"must be between {_num(low)} and {_num(high)} for {provider} (got {_num(value)})")
        return value

    @model_validator(mode="after")
    def _custom_needs_url(self) -> ModelSpec:
        profile = get_profile(self.provider)
        if self.base_url is None and profile.base_url is None and profile.auth == "api_key":
            raise _fail(f"required for the {self.provider} provider (the endpoint's URL)", at="base_url")
        return self


def _check_backends(value: object) -> object:
    check = _one_of(SEARCH_BACKENDS, "search backend")
    if isinstance(value, list):
        if not value:
            raise _fail("must name at least one search backend")
        for i, item in enumerate(value):
            try:
                check(item)
            except PydanticCustomError as exc:
                raise _fail(str(exc), at=f"[{i}]") from None
            if item in value[:i]:
                raise _fail(f"{item!r} is listed twice", at=f"[{i}]")
        return value
    return check(value)


class SearchSpec(BaseModel):
    """Web search backend(s); a list is tried in order (fail-over)."""

    model_config = _CONFIG

    backend: Annotated[Backend | list[Backend], BeforeValidator(_check_backends)] = "duckduckgo"
    url: _Url = None
    index: Annotated[Path | None, Field(strict=False)] = None

    @property
    def backends(self) -> list[str]:
        """The backends in fail-over order."""
        return [self.backend] if isinstance(self.backend, str) else list(self.backend)

    @field_validator("index")
    @classmethod
    def _index_exists(cls, value: Path | None, info: ValidationInfo) -> Path | None:
        if value is None:
            return None
        base = (info.context or {}).get("base_dir")
        path = value.expanduser()
        if base is not None and not path.is_absolute():
            path = Path(base) / path
        if not path.exists():
            raise _fail(f"offline index not found: {path}")
        return path.absolute()

    @model_validator(mode="after")
    def _backends_have_their_settings(self) -> SearchSpec:
        if "searxng" in self.backends and self.url is None:
            raise _fail("required when the searxng backend is used (e.g. http://localhost:8888)", at="url")
        if "local" in self.backends and self.index is None:
            raise _fail(
                "required when the local backend is used: a folder of documents or an index file "
                "built with `agentkit index FOLDER`",
                at="index",
            )
        return self


class FetchSpec(BaseModel):
    model_config = _CONFIG

    allow_private_hosts: bool = False


class SandboxSpec(BaseModel):
    model_config = _CONFIG

    network: bool = False
    memory_mb: int = Field(default=2048, ge=128)
    timeout_s: float = Field(default=120.0, gt=0)
    isolation: Annotated[Literal["bwrap", "none"], BeforeValidator(_one_of(ISOLATIONS, "isolation"))] = "bwrap"
    """``none`` runs Python without a sandbox (the task opts out of isolation)."""


class LimitsSpec(BaseModel):
    model_config = _CONFIG

    max_steps: int = Field(default=300, ge=1)
    max_cost_usd: float | None = Field(default=None, gt=0)
    max_tokens: int | None = Field(default=None, gt=0)
    max_seconds: float | None = Field(default=None, gt=0)


class ContextSpec(BaseModel):
    model_config = _CONFIG

    window: int | None = Field(default=None, gt=0)
    keep_tool_results: int | None = Field(default=None, ge=1)


class HeavySpec(BaseModel):
    model_config = _CONFIG

    trajectories: int = Field(default=1, ge=1, le=64)
    aggregate: Annotated[Aggregate, BeforeValidator(_one_of(AGGREGATORS, "aggregator"))] = "reflective"


class OutputSpec(BaseModel):
    model_config = _CONFIG

    dir: Annotated[Path | None, Field(strict=False)] = None
    report: bool = True
    format: Annotated[OutputFormat, BeforeValidator(_one_of(OUTPUT_FORMATS, "output format"))] = "md"


class Task(BaseModel):
    """One research run: the question and everything about how to run it."""

    model_config = _CONFIG

    task: str
    model: ModelSpec = Field(default_factory=ModelSpec)
    tools: list[_ToolName] = Field(default_factory=lambda: [*DEFAULT_TOOLS])
    search: SearchSpec = Field(default_factory=SearchSpec)
    fetch: FetchSpec = Field(default_factory=FetchSpec)
    sandbox: SandboxSpec = Field(default_factory=SandboxSpec)
    limits: LimitsSpec = Field(default_factory=LimitsSpec)
    context: ContextSpec = Field(default_factory=ContextSpec)
    heavy: HeavySpec = Field(default_factory=HeavySpec)
    output: OutputSpec = Field(default_factory=OutputSpec)

    @field_validator("task")
    @classmethod
    def _task_not_empty(cls, value: str) -> str:
        if not value.strip():
            raise _fail("must not be empty: write the research question or instructions")
        return value

    @field_validator("tools")
    @classmethod
    def _tools_unique(cls, value: list[str]) -> list[str]:
        for i, name in enumerate(value):
            if name in value[:i]:
                raise _fail(f"tool {name!r} is listed twice", at=f"[{i}]")
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
        """``context.window`` or, when null, the profile's window."""
        return self.context.window or self.profile.context_window

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
        data: dict[str, Any] = self.model_dump(mode="json")
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
    return _show(value)


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
        return _path(loc[:-1]), f"keys must be strings (got {_show(value)})"
    bounds = {"ge": "at least", "gt": "greater than", "le": "at most", "lt": "less than"}
    bound = next((k for k in bounds if k in ctx), None)
    if bound is not None and kind.startswith(("greater", "less")):
        message = f"must be {bounds[bound]} {_num(ctx[bound])}"
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
    return field, f"{message} (got {_show(shown)})"


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
        raise TaskFileError(source, f"must be a file path (got {_show(name)})", field="task.file")
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


def load_task(path: str | Path, *, env: Mapping[str, str] | None = None, check_api_key: bool = True) -> Task:
    """Read and validate a YAML task file. Raises :class:`TaskFileError` with one message
    naming the file and the field path. With ``check_api_key``, the provider's API-key
    variable must be set in ``env`` (default ``os.environ``)."""
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
    task = Task.from_mapping(data, source=source, base_dir=file.parent)
    if check_api_key:
        task.check_api_key(env, source=source)
    return task
