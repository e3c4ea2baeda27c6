"""Rows of the SQLite store's ``runs`` and ``sources`` tables: ``RunInfo`` to columns (the
fields without a column of their own in the ``extra`` JSON) and back, and ``update_run``'s SET
clause."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import orjson

from agentkit.store._codec import scrub
from agentkit.store._sqlite_errors import unreadable
from agentkit.store._sqlite_schema import JSON_RUN_COLUMNS, RUN_COLUMNS
from agentkit.store.events import RunInfo, Source

RUN_SELECT = f"SELECT {', '.join(RUN_COLUMNS)}, extra FROM runs"
_EXTRA_FIELDS = frozenset(RunInfo.model_fields) - set(RUN_COLUMNS)


def _column_value(name: str, value: Any) -> Any:
    return orjson.dumps(value).decode() if name in JSON_RUN_COLUMNS else value


def run_row(run: RunInfo) -> tuple[Any, ...]:
    dumped = scrub(run.model_dump(mode="json"))
    extra = {k: v for k, v in dumped.items() if k not in RUN_COLUMNS}
    return (*(_column_value(c, dumped[c]) for c in RUN_COLUMNS), orjson.dumps(extra).decode())


def row_run(row: Sequence[Any], location: str) -> RunInfo:
    values = dict(zip(RUN_COLUMNS, row[: len(RUN_COLUMNS)], strict=True))
    try:
        for name in JSON_RUN_COLUMNS:
            values[name] = orjson.loads(values[name])
        extra = orjson.loads(row[len(RUN_COLUMNS)])
        known = {k: v for k, v in extra.items() if k in _EXTRA_FIELDS}
        return RunInfo.model_validate({**known, **values})
    except (ValueError, TypeError, AttributeError) as exc:
        raise unreadable(location, f"the row of run {values.get('id')!r}", exc) from exc


def row_source(data: str, location: str) -> Source:
    try:
        return Source.model_validate_json(data)
    except ValueError as exc:
        raise unreadable(location, "a source", exc) from exc


def run_update(run_id: str, fields: dict[str, Any]) -> tuple[str, list[Any]]:
    """Validate ``update_run`` keywords against ``RunInfo``; SET clause and parameters."""
    unknown = sorted(set(fields) - set(RunInfo.model_fields))
    if unknown:
        raise ValueError(f"RunInfo has no field(s) {', '.join(unknown)}")
    if "id" in fields:
        raise ValueError("a run's id cannot be changed")
    fields = {**fields, "updated_at": time.time()}
    # Only id and task are required: validating the given fields over defaults checks
    # each value against its annotation (a Usage, a status literal, ...).
    checked = RunInfo.model_validate({"id": run_id, "task": "", **fields})
    dumped = scrub(checked.model_dump(mode="json", include=set(fields)))
    sets: list[str] = []
    params: list[Any] = []
    extra_paths: list[str] = []
    extra_params: list[Any] = []
    for name, value in dumped.items():
        if name in RUN_COLUMNS:
            sets.append(f"{name} = ?")
            params.append(_column_value(name, value))
        else:  # a RunInfo field added after this schema: kept in the JSON column
            extra_paths.append(f"'$.\"{name}\"', json(?)")
            extra_params.append(orjson.dumps(value).decode())
    if extra_paths:
        sets.append(f"extra = json_set(extra, {', '.join(extra_paths)})")
    return ", ".join(sets), params + extra_params


__all__ = ["RUN_SELECT", "row_run", "row_source", "run_row", "run_update"]
