"""Read a served model's context window from a server's ``GET /models`` listing.

Where servers say it:

- vLLM and SGLang: ``data[].max_model_len`` (the window the server was started with).
- llama.cpp ``llama-server``: ``data[].meta.n_ctx_train`` is the model's *training* window; the
  window it serves (``--ctx-size``, per slot) is ``default_generation_settings.n_ctx`` in
  ``GET /props`` beside ``/v1``, so the caller asks there too.
- OpenRouter, Together and model registries: ``context_length`` (OpenRouter also
  ``top_provider.context_length``, the routed provider's own limit); LM Studio's REST listing
  ``loaded_context_length`` / ``max_context_length``.
- Ollama's ``/v1/models`` and llama-cpp-python's say nothing about the window: ``None``.

The same listing names the ids a host serves: a refused model id is answered with the nearest.
"""

from __future__ import annotations

from difflib import SequenceMatcher
from typing import Any

# In order of preference: what the server runs with before what the model supports.
_SERVED_KEYS = ("max_model_len", "loaded_context_length", "n_ctx", "context_length", "context_window")
_MODEL_KEYS = ("max_context_length",)
_NEAR = 0.5  # difflib ratio below which an id is no longer "near" (kimi-k2-thinking ~ kimi-k2.6: 0.56)


def _positive(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int) and value > 0:
        return value
    if isinstance(value, float) and value.is_integer() and value > 0:
        return int(value)
    return None


def _entry(listing: Any, model: str) -> dict[str, Any] | None:
    data = listing.get("data") if isinstance(listing, dict) else listing
    if not isinstance(data, list):
        return None
    entries = [e for e in data if isinstance(e, dict)]
    for entry in entries:
        if entry.get("id") == model:
            return entry
    low = model.lower()
    for entry in entries:
        if isinstance(entry.get("id"), str) and entry["id"].lower() == low:
            return entry
    # A local server that serves one model answers under its own name (a file path, an alias).
    return entries[0] if len(entries) == 1 else None


def listing_window(listing: Any, model: str) -> tuple[int | None, bool]:
    """``(window, ask_props)``: the window the listing states for ``model``, and whether it is a
    llama.cpp listing whose served window is only in ``/props``."""
    entry = _entry(listing, model)
    if entry is None:
        return None, False
    meta: dict[str, Any] = entry["meta"] if isinstance(entry.get("meta"), dict) else {}
    for key in _SERVED_KEYS:
        window = _positive(entry.get(key)) or _positive(meta.get(key))
        if window:
            return window, False
    top = entry.get("top_provider")
    if isinstance(top, dict) and _positive(top.get("context_length")):
        return _positive(top.get("context_length")), False
    for key in _MODEL_KEYS:
        if _positive(entry.get(key)):
            return _positive(entry.get(key)), False
    trained = _positive(meta.get("n_ctx_train"))
    return trained, trained is not None or entry.get("owned_by") == "llamacpp"


def props_window(props: Any) -> int | None:
    """llama.cpp ``/props``: the per-slot window the server runs with."""
    if not isinstance(props, dict):
        return None
    settings = props.get("default_generation_settings")
    if isinstance(settings, dict) and _positive(settings.get("n_ctx")):
        return _positive(settings.get("n_ctx"))
    return _positive(props.get("n_ctx"))


def served_ids(listing: Any) -> list[str]:
    """The model ids a ``GET /models`` listing names, in its order."""
    data = listing.get("data") if isinstance(listing, dict) else listing
    if not isinstance(data, list):
        return []
    return [e["id"] for e in data if isinstance(e, dict) and isinstance(e.get("id"), str) and e["id"]]


def nearest_ids(model: str, ids: list[str], n: int = 3) -> list[str]:
    """The ids most like ``model`` (case aside; ``vendor/`` prefixes compared both ways), best first."""
    target = model.lower()
    tail = target.rsplit("/", 1)[-1]

    def likeness(candidate: str) -> float:
        low = candidate.lower()
        return max(
            SequenceMatcher(None, target, low).ratio(),
            SequenceMatcher(None, tail, low.rsplit("/", 1)[-1]).ratio(),
        )

    scored = sorted(((likeness(i), i) for i in dict.fromkeys(ids)), key=lambda pair: -pair[0])
    return [i for score, i in scored if score >= _NEAR][:n]
