"""The typed sections of a run's configuration, shared by task files and the Python API.

One definition of each section (limits, context, sandbox, fetch, heavy, output, prices), of
the names they accept (tools, aggregators, isolation modes...) and of their validation, so a
value is checked once, the same way, wherever it comes from. Messages are written for the
person who wrote the value; ``agentkit.task`` adds the file and field path.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal, TypeVar
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from agentkit.task._read import SchemaProblem, kind_of, output_schema

TOOL_NAMES: tuple[str, ...] = ("web_search", "fetch", "python", "recall", "note", "delegate")
DEFAULT_TOOLS: tuple[str, ...] = ("web_search", "fetch", "python")
KEEP_TOOL_RESULTS = 10  # the default budget (BatchPrune) hides older results once twice as many show
SEARCH_BACKENDS: tuple[str, ...] = ("duckduckgo", "searxng", "local", "tavily", "exa", "brave", "serper", "jina")
SEARCH_KEY_VARS: dict[str, tuple[str, ...]] = {
    "tavily": ("TAVILY_API_KEY",),
    "exa": ("EXA_API_KEY",),
    "brave": ("BRAVE_API_KEY", "BRAVE_SEARCH_API_KEY"),
    "serper": ("SERPER_API_KEY",),
    "jina": ("JINA_API_KEY",),
}
"""The keyed search backends, in the automatic chain's order, and the environment variables
their API key is read from (the first one set wins). Keys are read from nowhere else."""
AGGREGATORS: tuple[str, ...] = ("reflective", "vote", "select")
OUTPUT_FORMATS: tuple[str, ...] = ("md", "html")
TOOL_CHOICES: tuple[str, ...] = ("auto", "none")
ISOLATIONS: tuple[str, ...] = ("bwrap", "none")

MAX_TRAJECTORIES = 64
# Every count and limit is bounded: a value far beyond any use would only reach code that
# breaks on it (a 64-bit SQLite column, orjson, a timer) as an internal error. Bounded, it is
# one line naming the field, and JSON schemas (the MCP tools') state the range.
MAX_STEPS = 10_000  # model turns of one run: limits.max_steps, swarm.max_steps
MAX_WINDOW_TOKENS = 2**24  # context.window, model.max_tokens: 16x K3's window
MAX_RUN_TOKENS = 10**12  # limits.max_tokens
MAX_KEPT_RESULTS = 100_000  # context.keep_tool_results
MAX_MEMORY_MB = 2**20  # sandbox.memory_mb: 1 TB
MAX_TIMEOUT_S = 7 * 86_400.0  # one tool call or server start: a week
MAX_RUN_SECONDS = 365 * 86_400.0  # limits.max_seconds: a year
MAX_USD = 1_000_000.0  # cost budgets and prices per million tokens
MAX_CPUS = 1_024.0  # eval.cpus_per_attempt
MAX_RUN_IMAGES = 16
"""Images given with one task (``images:`` in a task file, ``agent.run(images=...)``)."""
MAX_RUN_VIDEOS = 4
"""Videos given with one task (``videos:`` in a task file, ``agent.run(videos=...)``): each one
is sent again with every request."""


def fail(message: str, at: str = "") -> PydanticCustomError:
    """A validation error with our own wording; ``at`` extends the field path (``[1]``, ``url``)."""
    return PydanticCustomError("agentkit", "{message}", {"message": message, "at": at})


def num(value: object) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def from_base_dir(value: str | Path, info: ValidationInfo) -> Path:
    """A path from a task file, made absolute against the file's folder (validation context
    ``base_dir``; the working directory when there is none); ``~`` is expanded."""
    path = Path(value).expanduser()
    base = (info.context or {}).get("base_dir")
    if base is not None and not path.is_absolute():
        path = Path(base) / path
    return path.absolute()


def check_http_url(value: str | None) -> str | None:
    if value is None:
        return None
    try:
        parts = urlsplit(value)
        ok = parts.scheme in ("http", "https") and bool(parts.hostname)
    except ValueError:
        ok = False
    if not ok:
        raise fail("must be an http(s) URL such as http://localhost:8000/v1")
    return value


def one_of(valid: tuple[str, ...], noun: str) -> Callable[[object], object]:
    def check(value: object) -> object:
        if isinstance(value, str) and value in valid:
            return value
        choices = ", ".join(valid)
        if not isinstance(value, str):
            raise fail(f"must be one of {choices} (got {kind_of(value)})")
        close = difflib.get_close_matches(value, valid, n=1)  # a name of ours, never the value
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise fail(f"unknown {noun}; {hint}valid {noun}s: {choices}")

    return check


def one_of_or_null(valid: tuple[str, ...], noun: str) -> Callable[[object], object]:
    check = one_of(valid, noun)
    return lambda value: None if value is None else check(value)


SPEC_CONFIG = ConfigDict(extra="forbid", strict=True, validate_assignment=True, allow_inf_nan=False)

Aggregate = Literal["reflective", "vote", "select"]
OutputFormat = Literal["md", "html"]
Backend = Literal["duckduckgo", "searxng", "local", "tavily", "exa", "brave", "serper", "jina"]


OptionalUrl = Annotated[str | None, BeforeValidator(check_http_url)]


def _check_backends(value: object) -> object:
    if value is None:
        return None
    check = one_of(SEARCH_BACKENDS, "search backend")
    if isinstance(value, list):
        if not value:
            raise fail("must name at least one search backend")
        for i, item in enumerate(value):
            try:
                check(item)
            except PydanticCustomError as exc:
                raise fail(str(exc), at=f"[{i}]") from None
            if item in value[:i]:
                raise fail(f"{item!r} is listed twice", at=f"[{i}]")
        return value
    return check(value)


class SearchSpec(BaseModel):
    """Web search backend(s); a list is tried in order (fail-over). Unnamed (``None``), the
    chain is automatic: every keyed backend whose key variable is set (:data:`SEARCH_KEY_VARS`),
    then duckduckgo, then searxng when ``url`` is given."""

    model_config = SPEC_CONFIG

    backend: Annotated[Backend | list[Backend] | None, BeforeValidator(_check_backends)] = None
    url: OptionalUrl = None
    index: Annotated[Path | None, Field(strict=False)] = None

    @property
    def backends(self) -> list[str]:
        """The backends in fail-over order (the automatic chain reads ``os.environ``)."""
        return self.backends_in(os.environ)

    def backends_in(self, environ: Mapping[str, str]) -> list[str]:
        """The backends in fail-over order, the automatic chain judged by ``environ``."""
        if self.backend is None:
            chain = [name for name, names in SEARCH_KEY_VARS.items() if any(environ.get(v, "").strip() for v in names)]
            return [*chain, "duckduckgo", *(["searxng"] if self.url else [])]
        return [self.backend] if isinstance(self.backend, str) else list(self.backend)

    @field_validator("index")
    @classmethod
    def _index_exists(cls, value: Path | None, info: ValidationInfo) -> Path | None:
        if value is None:
            return None
        path = from_base_dir(value, info)
        if not path.exists():
            raise fail("offline index not found (a path is relative to the task file's folder)")
        return path

    @model_validator(mode="after")
    def _backends_have_their_settings(self) -> SearchSpec:
        if "searxng" in self.backends and self.url is None:
            raise fail("required when the searxng backend is used (e.g. http://localhost:8888)", at="url")
        if "local" in self.backends and self.index is None:
            raise fail(
                "required when the local backend is used: a folder of documents or an index file "
                "built with `agentkit index FOLDER`",
                at="index",
            )
        return self


class PricesSpec(BaseModel):
    """USD per million tokens, for a model the profiles do not price (self-hosted, new)."""

    model_config = SPEC_CONFIG

    input: float = Field(ge=0, le=MAX_USD)
    cached_input: float | None = Field(default=None, ge=0, le=MAX_USD)
    """Prompt tokens served from the provider's prefix cache; default: ``input``."""
    output: float = Field(ge=0, le=MAX_USD)

    @model_validator(mode="after")
    def _cached_defaults_to_input(self) -> PricesSpec:
        if self.cached_input is None:
            self.cached_input = self.input
        return self


