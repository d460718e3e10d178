"""Where runs come from: a local runs directory, W&B through `wandb.Api()`, or a CSV export.

`load_source(source)` picks by the source's form: an existing directory is a runs directory
(`runs/<sweep>/`, searched recursively for `*/record.json`), an existing file is a CSV
export, and `wandb:ENTITY/PROJECT[/SWEEP_ID]` (or a wandb.ai URL) is fetched from W&B. The
explicit prefix keeps a mistyped local path from turning into a network call.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pandas as pd

from analysis.runs import META, RunTable, as_numbers, make_table
from analysis.wandb_csv import read_csv_export
from vgg_sweep.errors import UserError
from vgg_sweep.record import HISTORY_FILE, RECORD_FILE, read_record

WANDB_PREFIX = "wandb:"
WANDB_PER_PAGE = 500  # runs per API request: few round trips, pages W&B serves quickly
_WANDB_URL = re.compile(r"^https?://[^/]*wandb\.ai/([^/]+)/([^/]+)(?:/sweeps/([^/?#]+))?")


def load_source(source: str, metric: str | None = None, filters: dict | None = None,
                api=None) -> RunTable:
    """The runs named by `source` (see the module docstring) as a RunTable."""
    if source.startswith(WANDB_PREFIX) or _WANDB_URL.match(source):
        return load_wandb(source, filters=filters, api=api)
    path = Path(source)
    if path.is_dir():
        return load_runs_dir(path)
    if path.is_file():
        return read_csv_export(path, metric=metric)
    raise UserError(f"{source}: no such file or directory; pass a runs directory, a W&B CSV "
                    f"export, or {WANDB_PREFIX}ENTITY/PROJECT[/SWEEP_ID]")


def progress(items: Iterable, label: str, length: int | None = None) -> Iterator:
    """Iterate with a progress bar on stderr, only when stderr is a terminal."""
    if not sys.stderr.isatty():
        yield from items
        return
    import click

    with click.progressbar(items, length=length, label=label, file=sys.stderr) as bar:
        yield from bar


def flatten(values: dict[str, Any], separator: str) -> dict[str, Any]:
    """Nested dicts as one level with joined keys (config uses `.`, summary `/`, as W&B does);
    lists become JSON text so that a cell holds one value. Iterative: any depth."""
    flat: dict[str, Any] = {}
    stack = list(reversed(values.items()))
    while stack:
        name, value = stack.pop()
        if hasattr(value, "items") and not isinstance(value, str):
            stack += reversed([(f"{name}{separator}{key}", inner) for key, inner in value.items()])
        elif isinstance(value, list | tuple):
            flat[name] = json.dumps(value, default=str)
        else:
            flat[name] = value
    return flat


def _section(record: dict[str, Any], key: str) -> dict[str, Any]:
    value = record.get(key)
    if value is None:
        return {}
    if not hasattr(value, "items") or isinstance(value, str):
        raise ValueError(f"{key} is a {type(value).__name__}, not an object")
    return value


def table_from_records(records: list[dict[str, Any]], source: str, **extra) -> RunTable:
    """Run records (the record.json shape) as a RunTable."""
    return table_from_parts([record_parts(record) for record in records], source, **extra)


def table_from_parts(parts: list[tuple[dict, dict, dict]], source: str, **extra) -> RunTable:
    """Records split by `record_parts` as a RunTable (config or summary keys that no run has
    a value for are left out)."""
    columns = []
    for index in (1, 2):
        flat = [part[index] for part in parts]
        keys = dict.fromkeys(key for row in flat for key in row)
        columns.append([(key, pd.Series([row.get(key) for row in flat], dtype=object))
                        for key in keys])
    config, summary = ([(key, values) for key, values in group if values.notna().any()]
                       for group in columns)
    meta = pd.DataFrame([part[0] for part in parts], columns=META)
    return make_table(meta.dropna(axis=1, how="all"), config, summary, source, **extra)


def record_parts(record: dict[str, Any]) -> tuple[dict, dict, dict]:
    """(meta, flat config, flat summary) of one record; ValueError when it is not one."""
    config = flatten(_section(record, "config"), ".")
    summary = flatten(_section(record, "summary"), "/")
    return {key: record.get(key) for key in META}, config, summary


def _history_frame(history) -> pd.DataFrame | None:
    """A history (rows, or a frame from history.csv) as numbers: text cells, lists and inf
    become NaN, so a damaged cell never reaches a plot."""
    if isinstance(history, list):
        history = pd.DataFrame([row for row in history if isinstance(row, dict)])
    if history is None or history.empty:
        return None
    return history.apply(as_numbers)


def load_runs_dir(root: Path) -> RunTable:
    """Every `record.json` under `root`; unreadable records (damaged JSON, not an object, a
    config or summary that is not an object) are skipped and counted."""
    paths = sorted(root.rglob(RECORD_FILE))
    if not paths:
        raise UserError(f"{root}: no run records (*/{RECORD_FILE}) found; pass a runs "
                        "directory such as runs/<sweep>/ or a W&B CSV export")
    records, parts, dirs, skipped = [], [], [], 0
    for path in progress(paths, "reading run records", len(paths)):
        try:
            record = read_record(path.parent)
            meta, config, summary = record_parts(record)
        except (ValueError, RecursionError):  # RecursionError: JSON nested thousands deep
            skipped += 1
            continue
        if meta["id"] is None:
            meta["id"] = path.parent.name
        records.append(record)
        parts.append((meta, config, summary))
        dirs.append(path.parent)
    if not records:
        raise UserError(f"{root}: none of the {skipped} run records could be read")

    def history(label) -> pd.DataFrame | None:
        """The history of the run: history.csv, else (missing, unreadable, or shorter: cut
        off) the history list in record.json."""
        run_dir, rows = dirs[label], records[label].get("history")
        rows = rows if isinstance(rows, list) else []
        if (run_dir / HISTORY_FILE).is_file():
            try:
                frame = pd.read_csv(run_dir / HISTORY_FILE)
            except (OSError, ValueError):  # pandas' parser errors are ValueErrors
                frame = None
            if frame is not None and len(frame) >= len(rows):
                return _history_frame(frame)
        return _history_frame(rows)

    return table_from_parts(parts, str(root), skipped=skipped, history_loader=history)


def report_dir(source: str) -> Path:
    """Where a report of `source` goes by default: reports/<the source's own name>, e.g.
    reports/vgg6 for runs/vgg6/ (trailing slash or not), export.csv and wandb:me/p/vgg6."""
    if source.startswith(WANDB_PREFIX) or _WANDB_URL.match(source):
        project, sweep = parse_wandb_source(source)
        name = sweep or project.split("/")[-1]
    else:
        name = Path(source.rstrip("/\\")).stem
    return Path("reports") / (name or "sweep")


def parse_wandb_source(source: str) -> tuple[str, str | None]:
    """`wandb:ENTITY/PROJECT[/SWEEP_ID]` or a wandb.ai URL -> ("ENTITY/PROJECT", sweep_id)."""
    url = _WANDB_URL.match(source)
    if url:
        return f"{url.group(1)}/{url.group(2)}", url.group(3)
    parts = [part for part in source.removeprefix(WANDB_PREFIX).split("/") if part]
    if len(parts) == 4 and parts[2] == "sweeps":
        parts = parts[:2] + parts[3:]
    if len(parts) not in (2, 3):
        raise UserError(f"{source}: expected {WANDB_PREFIX}ENTITY/PROJECT or "
                        f"{WANDB_PREFIX}ENTITY/PROJECT/SWEEP_ID")
    return "/".join(parts[:2]), (parts[2] if len(parts) == 3 else None)


def load_wandb(source: str, filters: dict | None = None, api=None,
               per_page: int = WANDB_PER_PAGE) -> RunTable:
    """Runs of a W&B sweep or project (with optional MongoDB-style `filters`).

    Runs are fetched non-lazily (`lazy=False`: config and summary come in the page itself,
    not one request per run), `per_page` at a time, in creation order. Histories are fetched
    with `scan_history` only when a plot asks for them.
    """
    project, sweep = parse_wandb_source(source)
    query = dict(filters or {})
    if sweep:
        query = {"$and": [query, {"sweep": sweep}]} if query else {"sweep": sweep}
    if api is None:
        import wandb

        api = wandb.Api()
    try:
        runs = api.runs(project, filters=query or None, order="+created_at",
                        per_page=per_page, lazy=False)
        fetched = list(progress(runs, f"fetching runs of {source}", _length(runs)))
    except Exception as error:  # wandb raises CommError, ValueError, HTTP errors...
        raise UserError(f"{source}: W&B query failed ({error}); check the path and `wandb "
                        "login`") from None
    if not fetched:
        raise UserError(f"{source}: W&B returned no runs; check the path and filters")
    records = [_wandb_record(run, sweep) for run in fetched]

    def history(label) -> pd.DataFrame | None:
        return _history_frame(list(fetched[label].scan_history(page_size=1000)))

    return table_from_records(records, source, history_loader=history)


def _length(runs) -> int | None:
    try:
        return len(runs)
    except TypeError:
        return None


def _wandb_record(run, sweep: str | None) -> dict[str, Any]:
    """One W&B run in the run-record shape; W&B's own `_` keys dropped, `_runtime` kept."""
    summary = dict(run.summary.items())
    config = {key: value for key, value in dict(run.config).items() if not key.startswith("_")}
    return {
        "name": run.name, "id": run.id, "state": run.state,
        "created": getattr(run, "created_at", None), "runtime": summary.get("_runtime"),
        "sweep": sweep,
        "config": config,
        "summary": {key: value for key, value in summary.items()
                    if not key.startswith("_") and not _is_media(value)},
    }


def _is_media(value) -> bool:
    """Summary entries for images, tables and histograms: dicts tagged with `_type`."""
    return hasattr(value, "get") and value.get("_type") is not None
