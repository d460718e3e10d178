"""The W&B UI's CSV export format: read it into a RunTable, write a RunTable in it.

An export is one quoted row per run: meta columns (`Name`, `State`, `Created`, `Runtime` or
`Runtime (Seconds)`, ...), then config and summary columns as the UI shows them, with
`true`/`false`, empty cells for missing values, dotted keys for nested config and `/` in
summary keys. Nothing marks which column is config and which is summary, so `header_role`
decides by name, in this order:

0. a header `config:KEY` or `summary:KEY` is that key in that role (our `export` writes these
   only for the columns that the rules below would misread, so that every table reads back
   identically);
1. the first W&B meta header of each meta field (Name, ID, State, Created, Runtime, Sweep;
   a second `state` or `Runtime (Seconds)` is an ordinary column; User, Notes, Tags, ... are
   dropped);
2. `/` in the key or a leading `_` (`val/acc`, `_runtime`): summary, W&B's own convention;
3. a known hyperparameter name (every field of the trial config, plus common names such as
   `learning_rate`, `arch`, `kernel`, `C`): config;
4. a metric-like name (`val_acc`, `train_loss`, `best_epoch`, `epoch_time_sec`, `params`,
   `flops`, anything with acc/loss/error/time/score/...): summary;
5. the column named by `--metric`: summary;
6. a numeric column whose values are nearly all distinct (more than 10, and more than half
   of the runs): summary (a measurement; swept values repeat);
7. anything else: config.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

import pandas as pd

from analysis.runs import META, RunTable, make_table
from vgg_sweep.config import FIELDS
from vgg_sweep.errors import UserError
from vgg_sweep.record import atomic_write_bytes

# Export header -> meta column; headers mapped to None are UI bookkeeping we drop.
META_HEADERS = {
    "name": "name", "id": "id", "run id": "id", "state": "state", "created": "created",
    "created at": "created", "runtime": "runtime", "runtime (seconds)": "runtime",
    "sweep": "sweep", "user": None, "notes": None, "tags": None, "group": None,
    "job type": None, "hostname": None, "host": None, "commit": None, "github": None,
    "heartbeat": None, "updated": None, "end time": None,
}
WRITE_HEADERS = {"name": "Name", "id": "ID", "state": "State", "created": "Created",
                 "runtime": "Runtime", "sweep": "Sweep"}
# The trial config's fields (vgg_sweep.config is stdlib-only, so reading it costs nothing)
# and hyperparameter names common in other W&B sweeps; lower case, as column names are
# compared lower-cased.
KNOWN_CONFIG = frozenset({name.lower() for name in FIELDS} | {
    "learning_rate", "arch", "architecture", "optim", "wd", "bs", "num_epochs", "max_epochs",
    "num_layers", "hidden_size", "width", "depth", "augmentation", "cutout", "project",
})
_METRIC_NAME = re.compile(
    r"(^|_)(acc|accuracy|loss|err|error|errors|time|sec|secs|seconds|score|f1|auc|precision"
    r"|recall|throughput|flops|gflops|macs|params|parameters|epoch|step|reason)(_|$)")
_METRIC_PREFIX = ("best_", "final_", "test_", "train_", "val_", "valid_", "eval_")


def column_role(key: str, values: pd.Series, metric: str | None = None) -> str:
    """'config' or 'summary' for one non-meta export column; rules 2-7 of the module docstring."""
    last = key.split(".")[-1].lower()
    if "/" in key or key.startswith("_"):
        return "summary"
    if last in KNOWN_CONFIG:
        return "config"
    if _METRIC_NAME.search(last) or last.startswith(_METRIC_PREFIX) or key == metric:
        return "summary"
    present = values[values != ""]
    numbers = pd.to_numeric(present, errors="coerce")
    distinct = numbers.nunique()
    if numbers.notna().all() and distinct > 10 and distinct > len(present) / 2:
        return "summary"
    return "config"


def header_role(header: str, values: pd.Series, meta_seen: set[str],
                metric: str | None = None) -> tuple[str | None, str]:
    """(role, key) of one export column: role 'meta' (key: the meta field), None (dropped),
    'config' or 'summary'; `meta_seen` holds the meta fields of the columns before it."""
    for role in ("config", "summary"):
        if header.startswith(f"{role}:"):
            return role, header[len(role) + 1:]
    key = header.strip()
    field = META_HEADERS.get(key.lower(), "")
    if field is None:
        return None, key
    if field and field not in meta_seen:
        return "meta", field
    return column_role(key, values, metric), key


def read_csv_export(path: Path, metric: str | None = None) -> RunTable:
    """A W&B UI CSV export (or our own `export`) as a RunTable.

    The first row is the header; a row longer than it is refused (pandas would silently
    make the first column the index and shift every column); a shorter row is padded with
    empty cells."""
    try:
        raw = pd.read_csv(path, dtype=str, header=None, na_filter=False)
    except (OSError, ValueError, pd.errors.ParserError) as error:
        raise UserError(f"{path}: cannot read as CSV ({error}); pass a W&B CSV export") \
            from None
    headers, rows = raw.iloc[0].tolist(), raw.iloc[1:].reset_index(drop=True)
    meta, config, summary = {}, [], []
    for position, header in enumerate(headers):
        values = rows[position]
        role, key = header_role(header, values, set(meta), metric)
        if role == "meta":
            meta[key] = values
        elif role is not None:
            (config if role == "config" else summary).append((key, values))
    if "name" not in meta and "id" not in meta:
        raise UserError(f"{path}: no Name column; is this a W&B runs export?")
    if "state" not in meta:
        meta["state"] = pd.Series("finished", index=rows.index)
    return make_table(pd.DataFrame(meta, index=rows.index), config, summary, source=str(path))


def write_csv_export(table: RunTable, path: Path) -> None:
    """Write the table as a W&B-style CSV export, atomically: every field quoted, booleans as
    true/false, missing values empty, integral floats without `.0`; a column that
    `header_role` would misread gets a `config:` or `summary:` header."""
    frame = table.frame
    meta = [column for column in META if column in frame]
    headers = [WRITE_HEADERS[column] for column in meta]
    columns = [_export_text(frame[column]) for column in meta]
    for role, keys in (("config", table.config), ("summary", table.summary)):
        for key in keys:
            text = _export_text(frame[key])
            plain = header_role(key, text, set(meta)) == (role, key)
            headers.append(key if plain else f"{role}:{key}")
            columns.append(text)
    text = pd.concat(columns, axis=1, ignore_index=True) if columns else pd.DataFrame()
    data = text.to_csv(header=headers, index=False, quoting=csv.QUOTE_ALL)
    try:
        atomic_write_bytes(path, data.encode())
    except OSError as error:
        raise UserError(f"cannot write {path} ({error.strerror or error}); choose a writable "
                        "-o path") from None


def _export_text(column: pd.Series) -> pd.Series:
    present = column.notna()
    if isinstance(column.dtype, pd.DatetimeTZDtype):
        text = column.dt.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    elif pd.api.types.is_bool_dtype(column):
        text = column.map({True: "true", False: "false"}, na_action="ignore")
    elif pd.api.types.is_float_dtype(column):
        text = column.map(lambda v: str(int(v)) if v.is_integer() else repr(v),
                          na_action="ignore")
    else:
        text = column.astype(object).map(str, na_action="ignore")
    return text.where(present, "").astype(object)