class FetchSpec(BaseModel):
    model_config = SPEC_CONFIG

    allow_private_hosts: bool = False
    respect_robots: bool = True
    """Honour each site's robots.txt (RFC 9309); false reads pages it disallows."""


class SandboxSpec(BaseModel):
    model_config = SPEC_CONFIG

    network: bool = False
    memory_mb: int = Field(default=2048, ge=128, le=MAX_MEMORY_MB)
    timeout_s: float = Field(default=120.0, gt=0, le=MAX_TIMEOUT_S)
    isolation: Annotated[Literal["bwrap", "none"], BeforeValidator(one_of(ISOLATIONS, "isolation"))] = "bwrap"
    """``none`` runs Python without a sandbox (the task opts out of isolation)."""


class LimitsSpec(BaseModel):
    model_config = SPEC_CONFIG

    max_steps: int = Field(default=300, ge=1, le=MAX_STEPS)
    max_cost_usd: float | None = Field(default=None, gt=0, le=MAX_USD)
    max_tokens: int | None = Field(default=None, gt=0, le=MAX_RUN_TOKENS)
    max_seconds: float | None = Field(default=None, gt=0, le=MAX_RUN_SECONDS)


class ContextSpec(BaseModel):
    model_config = SPEC_CONFIG

    window: int | None = Field(default=None, gt=0, le=MAX_WINDOW_TOKENS)
    keep_tool_results: int | None = Field(default=None, ge=1, le=MAX_KEPT_RESULTS)
    max_prompt_tokens: int | None = Field(default=None, ge=1024, le=MAX_WINDOW_TOKENS)
    """The cost target: no request's prompt is larger (by agentkit's estimate, which errs on
    the high side). Unset: a default for models priced like Kimi K3, else the window."""


