"""The run record: the contract between training and analysis: see docs/architecture.md.

Every trial, whatever the engine, leaves `runs/<sweep>/<run_id>/` with

- `record.json`: `{id, name, sweep, state, created, runtime, config, summary, history}`, the
  shape of a W&B run. `state` is one of `vgg_sweep.outcome.State` (finished, failed, crashed,
  killed: interrupted, pruned: stopped by hyperband, running); `created` is ISO-8601 UTC;
  `runtime` is seconds; `history` is one dict per epoch (`epoch` = W&B step);
  `summary.fingerprint` is what the config reached the trainer as, taken at the start of
  training (`vgg_sweep/fingerprint.py`; the no-effect lint compares it).
- `history.csv`: the same history as a table.
- `artifacts/`: plots and tables of the trial.

Files are written atomically (temporary file, fsync, rename), so a reader never sees half a
record, even when the writer is killed mid-write. This module needs only the standard
library: the analysis side reads records with it and never imports torch.
"""

from __future__ import annotations

import csv
import io
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from vgg_sweep.errors import UserError
from vgg_sweep.outcome import State

RECORD_FILE = "record.json"
HISTORY_FILE = "history.csv"
STATES = tuple(state.value for state in State)  # plain text, as records hold them
TEMP_SUFFIX = ".tmp"  # atomic writes: `.<name>.<random>.tmp`, then renamed


def make_dir(path: Path, what: str = "--runs_dir") -> Path:
    """Create `path` (and parents), or say in one line why it cannot be (UserError)."""
    try:
        Path(path).mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise UserError(f"cannot create {path} ({error.strerror}); pass {what} with a "
                        "writable directory") from None
    return Path(path)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write `data` to `path` so that readers see the old file or the new one, never a mix."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=TEMP_SUFFIX)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def remove_partial_writes(run_dir: Path) -> None:
    """Delete the temporary files that writers killed mid-write left in `run_dir` (call it
    only where no other process writes there: when a trial starts)."""
    for path in Path(run_dir).glob(f".*{TEMP_SUFFIX}"):
        path.unlink(missing_ok=True)


def history_csv(history: list[dict[str, Any]]) -> str:
    columns: list[str] = []
    for row in history:
        columns += [key for key in row if key not in columns]
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns)
    writer.writeheader()
    writer.writerows(history)
    return out.getvalue()


def write_record(run_dir: Path, record: dict[str, Any]) -> None:
    """Write record.json and history.csv of one run, each atomically."""
    history = record.get("history", [])
    atomic_write_bytes(run_dir / HISTORY_FILE, history_csv(history).encode())
    atomic_write_bytes(run_dir / RECORD_FILE,
                       json.dumps(record, indent=1, default=_jsonable).encode())


def read_record(run_dir: Path) -> dict[str, Any]:
    """The record of one run; raises ValueError when the file is missing or unreadable."""
    path = Path(run_dir) / RECORD_FILE
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError, RecursionError) as error:  # bad UTF-8/JSON, huge ints, nesting
        raise ValueError(f"{path}: unreadable run record ({error})") from None
    if not isinstance(record, dict) or "config" not in record or "state" not in record:
        raise ValueError(f"{path}: not a run record (no config or state)")
    return record


def read_history(run_dir: Path) -> list[dict[str, Any]]:
    """The epochs a run has recorded so far; none when its record is missing or unreadable."""
    try:
        return read_record(run_dir).get("history") or []
    except ValueError:
        return []


def _jsonable(value: Any) -> Any:
    """NaN/inf and numpy or torch scalars, as JSON can hold them."""
    if hasattr(value, "item"):
        return value.item()
    if hasattr(value, "tolist"):
        return value.tolist()
    return str(value)
