"""What a Store backend can be checked for: one capability per part of the contract.

Every backend must pass the required capabilities. The optional ones apply only to some
backends: ``lease_visibility`` to a backend that can tell whether a run is driven (it may
answer ``None``: nobody can tell), ``persistence`` to a backend whose data outlives the store
object (``reopen = True``). A capability that does not apply is reported "not applicable".
"""

from __future__ import annotations

from enum import StrEnum


class Capability(StrEnum):
    """A part of the Store contract, checked by the specs in ``spec/<value>.py``."""

    RUNS = "runs"
    """Run rows: create, get, a duplicate id refused, list newest first with the parent
    filter, update, find by id or unique id prefix, unknown ids raise ``RunNotFound``."""
    LOG = "log"
    """The append-only event log: ``seq`` 1..n per run, ``after``, ``append_many``, gapless
    under concurrent appends, independent per run."""
    ROUND_TRIP = "round_trip"
    """Every event type round-trips exactly, large and non-ASCII payloads included; text that
    is not valid Unicode is stored with U+FFFD; stored data is a copy (no aliasing)."""
    BLOBS = "blobs"
    """Content-addressed blobs (any bytes, by sha256)."""
    SOURCES = "sources"
    """The per-run source registry: add, replace by id, list, get."""
    CACHE = "cache"
    """The keyed cache: ``get_cached``/``put_cached`` by namespace and key, the last write
    wins, any bytes under any text key."""
    SEARCH = "search"
    """Full-text search over runs' traces (``search_text``: every kind of text, only the runs
    asked for, ranked, any query text, Unicode folded alike, huge texts, replaced sources) and
    runs found by tag (``tagged_runs``)."""
    LEASES = "leases"
    """Run leases: exclusive per run, refused at once, released on exit and on error."""
    LEASE_VISIBILITY = "lease_visibility"
    """``is_leased`` tells whether a run is driven, without taking the lease."""
    LIFECYCLE = "lifecycle"
    """Usable as an async context manager; closing twice is harmless."""
    PERSISTENCE = "persistence"
    """Data (cached values included) survives ``aclose()`` and a new store over the same
    data, and a lease is seen by every store over the same data."""


CAPABILITIES: tuple[Capability, ...] = tuple(Capability)
"""Every capability, in the order the report lists them."""

OPTIONAL: frozenset[Capability] = frozenset({Capability.LEASE_VISIBILITY, Capability.PERSISTENCE})
"""Capabilities that may be "not applicable" to a backend."""

REQUIRED: frozenset[Capability] = frozenset(CAPABILITIES) - OPTIONAL
"""Capabilities every backend must pass."""

__all__ = ["CAPABILITIES", "OPTIONAL", "REQUIRED", "Capability"]
