"""Masking of credentials in text and data that leave the process: one module, three kinds.

a) Credentials in configuration and URLs, found by their *names* (:func:`redact_config`,
   :func:`redact_url`): what a run stores as its configuration or a message quotes.
b) Known secret values, found by *value* (:func:`register_secret`, :func:`mask_secrets`): a
   process-wide registry of the values agentkit read keys from (every provider profile's key
   variable, a task's ``model.api_key_env``, ``{from_env: ...}`` values of MCP servers, an
   ``api_key=`` given in Python, search backends' keys, the PostgreSQL password). Whoever reads
   a key registers it; the egress points mask it without knowing where it came from: the
   store's rule for what it keeps (so traces, the run's fold and everything made from them
   never hold it), the report writer, the CLI's live view, every log record, telemetry.
c) Credential-*shaped* text (:class:`Redactor`): Authorization headers, bearer tokens,
   secret-named ``name=value`` pairs and well-known key shapes, for text handed to a third
   party (OpenTelemetry spans), on top of a) and b).

A bottom module: it imports nothing of agentkit, so the store may use it.
"""

from __future__ import annotations

import logging
import os
import re
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import orjson
from pydantic import BaseModel

SECRET_NAME = re.compile(r"key|token|secret|passw|auth|sig", re.IGNORECASE)
_SECRET_WORDS = frozenset(
    {"key", "apikey", "token", "secret", "password", "passwd", "auth", "authorization", "credentials"}
)
MASK = "***"


# -- b) known secret values, masked by value --------------------------------------------------

MIN_SECRET_LENGTH = 8
"""Values shorter than this are never registered (nor masked by value): masking ``a``, ``1``,
``true`` or ``EMPTY`` wherever it appears would destroy text, and a value that short is no key."""

_FEW = 2
"""Up to this many forms, finding one is a plain substring scan per form (memchr-fast); more,
one compiled alternation (one pass over the text whatever the number of secrets)."""

M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True, slots=True)
class _Compiled:
    """The registered values, ready to look for: built once per change of the set."""

    text_forms: tuple[str, ...]
    text: re.Pattern[str]
    json_forms: tuple[bytes, ...]
    """The values as JSON-encoded UTF-8 holds them (escaped; usually the same bytes)."""
    json: re.Pattern[bytes]

    def in_text(self, text: str) -> bool:
        if len(self.text_forms) <= _FEW:
            return any(v in text for v in self.text_forms)
        return self.text.search(text) is not None

    def in_json(self, data: bytes) -> bool:
        if len(self.json_forms) <= _FEW:
            return any(v in data for v in self.json_forms)
        return self.json.search(data) is not None


def _compile(values: frozenset[str]) -> _Compiled:
    ordered = sorted(values, key=lambda v: (-len(v), v))  # a value inside a longer one: the longer first
    json_forms = sorted({orjson.dumps(v)[1:-1] for v in ordered} | {v.encode() for v in ordered}, key=len, reverse=True)
    return _Compiled(
        tuple(ordered),
        re.compile("|".join(re.escape(v) for v in ordered)),
        tuple(json_forms),
        re.compile(b"|".join(re.escape(v) for v in json_forms)),
    )


