"""Where runs come from: a local runs directory, W&B through `wandb.Api()`, or a CSV export.

`load_source(spec)` picks by the spec's form: an existing directory is a runs directory
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

from analysis.runs import RunTable, make_table
from analysis.wandb_csv import read_csv_export
from vgg_sweep.errors import UserError
from vgg_sweep.record import HISTORY_FILE, RECORD_FILE, read_record

WANDB_PREFIX = "wandb:"
WANDB_PER_PAGE = 500  # runs per API request: few round trips, pages W&B serves quickly
_WANDB_URL = re.compile(r"^https?://[^/]*wandb\.ai/([^/]+)/([^/]+)(?:/sweeps/([^/?#]+))?")


def load_source(spec: str, metric: str | None = None, filters: dict | None = None,
                api=None) -> RunTable:
    """The runs named by `spec` (see the module docstring) as a RunTable."""
    if spec.startswith(WANDB_PREFIX) or _WANDB_URL.match(spec):
        return load_wandb(spec, filters=filters, api=api)
    path = Path(spec)
    if path.is_dir():
        return load_runs_dir(path)
    if path.is_file():
        return read_csv_export(path, metric=metric)
    raise UserError(f"{spec}: no such file or directory; pass a runs directory, a W&B CSV "
                    f"export, or {WANDB_PREFIX}ENTITY/PROJECT[/SWEEP_ID]")


def progress(items: Iterable, label: str, length: int | None = None) -> Iterator:
    """Iterate with a progress bar on stderr, only when stderr is a terminal."""
    if not sys.stderr.isatty():
        yield from items
        return
    import click

    with click.progressbar(items, length=length, label=label, file=sys.stderr) as bar:
        yield from bar


def flatten(values: dict[str, Any], separator: str, prefix: str = "") -> dict[str, Any]:
    """Nested dicts as one level with joined keys (config uses `.`, summary `/`, as W&B does);
    lists become JSON text so that a cell holds one value."""
    flat: dict[str, Any] = {}
    for key, value in values.items():
        name = f"{prefix}{key}"
        if hasattr(value, "items") and not isinstance(value, str):
            flat.update(flatten(dict(value.items()), separator, name + separator))
        elif isinstance(value, list | tuple):
            flat[name] = json.dumps(value, default=str)
        else:
            flat[name] = value
    return flat


def table_from_records(records: list[dict[str, Any]], source: str, **extra) -> RunTable:
    """Run records (the record.json shape) as a RunTable.

    A summary key equal to a config key (say `lr`, the final learning rate) is renamed
    `summary/<key>`: one column per name, and the `/` keeps it a summary key in CSV exports.
    """
    configs = [flatten(record.get("config") or {}, ".") for record in records]
    summaries = [flatten(record.get("summary") or {}, "/") for record in records]
    config_keys = list(dict.fromkeys(key for config in configs for key in config))
    clash = set(config_keys)
    summaries = [{(f"summary/{k}" if k in clash else k): v for k, v in summary.items()}
                 for summary in summaries]
    summary_keys = list(dict.fromkeys(key for summary in summaries for key in summary))
    meta = pd.DataFrame([{key: record.get(key) for key in ("name", "id", "state", "created",
                                                            "runtime", "sweep")}
                         for record in records])
    frame = pd.concat([meta, pd.DataFrame(configs, columns=config_keys),
                       pd.DataFrame(summaries, columns=summary_keys)], axis=1)
    frame = frame.dropna(axis=1, how="all") if records else frame
    meta_keys = [key for key in meta if key in frame]
    return make_table(frame[meta_keys + [k for k in config_keys + summary_keys if k in frame]],
                      [k for k in config_keys if k in frame],
                      [k for k in summary_keys if k in frame], source, **extra)


def load_runs_dir(root: Path) -> RunTable:
    """Every `record.json` under `root`; unreadable records are skipped and counted."""
    paths = sorted(root.rglob(RECORD_FILE))
    if not paths:
        raise UserError(f"{root}: no run records (*/{RECORD_FILE}) found; pass a runs "
                        "directory such as runs/<sweep>/ or a W&B CSV export")
    records, dirs, skipped = [], [], 0
    for path in progress(paths, "reading run records", len(paths)):
        try:
            records.append(read_record(path.parent))
            dirs.append(path.parent)
        except ValueError:
            skipped += 1
    if not records:
        raise UserError(f"{root}: none of the {skipped} run records could be read")

    def history(label) -> pd.DataFrame | None:
        """The history of the run: history.csv, else (missing, unreadable, or shorter: cut
        off) the history list in record.json."""
        run_dir, rows = dirs[label], records[label].get("history") or []
        if (run_dir / HISTORY_FILE).is_file():
            try:
                frame = pd.read_csv(run_dir / HISTORY_FILE)
            except (pd.errors.EmptyDataError, pd.errors.ParserError, OSError,
                    UnicodeDecodeError):
                frame = None
            if frame is not None and len(frame) >= len(rows):
                return frame
        return pd.DataFrame(rows) if rows else None

    return table_from_records(records, str(root), skipped=skipped, history_loader=history)


def parse_wandb_spec(spec: str) -> tuple[str, str | None]:
    """`wandb:ENTITY/PROJECT[/SWEEP_ID]` or a wandb.ai URL -> ("ENTITY/PROJECT", sweep_id)."""
    url = _WANDB_URL.match(spec)
    if url:
        return f"{url.group(1)}/{url.group(2)}", url.group(3)
    parts = [part for part in spec.removeprefix(WANDB_PREFIX).split("/") if part]
    if len(parts) == 4 and parts[2] == "sweeps":
        parts = parts[:2] + parts[3:]
    if len(parts) not in (2, 3):
        raise UserError(f"{spec}: expected {WANDB_PREFIX}ENTITY/PROJECT or "
                        f"{WANDB_PREFIX}ENTITY/PROJECT/SWEEP_ID")
    return "/".join(parts[:2]), (parts[2] if len(parts) == 3 else None)


def load_wandb(spec: str, filters: dict | None = None, api=None,
               per_page: int = WANDB_PER_PAGE) -> RunTable:
    """Runs of a W&B sweep or project (with optional MongoDB-style `filters`).

    Runs are fetched non-lazily (`lazy=False`: config and summary come in the page itself,
    not one request per run), `per_page` at a time, in creation order. Histories are fetched
    with `scan_history` only when a plot asks for them.
    """
    project, sweep = parse_wandb_spec(spec)
    query = dict(filters or {})
    if sweep:
        query = {"$and": [query, {"sweep": sweep}]} if query else {"sweep": sweep}
    if api is None:
        import wandb

        api = wandb.Api()
    try:
        runs = api.runs(project, filters=query or None, order="+created_at",
                        per_page=per_page, lazy=False)
        fetched = list(progress(runs, f"fetching runs of {spec}", _length(runs)))
    except Exception as error:  # wandb raises CommError, ValueError, HTTP errors...
        raise UserError(f"{spec}: W&B query failed ({error}); check the path and `wandb "
                        "login`") from None
    if not fetched:
        raise UserError(f"{spec}: W&B returned no runs; check the path and filters")
    records = [_wandb_record(run, sweep) for run in fetched]

    def history(label) -> pd.DataFrame | None:
        rows = list(fetched[label].scan_history(page_size=1000))
        return pd.DataFrame(rows) if rows else None

    return table_from_records(records, spec, history_loader=history)


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