class HeavySpec(BaseModel):
    model_config = SPEC_CONFIG

    trajectories: int = Field(default=1, ge=1, le=MAX_TRAJECTORIES)
    aggregate: Annotated[Aggregate, BeforeValidator(one_of(AGGREGATORS, "aggregator"))] = "reflective"


class OutputSpec(BaseModel):
    model_config = SPEC_CONFIG | ConfigDict(serialize_by_alias=True)  # `schema` in files and dumps

    dir: Annotated[Path | None, Field(strict=False)] = None
    report: bool = True
    format: Annotated[OutputFormat, BeforeValidator(one_of(OUTPUT_FORMATS, "output format"))] = "md"
    json_schema: dict[str, Any] | None = Field(default=None, alias="schema")
    """``schema`` in a task file: the JSON schema the final answer must match, inline or the path
    of a file holding it (relative to the task file); the run's ``output`` is then the answer's
    JSON (agentkit.run._output). Checked when the file is read (agentkit.task._read)."""

    @field_validator("json_schema", mode="before")
    @classmethod
    def _a_json_schema(cls, value: object, info: ValidationInfo) -> dict[str, Any] | None:
        try:
            return output_schema(value, (info.context or {}).get("base_dir"))
        except SchemaProblem as exc:
            raise fail(str(exc), at=exc.at) from None


# --- the swarm (delegate) -------------------------------------------------------------------


class SwarmSpec(BaseModel):
    """How far the ``delegate`` tool may fan out (``swarm:`` in a task file; in Python,
    ``Agent(delegate=True, settings={"swarm": {...}})``). Sub-agents are child runs."""

    model_config = SPEC_CONFIG

    max_children: int = Field(default=100, ge=1, le=10_000)
    """Sub-agents one run may start in all (every turn, every delegate call)."""
    max_per_turn: int = Field(default=100, ge=1, le=10_000)
    """Sub-agents one turn may start, over all its delegate calls (the fan-out cap)."""
    concurrency: int = Field(default=16, ge=1, le=1_000)
    """Sub-agents of one run that run at once; the rest wait for a place."""
    max_depth: int = Field(default=2, ge=1, le=8)
    """How deep sub-agents nest: 1 lets only the lead delegate, 2 lets its sub-agents delegate too."""
    max_steps: int = Field(default=40, ge=1, le=MAX_STEPS)
    """A sub-agent's step limit, unless its subtask asks for fewer (never above its parent's)."""


# --- memory (recall across runs) -----------------------------------------------------------


def default_tools(max_steps: int, keep_tool_results: int | None = None, *, memory: bool = False) -> tuple[str, ...]:
    """The tools of a run that lists none: web_search, fetch, python, and ``recall`` when the run
    has memory or is long: it can make more tool calls than the context budget keeps in view
    (``max_steps`` above twice ``keep_tool_results``, 20 by default; past that, old results are hidden)."""
    long_run = max_steps > 2 * (keep_tool_results or KEEP_TOOL_RESULTS)
    return (*DEFAULT_TOOLS, "recall") if memory or long_run else DEFAULT_TOOLS


def _check_tag(value: str | None) -> str | None:
    import re

    if value is not None and not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}", value):
        raise fail("must be 1-64 letters, digits, '.', '_' or '-', first a letter or digit")
    return value