class _Registry:
    """The process's secret values. Held in memory only: nothing here is ever written anywhere."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._values: frozenset[str] = frozenset()
        self.compiled: _Compiled | None = None
        """Read without the lock: replaced whole, never changed in place."""

    def add(self, values: Iterable[str | None]) -> bool:
        """Register ``values`` (stripped; short ones skipped); whether the set changed."""
        fresh = {s for s in (v.strip() for v in values if v) if len(s) >= MIN_SECRET_LENGTH}
        if fresh <= self._values:
            return False
        with self._lock:
            merged = self._values | fresh
            if merged == self._values:
                return False
            self.compiled = _compile(merged)
            self._values = merged
        return True


_REGISTRY = _Registry()


def register_secret(*values: str | None) -> None:
    """Mask these values, from now on, wherever text leaves the process (empty, ``None`` and
    values shorter than :data:`MIN_SECRET_LENGTH` are ignored). Call it where a key is read."""
    if _REGISTRY.add(values):
        _mask_log_records()


def register_secret_env(*names: str | None, environ: Mapping[str, str] | None = None) -> None:
    """Register the values of the environment variables ``names`` (those that are set)."""
    env = os.environ if environ is None else environ
    register_secret(*(env.get(name) for name in names if name))


def mask_secrets(text: str) -> str:
    """``text`` with every registered secret value replaced by ``***`` (itself when it holds none)."""
    compiled = _REGISTRY.compiled
    if compiled is None or not compiled.in_text(text):
        return text
    return compiled.text.sub(MASK, text)


def mask_bytes(data: bytes) -> bytes:
    """``data`` (text as UTF-8 or JSON, or any bytes) with every registered secret replaced by
    ``***`` (itself when it holds none)."""
    compiled = _REGISTRY.compiled
    if compiled is None or not compiled.in_json(data):
        return data
    return compiled.json.sub(MASK.encode(), data)


def holds_secret(data: bytes) -> bool:
    """Whether JSON-encoded ``data`` holds a registered secret value (in any of its strings)."""
    compiled = _REGISTRY.compiled
    return compiled is not None and compiled.in_json(data)


def mask_data(value: Any) -> Any:
    """A copy of JSON-like data with registered secrets masked in every string, keys too."""
    if isinstance(value, str):
        return mask_secrets(value)
    if isinstance(value, dict):
        return {mask_data(k): mask_data(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [mask_data(v) for v in value]
    return value


def mask_model(model: M) -> M:
    """``model`` itself when no string in it holds a registered secret, else a copy with them
    masked."""
    if _REGISTRY.compiled is None:
        return model
    try:
        if not holds_secret(orjson.dumps(model.model_dump(mode="json"))):
            return model
    except orjson.JSONEncodeError:  # text that is not valid Unicode: looked at string by string
        pass
    return type(model).model_validate(mask_data(model.model_dump()))


_log_masking = False


def _mask_log_records() -> None:
    """From the first registered secret on, every log record of the process is made with its
    message (and traceback, when it holds one) masked, whatever logger or handler it goes to:
    logging's record factory is the one place every record passes. Chained, installed once."""
    global _log_masking
    with _REGISTRY._lock:
        if _log_masking:
            return
        _log_masking = True
    make = logging.getLogRecordFactory()

    def masked_record(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = make(*args, **kwargs)
        try:
            message = record.getMessage()
        except Exception:  # a bad format string: logging reports it when the record is emitted
            return record
        shown = mask_secrets(message)
        if shown is not message:
            record.msg, record.args = shown, None
        if record.exc_info and record.exc_info[1] is not None:
            text = logging.Formatter().formatException(record.exc_info)
            shown = mask_secrets(text)
            if shown != text:
                record.exc_text = shown  # the formatters print this instead of formatting again
        if record.stack_info:
            record.stack_info = mask_secrets(record.stack_info)
        return record

    logging.setLogRecordFactory(masked_record)


# -- c) credential-shaped text, for third parties ---------------------------------------------

_PATTERNS: list[tuple[tuple[str, ...], re.Pattern[str]]] = [
    # (cheap hints, any of which must be in the lowercased text for the pattern to be tried; pattern)
    # Authorization: Bearer x / Proxy-Authorization: Basic y / "authorization": "..."
    (("authorization",), re.compile(r"(?i)(\b(?:proxy-)?authorization\b[\"']?\s*[:=]\s*[\"']?)([^\r\n\"']+)")),
    (("bearer",), re.compile(r"(?i)(\bbearer\s+)([A-Za-z0-9._~+/=-]{6,})")),
    # api_key=..., "token": "...", password: ...
    (
        ("key", "token", "secret", "passw"),
        re.compile(
            r"(?i)(\b[\w-]*(?:api[_-]?key|access[_-]?token|auth[_-]?token|secret|password|passwd)[\"']?\s*[:=]\s*[\"']?)"
            r"([^\s\"',;&}]{4,})"
        ),
    ),
    # well-known key shapes: OpenAI/OpenRouter/Anthropic/Moonshot sk-..., Google, GitHub, Hugging Face, Slack
    (
        ("sk-", "aiza", "gh", "hf_", "xox"),
        re.compile(
            r"()\b(sk-[A-Za-z0-9_-]{16,}|AIza[0-9A-Za-z_-]{30,}|gh[pousr]_[A-Za-z0-9]{30,}|hf_[A-Za-z0-9]{30,}"
            r"|xox[abposr]-[A-Za-z0-9-]{10,})"
        ),
    ),
]
_URL = re.compile(r"\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s\"'<>]+")


class Redactor:
    """Masks credentials in text for a third party: the registered secrets (b), the values of
    secret-named environment variables (``env``, default ``os.environ``, read now), the
    ``secrets`` given (registered: masked everywhere from now on), Authorization headers and bearer tokens,
    secret-looking ``name=value`` pairs, well-known key shapes, and credentials inside URLs."""

    def __init__(self, secrets: Iterable[str] = (), env: Mapping[str, str] | None = None) -> None:
        register_secret(*secrets)
        env = os.environ if env is None else env
        values = {v.strip() for k, v in env.items() if SECRET_NAME.search(k) and len(v.strip()) >= MIN_SECRET_LENGTH}
        ordered = sorted(values, key=len, reverse=True)  # a key inside a longer value: the longer first
        self._values = re.compile("|".join(re.escape(v) for v in ordered)) if ordered else None

    def __call__(self, text: str) -> str:
        text = mask_secrets(text)
        if self._values is not None:
            text = self._values.sub(MASK, text)
        lowered = text.lower()
        for hints, pattern in _PATTERNS:
            if any(h in lowered for h in hints):
                text = pattern.sub(lambda m: m.group(1) + MASK, text)
        return _URL.sub(_url, text) if "://" in text else text

    def json(self, value: Any) -> str:
        """``value`` as a JSON string (how structured content goes on a span), masked."""
        return self(orjson.dumps(mask_data(value), default=str).decode())


def _url(match: re.Match[str]) -> str:
    url = match.group(0)
    try:
        parts = urlsplit(url)
        secret_query = any(SECRET_NAME.search(k) for k, _ in parse_qsl(parts.query, keep_blank_values=True))
    except ValueError:
        return url
    return redact_url(url) if "@" in parts.netloc or secret_query else url


# -- a) credentials in configuration and URLs, by name ------------------------------------


def redact_url(url: str) -> str:
    """Hide credentials in a URL: ``user:password@`` and secret-looking query parameters."""
    try:
        parts = urlsplit(url)
        netloc = parts.netloc
        if "@" in netloc:
            netloc = f"{MASK}@" + netloc.rsplit("@", 1)[1]
        query = parts.query
        if query:
            pairs = parse_qsl(query, keep_blank_values=True)
            query = urlencode([(k, MASK if SECRET_NAME.search(k) else v) for k, v in pairs], safe="*")
        return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))
    except ValueError:
        return "<unparsable URL>"


