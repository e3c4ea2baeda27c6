"""Row encoding of trace events: orjson, with large strings moved out to content-addressed blobs.

An event is dumped to JSON-compatible data; every string longer than ``inline_limit``
characters (a tool result's ``text``, an assistant turn's ``reasoning``/``content``, a long
``RunStarted.task``, large tool-call arguments, anything nested in ``meta``) is replaced by a
short ``"blob:<sha256>"`` marker and its UTF-8 bytes are returned separately, keyed by
:func:`~agentkit.store.base.blob_key`. The list of replaced locations is kept beside the row
(``refs``), so the marker is never guessed from the data: an event whose own text happens to
read ``"blob:..."`` round-trips unchanged.

Any Python ``str`` can be stored: text that is not valid Unicode (a lone surrogate, which
valid JSON such as ``"\\ud800"`` decodes to) is stored with U+FFFD in its place
(:func:`clean_text`); and no registered secret value (an API key, see
:func:`agentkit._redact.register_secret`) is ever stored: it is kept as ``***``. Every store
backend applies the same rule, and the run loop folds what the store keeps, so a key the model
or a tool echoed is masked in the trace, the fold and whatever is made from them (a replay of
the trace re-drives what was kept).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

import orjson
from pydantic import BaseModel

from agentkit._redact import holds_secret, mask_bytes, mask_secrets
from agentkit._text import clean_text
from agentkit.store.base import blob_key
from agentkit.store.events import EVENT_ADAPTER, TraceEvent

INLINE_LIMIT = 8 * 1024
"""Strings longer than this many characters are stored once, in the blob table."""

BLOB_MARKER = "blob:"

PathItem = str | int


M = TypeVar("M", bound=BaseModel)


def scrub(value: Any) -> Any:
    """A copy of JSON-like data with every string (keys too) as the store keeps it: valid
    Unicode (:func:`clean_text`), registered secrets masked."""
    if isinstance(value, str):
        return mask_secrets(clean_text(value))
    if isinstance(value, dict):
        return {scrub(k): scrub(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [scrub(v) for v in value]
    return value


def kept_bytes(data: bytes) -> bytes:
    """A blob or cached value as the store keeps it: registered secrets masked (the blob's key
    is the hash of what is kept)."""
    return mask_bytes(bytes(data))


class _Dumped:
    """The JSON form :func:`clean_model` made of events it kept as they were, for
    :func:`encode_event` to reuse: the run loop checks an event, then the store encodes the
    very same object, and each is dumped once. Keyed by identity (the entry holds the event, so
    its id cannot be reused while the entry lives), taken once, and bounded (a store that never
    encodes, the memory store, leaves entries that age out)."""

    def __init__(self, size: int = 64) -> None:
        self._entries: OrderedDict[int, tuple[BaseModel, dict[str, Any], bytes]] = OrderedDict()
        self._lock = threading.Lock()  # sqlite encodes in a worker thread
        self._size = size

    def keep(self, model: BaseModel, obj: dict[str, Any], raw: bytes) -> None:
        with self._lock:
            self._entries[id(model)] = (model, obj, raw)
            while len(self._entries) > self._size:
                self._entries.popitem(last=False)

    def take(self, model: BaseModel) -> tuple[dict[str, Any], bytes] | None:
        with self._lock:
            entry = self._entries.pop(id(model), None)
        if entry is None or entry[0] is not model:
            return None
        return entry[1], entry[2]


_DUMPED = _Dumped()


def clean_model(model: M) -> M:
    """``model`` itself when all its text is valid Unicode and holds no registered secret, else
    a copy with lone surrogates replaced (:func:`clean_text`) and secrets masked; every other
    value is unchanged."""
    obj = model.model_dump(mode="json")
    try:
        raw = orjson.dumps(obj)
    except orjson.JSONEncodeError:
        return type(model).model_validate(scrub(model.model_dump()))
    if holds_secret(raw):
        return type(model).model_validate(scrub(model.model_dump()))
    _DUMPED.keep(model, obj, raw)
    return model


class MissingBlob(LookupError):
    """A stored event references a blob that is not in the store (a damaged store)."""


@dataclass(slots=True)
class EncodedEvent:
    type: str
    ts: float
    data: str
    """The event as JSON text, large strings replaced by markers."""
    refs: str | None
    """JSON list of ``[path, key]`` pairs, or ``None`` when nothing was moved out."""
    blobs: dict[str, bytes] = field(default_factory=dict)


def kept_json(event: TraceEvent) -> tuple[dict[str, Any], bytes]:
    """``event`` as the store keeps it (:func:`clean_model`), as JSON data and its encoding."""
    dumped = _DUMPED.take(event)  # the run loop's commits: checked (and dumped) by clean_model just before
    if dumped is not None:
        return dumped
    obj = event.model_dump(mode="json")
    try:
        raw = orjson.dumps(obj)
        kept = not holds_secret(raw)
    except orjson.JSONEncodeError:  # text that is not valid Unicode: stored with U+FFFD
        kept = False
    if not kept:  # secrets stored as ***
        obj = clean_model(event).model_dump(mode="json")
        raw = orjson.dumps(obj)
    return obj, raw


def encode_event(event: TraceEvent, inline_limit: int = INLINE_LIMIT) -> EncodedEvent:
    obj, raw = kept_json(event)
    # A string of n characters takes at least n bytes of JSON: a short document cannot hold
    # a long string, so the walk is skipped for the common small event.
    if len(raw) <= inline_limit:
        return EncodedEvent(event.type, event.ts, raw.decode(), None)
    refs: list[tuple[list[PathItem], str]] = []
    blobs: dict[str, bytes] = {}
    _externalise(obj, [], refs, blobs, inline_limit)
    if not refs:
        return EncodedEvent(event.type, event.ts, raw.decode(), None)
    return EncodedEvent(event.type, event.ts, orjson.dumps(obj).decode(), orjson.dumps(refs).decode(), blobs)


def _externalise(
    node: dict[str, Any] | list[Any],
    path: list[PathItem],
    refs: list[tuple[list[PathItem], str]],
    blobs: dict[str, bytes],
    limit: int,
) -> None:
    items: list[tuple[PathItem, Any]] = list(node.items()) if isinstance(node, dict) else list(enumerate(node))
    for k, v in items:
        if isinstance(v, str):
            if len(v) > limit:
                data = v.encode("utf-8")
                key = blob_key(data)
                blobs[key] = data
                refs.append(([*path, k], key))
                node[k] = BLOB_MARKER + key  # type: ignore[index]
        elif isinstance(v, dict | list):
            _externalise(v, [*path, k], refs, blobs, limit)


def ref_keys(refs: str | None) -> list[str]:
    """The blob keys an encoded row refers to."""
    if refs is None:
        return []
    return [key for _path, key in orjson.loads(refs)]


def decode_event(data: str, refs: str | None, blobs: Mapping[str, bytes]) -> TraceEvent:
    """Rebuild an event from its row; ``blobs`` must hold every key of :func:`ref_keys`."""
    if refs is None:
        return EVENT_ADAPTER.validate_json(data)
    obj: Any = orjson.loads(data)
    for path, key in orjson.loads(refs):
        try:
            text = blobs[key].decode("utf-8")
        except KeyError:
            raise MissingBlob(f"event data refers to a missing blob {key}") from None
        node = obj
        for item in path[:-1]:
            node = node[item]
        node[path[-1]] = text
    return EVENT_ADAPTER.validate_python(obj)
