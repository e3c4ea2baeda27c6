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

from agentkit._redact import redact_url, secret_argument, token_kind
from agentkit.task._read import HugeNumber

TOOL_NAMES: tuple[str, ...] = ("web_search", "fetch", "python", "note", "delegate")
DEFAULT_TOOLS: tuple[str, ...] = ("web_search", "fetch", "python")
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
MAX_RUN_IMAGES = 16
"""Images given with one task (``images:`` in a task file, ``agent.run(images=...)``)."""


def fail(message: str, at: str = "") -> PydanticCustomError:
    """A validation error with our own wording; ``at`` extends the field path (``[1]``, ``url``)."""
    return PydanticCustomError("agentkit", "{message}", {"message": message, "at": at})


def num(value: object) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def show(value: object, limit: int = 60) -> str:
    """A short, safe rendering of a user's value for a message."""
    if value is None:
        return "null"
    if isinstance(value, HugeNumber):
        return repr(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return num(value)
    if isinstance(value, str):
        text = value if len(value) <= limit else value[: limit - 3] + "..."
        return repr(text)
    if isinstance(value, list | tuple):
        return "a list"
    if isinstance(value, Mapping):
        return "a mapping"
    return f"a {type(value).__name__}"


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
        raise fail(f"must be an http(s) URL such as http://localhost:8000/v1 (got {show(redact_url(value))})")
    return value


def one_of(valid: tuple[str, ...], noun: str) -> Callable[[object], object]:
    def check(value: object) -> object:
        if isinstance(value, str) and value in valid:
            return value
        choices = ", ".join(valid)
        if not isinstance(value, str):
            raise fail(f"must be one of {choices} (got {show(value)})")
        close = difflib.get_close_matches(value, valid, n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise fail(f"unknown {noun} {show(value)}; {hint}valid {noun}s: {choices}")

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
            raise fail(f"offline index not found: {path}")
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

    input: float = Field(ge=0)
    cached_input: float | None = Field(default=None, ge=0)
    """Prompt tokens served from the provider's prefix cache; default: ``input``."""
    output: float = Field(ge=0)

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
    memory_mb: int = Field(default=2048, ge=128)
    timeout_s: float = Field(default=120.0, gt=0)
    isolation: Annotated[Literal["bwrap", "none"], BeforeValidator(one_of(ISOLATIONS, "isolation"))] = "bwrap"
    """``none`` runs Python without a sandbox (the task opts out of isolation)."""


class LimitsSpec(BaseModel):
    model_config = SPEC_CONFIG

    max_steps: int = Field(default=300, ge=1)
    max_cost_usd: float | None = Field(default=None, gt=0)
    max_tokens: int | None = Field(default=None, gt=0)
    max_seconds: float | None = Field(default=None, gt=0)


class ContextSpec(BaseModel):
    model_config = SPEC_CONFIG

    window: int | None = Field(default=None, gt=0)
    keep_tool_results: int | None = Field(default=None, ge=1)
    max_prompt_tokens: int | None = Field(default=None, ge=1024)
    """The cost target: no request's prompt is larger (by agentkit's estimate, which errs on
    the high side). Unset: a default for models priced like Kimi K3, else the window."""


class HeavySpec(BaseModel):
    model_config = SPEC_CONFIG

    trajectories: int = Field(default=1, ge=1, le=MAX_TRAJECTORIES)
    aggregate: Annotated[Aggregate, BeforeValidator(one_of(AGGREGATORS, "aggregator"))] = "reflective"


class OutputSpec(BaseModel):
    model_config = SPEC_CONFIG

    dir: Annotated[Path | None, Field(strict=False)] = None
    report: bool = True
    format: Annotated[OutputFormat, BeforeValidator(one_of(OUTPUT_FORMATS, "output format"))] = "md"


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
    max_steps: int = Field(default=40, ge=1)
    """A sub-agent's step limit, unless its subtask asks for fewer (never above its parent's)."""


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
            raise ValueError(_first_problem(name, exc)) from None
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


def _first_problem(section: str, exc: ValidationError) -> str:
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


# --- MCP servers ----------------------------------------------------------------------------

MCP_NAME_CHARS = "letters, digits, '_' or '-'"
MCP_MAX_RESULT_BYTES = 8 * 2**20
"""Default cap on one answer of an MCP server (room for a base64 image of about 6 MB)."""


class EnvRef(BaseModel):
    """A value read from an environment variable when the server starts: ``{from_env: NAME}``.
    Only the variable's NAME is ever stored or shown."""

    model_config = SPEC_CONFIG

    from_env: str


def _env_name_ok(name: str) -> bool:
    import re

    return re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name) is not None


def _secret_looking(name: str) -> bool:
    from agentkit._redact import SECRET_NAME

    return SECRET_NAME.search(name) is not None or "cookie" in name.lower()


def _values(kind: str) -> Callable[[object], object]:
    """Check an ``env``/``headers`` mapping: each value a string or ``{from_env: NAME}``; a
    secret-looking key must take its value from the environment (never written in the file)."""

    def check(value: object) -> object:
        if value is None:
            return {}
        if not isinstance(value, Mapping):
            raise fail(f"must be a mapping of {kind} names to values (got {show(value)})")
        out: dict[str, str | EnvRef] = {}
        for key, item in value.items():
            if not isinstance(key, str) or not key:
                raise fail(f"{kind} names must be non-empty strings (got {show(key)})")
            if kind == "variable" and not _env_name_ok(key):
                raise fail("must be an environment variable name (letters, digits, _)", at=key)
            if isinstance(item, Mapping):
                out[key] = _env_ref(item, key)
            elif isinstance(item, str):
                if _secret_looking(key):  # never echo the value: it may be the secret itself
                    raise fail(
                        "looks like a secret: write {from_env: VARIABLE} and set the value in that "
                        "environment variable, never in the task file",
                        at=key,
                    )
                kind_of_token = token_kind(item)
                if kind_of_token:
                    raise fail(_literal_token(kind_of_token, f"{key}: {{from_env: VARIABLE}}"), at=key)
                out[key] = item
            else:
                raise fail(f"must be a string or {{from_env: NAME}} (got {show(item)})", at=key)
        return out

    return check


def _literal_token(kind: str, example: str) -> str:
    return (
        f"looks like {kind} written in the task file: write {example} in its place and set the "
        "value in that environment variable (a task file is stored with the run and shown by agentkit show)"
    )


def _env_ref(item: Mapping[Any, Any], at: str) -> EnvRef:
    name = item.get("from_env")
    if set(item) != {"from_env"} or not isinstance(name, str):
        raise fail("must be a string or {from_env: NAME}", at=at)
    if not _env_name_ok(name):
        raise fail("from_env must be the NAME of an environment variable (letters, digits, _)", at=at)
    return EnvRef(from_env=name)


def _arguments(value: object) -> object:
    """Check ``args``: each a string or ``{from_env: NAME}``; a literal that looks like a token
    (a known shape, or an opaque value after ``--token``/``--api-key``...) is refused, never shown."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise fail(f"must be a list of strings or {{from_env: NAME}} (got {show(value)})")
    literal = [v if isinstance(v, str) else "" for v in value]
    out: list[str | EnvRef] = []
    for i, item in enumerate(value):
        if isinstance(item, Mapping):
            out.append(_env_ref(item, f"[{i}]"))
        elif isinstance(item, str):
            why = secret_argument(literal, i)
            if why:  # never echo the value: it is the secret
                flag, eq, _ = item.partition("=")
                example = "{from_env: VARIABLE}"
                if eq and flag.startswith("-"):
                    example = f"two items, [{flag}, {{from_env: VARIABLE}}],"
                raise fail(_literal_token(why, example), at=f"[{i}]")
            out.append(item)
        else:
            raise fail(f"must be a string or {{from_env: NAME}} (got {show(item)})", at=f"[{i}]")
    return out


class MCPServerSpec(BaseModel):
    """An MCP server whose tools the agent uses (``mcp:`` in a task file, ``Agent(mcp=[...])``).

    Either a local command spoken to over stdio (``command``, ``args``, ``env``, ``cwd``) or a
    streamable-HTTP endpoint (``url``, ``headers``). Items of ``args`` and values of ``env`` and
    ``headers`` are plain strings or ``{from_env: NAME}``; a secret-looking name (token, key,
    authorization...), a value shaped like a known token (``ghp_…``, ``sk-…``, ``xoxb-…``,
    ``AKIA…``, ``AIza…``) and an opaque value after a secret flag (``--token``, ``--api-key``)
    must use ``from_env``, so a stored run config holds variable names, never secrets. Its
    tools are offered as ``<name>__<tool>``.
    """

    model_config = SPEC_CONFIG

    name: str
    command: str | None = Field(default=None, min_length=1)
    args: Annotated[list[str | EnvRef], BeforeValidator(_arguments)] = Field(default_factory=list)
    env: Annotated[dict[str, str | EnvRef], BeforeValidator(_values("variable"))] = Field(default_factory=dict)
    cwd: Annotated[Path | None, Field(strict=False)] = None
    url: OptionalUrl = None
    headers: Annotated[dict[str, str | EnvRef], BeforeValidator(_values("header"))] = Field(default_factory=dict)
    timeout_s: float = Field(default=120.0, gt=0)
    """Longest wait for one tool call; a server that does not answer in time is restarted."""
    startup_timeout_s: float = Field(default=30.0, gt=0)
    """Longest wait for the server to start and list its tools."""
    max_result_bytes: int = Field(default=MCP_MAX_RESULT_BYTES, ge=65_536, le=256 * 2**20)
    """Bytes read of one answer of the server (a tool result); the rest of a longer one is
    dropped unread and the result says how much was cut."""
    required: bool = True
    """A server that cannot start fails the run (true) or is left out with a warning (false)."""

    @field_validator("name")
    @classmethod
    def _name_chars(cls, value: str) -> str:
        import re

        if not re.fullmatch(r"[A-Za-z0-9_-]{1,32}", value):
            raise fail(f"must be 1-32 {MCP_NAME_CHARS} (got {show(value)}); tools are named <name>__<tool>")
        return value

    @field_validator("url")
    @classmethod
    def _no_credentials_in_url(cls, value: str | None) -> str | None:
        if value is not None and redact_url(value) != value:
            raise fail(
                "must not hold credentials (user:password@ or a secret query parameter): send them "
                "in headers with {from_env: VARIABLE}"
            )
        return value

    @field_validator("cwd")
    @classmethod
    def _cwd_from_base(cls, value: Path | None, info: ValidationInfo) -> Path | None:
        return None if value is None else from_base_dir(value, info)

    @model_validator(mode="after")
    def _one_transport(self) -> MCPServerSpec:
        if self.command is None and self.url is None:
            raise fail("give command (a local server over stdio) or url (a streamable-HTTP server)")
        if self.command is not None and self.url is not None:
            raise fail("give command (stdio) or url (HTTP), not both")
        if self.url is not None:
            for key, given in (("args", self.args), ("env", self.env), ("cwd", self.cwd)):
                if given:
                    raise fail("only for a command (stdio) server; this one has a url", at=key)
        elif self.headers:
            raise fail("only for a url (HTTP) server; this one has a command", at="headers")
        return self

    @property
    def transport(self) -> Literal["stdio", "http"]:
        return "stdio" if self.command is not None else "http"

    @classmethod
    def of(cls, value: MCPServerSpec | Mapping[str, Any]) -> MCPServerSpec:
        """A spec from itself or a mapping as a task file has it (raises ``ValueError`` naming
        the field: ``mcp.env.TOKEN: looks like a secret...``)."""
        if isinstance(value, MCPServerSpec):
            return value
        try:
            return cls.model_validate(dict(value))
        except ValidationError as exc:
            raise ValueError(_first_problem("mcp", exc)) from None

    def resolved(self, values: Mapping[str, str | EnvRef], kind: str, environ: Mapping[str, str]) -> dict[str, str]:
        """``env`` or ``headers`` with each ``from_env`` read from ``environ`` (``ValueError``
        naming the variable when it is not set; the value is never shown)."""
        return {key: _from_env(item, f"{kind}.{key}", environ) for key, item in values.items()}

    def resolved_args(self, environ: Mapping[str, str]) -> list[str]:
        """``args`` with each ``from_env`` read from ``environ`` (``ValueError`` as :meth:`resolved`)."""
        return [_from_env(item, f"args[{i}]", environ) for i, item in enumerate(self.args)]

    def as_data(self) -> dict[str, Any]:
        """JSON-ready, as stored in a run's config: variable names, never their values."""
        return self.model_dump(mode="json", exclude_defaults=True)


def _from_env(item: str | EnvRef, where: str, environ: Mapping[str, str]) -> str:
    if isinstance(item, str):
        return item
    found = environ.get(item.from_env)
    if not found:
        raise ValueError(f"{where}: the environment variable {item.from_env} is not set")
    return found