def redact_config(value: Any, key: str = "") -> Any:
    """A copy of JSON-like configuration with URLs' credentials and secret-named values masked.

    Names of environment variables (``*_env`` keys) are kept: they say where a key lives,
    not what it is. Known token shapes are masked wherever they stand, and so are the values
    of secret flags in an ``args`` list (:func:`redact_arguments`).
    """
    if isinstance(value, Mapping):
        return {k: redact_config(v, str(k)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact_config(v, key) for v in (redact_arguments(list(value)) if key == "args" else value)]
    if isinstance(value, str) and value:
        lowered = key.lower()
        if lowered.endswith("url") or lowered.endswith("urls"):
            return redact_token_shapes(redact_url(value))
        words = re.split(r"[_\-\s.]+", lowered)
        if words[-1] != "env" and _SECRET_WORDS.intersection(words):
            return MASK
        return redact_token_shapes(value)
    return value


# --- token shapes -------------------------------------------------------------------------
# Credentials recognisable by their form wherever they stand (a task file's MCP ``args``, an
# ``env`` or ``headers`` value under an innocent name): refused when a task is loaded
# (:func:`token_kind`) and masked in any configuration that is stored (:func:`redact_config`).

_AT = r"(?<![A-Za-z0-9])"  # a token starts where a word does (after "_" too: GH_ghp_...)
TOKEN_SHAPES: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("a GitHub token", re.compile(_AT + r"(?:gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{30,})")),
    (
        "an OpenAI/Moonshot-style API key",
        re.compile(_AT + r"sk-(?:proj-|svcacct-|admin-|ant-(?:[a-z]+\d\d-)?)?(?=[A-Za-z0-9_-]*\d)[A-Za-z0-9_-]{20,}"),
    ),
    ("a Slack token", re.compile(_AT + r"xox[abposre]-[A-Za-z0-9-]{10,}")),
    ("an AWS access key id", re.compile(_AT + r"(?:AKIA|ASIA)[0-9A-Z]{16}\b")),
    ("a Google API key", re.compile(_AT + r"AIza[0-9A-Za-z_-]{35}")),
)
"""What a token of each kind looks like, by name for messages."""