class MemorySpec(BaseModel):
    """Earlier runs the ``recall`` tool searches besides this run (``memory:`` in a task file,
    ``Agent(memory=...)``), read-only, in the same store, with their child runs: ``runs`` by id
    (or unique prefix), and ``tag``: every run tagged NAME. A run with ``tag`` is tagged NAME
    itself, so each run of a series recalls the ones before. Either turns ``recall`` on."""

    model_config = SPEC_CONFIG

    runs: list[str] = Field(default_factory=list, max_length=100)
    tag: Annotated[str | None, AfterValidator(_check_tag)] = None

    @field_validator("runs")
    @classmethod
    def _run_ids(cls, value: list[str]) -> list[str]:
        for i, run_id in enumerate(value):
            if not run_id.strip() or run_id != run_id.strip():
                raise fail("must be a run id as `agentkit runs` shows it (no spaces around it)", at=f"[{i}]")
            if run_id in value[:i]:
                raise fail(f"the run of memory.runs[{value.index(run_id)}] again: list each run once", at=f"[{i}]")
        return value

    @property
    def active(self) -> bool:
        return bool(self.runs or self.tag)

    @property
    def own_tags(self) -> list[str]:  # a top-level run's
        return [self.tag] if self.tag else []


SectionT = TypeVar("SectionT", bound=BaseModel)


class ToolSettings(Mapping[str, Any]):
    """The task's tool sections as tools read them: ``search``, ``fetch`` and ``sandbox`` typed
    (:class:`SearchSpec`, :class:`FetchSpec`, :class:`SandboxSpec`), any other key kept as given
    for a user's own tools (``settings["my_tool"]``).

    Each typed section is validated once, on first use, and kept; a bad one raises
    ``ValueError`` naming the field (``search.url: required when ...``). An :class:`~agentkit.Agent`
    calls :meth:`validated` when it is built, so a bad setting fails before any run starts; a
    :class:`~agentkit.tools.ToolContext` made by hand from a mapping reports it when a tool
    reads the section.
    """

    SECTIONS: ClassVar[dict[str, type[BaseModel]]] = {
        "search": SearchSpec,
        "fetch": FetchSpec,
        "sandbox": SandboxSpec,
        "swarm": SwarmSpec,
        "memory": MemorySpec,
    }

    def __init__(self, data: Mapping[str, Any] | None = None) -> None:
        self._data: dict[str, Any] = {}
        self._typed: dict[str, BaseModel] = {}
        for key, value in (data or {}).items():
            if isinstance(value, BaseModel) and type(value) is self.SECTIONS.get(key):
                self._typed[key] = value
                self._data[key] = value.model_dump(mode="json", exclude_defaults=True)
            else:
                self._data[key] = value

    @classmethod
    def of(cls, settings: ToolSettings | Mapping[str, Any] | None) -> ToolSettings:
        return settings if isinstance(settings, ToolSettings) else cls(settings)

    def section(self, name: str, model: type[SectionT]) -> SectionT:
        """Section ``name`` validated with ``model`` (its defaults when absent)."""
        cached = self._typed.get(name)
        if isinstance(cached, model):
            return cached
        raw = self._data.get(name)
        try:
            typed = model.model_validate(raw if raw is not None else {})
        except ValidationError as exc:
            raise ValueError(first_problem(name, exc)) from None
        self._typed[name] = typed
        return typed

    @property
    def search(self) -> SearchSpec:
        return self.section("search", SearchSpec)

    @property
    def fetch(self) -> FetchSpec:
        return self.section("fetch", FetchSpec)

    @property
    def sandbox(self) -> SandboxSpec:
        return self.section("sandbox", SandboxSpec)

    @property
    def swarm(self) -> SwarmSpec:
        return self.section("swarm", SwarmSpec)

    @property
    def memory(self) -> MemorySpec:
        return self.section("memory", MemorySpec)

    def validated(self) -> ToolSettings:
        """Self, after checking every typed section (raises ``ValueError`` on the first bad one)."""
        for name, model in self.SECTIONS.items():
            self.section(name, model)
        return self

    def as_data(self) -> dict[str, Any]:
        """Plain JSON-ready data (as stored in a run's config)."""
        return dict(self._data)

    def __getitem__(self, key: str) -> Any:
        return self._data[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __repr__(self) -> str:
        return f"ToolSettings({self._data!r})"


def first_problem(section: str, exc: ValidationError) -> str:
    err = exc.errors(include_url=False)[0]
    path = ".".join([section, *(str(p) for p in err["loc"])])
    ctx = err.get("ctx") or {}
    if err["type"] == "agentkit":
        at = str(ctx.get("at") or "")
        path = f"{path}{at}" if at.startswith("[") else f"{path}.{at}" if at else path
        return f"{path}: {ctx['message']}"
    return f"{path}: {err['msg']}"


def settings_section(settings: Mapping[str, Any] | None, name: str, model: type[SectionT]) -> SectionT:
    """Section ``name`` of a run's settings, validated with its one definition here: defaults
    come from the model, a bad value raises ``ValueError``."""
    return ToolSettings.of(settings).section(name, model)