SECRET_FLAG = re.compile(
    r"^--?(?:[A-Za-z0-9]+[-_])*(?:token|api[-_]?key|key|secret|password|passwd|pat|auth|credentials?)$",
    re.IGNORECASE,
)
"""A command-line flag whose value is a secret: ``--token``, ``--api-key``, ``--github-token``."""
_OPAQUE = re.compile(r"[A-Za-z0-9_\-.+/=:~]{16,}")


def looks_opaque(value: str) -> bool:
    """A long, high-entropy word (letters and digits, no spaces): what a generated secret
    looks like, unlike a path or a name."""
    import math
    from collections import Counter

    if not _OPAQUE.fullmatch(value) or not re.search(r"[A-Za-z]", value) or not re.search(r"\d", value):
        return False
    counts = Counter(value)
    entropy = -sum(n / len(value) * math.log2(n / len(value)) for n in counts.values())
    return entropy >= 3.5


def token_kind(value: str) -> str | None:
    """What kind of known token ``value`` holds (``"a GitHub token"``), or ``None``."""
    for kind, shape in TOKEN_SHAPES:
        if shape.search(value):
            return kind
    return None


def secret_argument(args: list[str], i: int) -> str | None:
    """Why ``args[i]`` is a secret written on a command line, or ``None``: a known token
    shape, or an opaque value given to a secret flag (``--token VALUE``, ``--token=VALUE``)."""
    item = args[i]
    kind = token_kind(item)
    if kind:
        return kind
    flag, eq, value = item.partition("=")
    if eq and SECRET_FLAG.match(flag) and looks_opaque(value):
        return f"the value of {flag}"
    if i > 0 and SECRET_FLAG.match(args[i - 1]) and looks_opaque(item):
        return f"the value of {args[i - 1]}"
    return None


def redact_token_shapes(text: str) -> str:
    """``text`` with every known token shape replaced by the mask."""
    for _, shape in TOKEN_SHAPES:
        text = shape.sub(MASK, text)
    return text


def redact_arguments(args: list[Any]) -> list[Any]:
    """A command line with known token shapes and the values of secret flags masked."""
    out: list[Any] = []
    for i, item in enumerate(args):
        if not isinstance(item, str):
            out.append(item)
            continue
        flag, eq, _ = item.partition("=")
        after_flag = i > 0 and isinstance(args[i - 1], str) and SECRET_FLAG.match(args[i - 1])
        if eq and SECRET_FLAG.match(flag):
            out.append(f"{flag}={MASK}")
        elif after_flag and not item.startswith("-"):
            out.append(MASK)
        else:
            out.append(redact_token_shapes(item))
    return out
