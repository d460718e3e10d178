"""What W&B writes for a run logged offline, read back without a server, while it grows.

wandb 0.31 writes an offline run as one transaction log, `run-<id>.wandb`, and no history
file: a 7-byte header (`:W&B`, a magic number, a version), then LevelDB's log framing (32 KiB
blocks; each fragment has a 4-byte checksum, a 2-byte length and a 1-byte type: full, first,
middle, last) around protobuf `wandb_internal_pb2.Record`s, definitions wandb ships. Folding
the run, config, summary, history and exit records gives what the W&B server would hold.

`RunLog.read()` picks up where it stopped: a record cut short by a writer still at work is
left for the next read, so the engine can follow a foreign program's metrics as it trains.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HEADER = b":W&B"
HEADER_LENGTH = 7
BLOCK = 32 * 1024
FRAGMENT_HEADER = struct.Struct("<IHB")  # checksum, length, type
FULL, FIRST, MIDDLE, LAST = 1, 2, 3, 4
INTERNAL_KEYS = ("_wandb", "wandb_version")  # W&B's bookkeeping in the config, not the run's


class NotARunLog(ValueError):
    """The file is not a W&B transaction log (or is damaged past its framing)."""


def _put(target: dict, item) -> None:
    """One `key`/`nested_key` + `value_json` item into a (nested) dict."""
    path = list(item.nested_key) or [item.key]
    for key in path[:-1]:
        target = target.setdefault(key, {})
    target[path[-1]] = json.loads(item.value_json)


@dataclass
class RunLog:
    """One offline run's transaction log, folded as the W&B server would hold the run."""

    path: Path
    run_id: str | None = None
    name: str | None = None
    group: str | None = None
    config: dict[str, Any] = field(default_factory=dict)
    summary: dict[str, Any] = field(default_factory=dict)
    history: list[dict[str, Any]] = field(default_factory=list)
    exit_code: int | None = None
    _position: int = HEADER_LENGTH
    _pending: bytes = b""

    @property
    def state(self) -> str:
        """The state W&B gives a run that exited with this code (no exit record: crashed)."""
        return {None: "crashed", 0: "finished"}.get(self.exit_code, "failed")

    def read(self) -> list[dict[str, Any]]:
        """Fold the records written since the last read; returns the new history rows."""
        try:
            raw = Path(self.path).read_bytes()
        except FileNotFoundError:
            return []
        if len(raw) >= len(HEADER) and not raw.startswith(HEADER):
            raise NotARunLog(f"{self.path} is not a W&B transaction log")
        before = len(self.history)
        for data in self._complete_records(raw):
            self._fold(data)
        return self.history[before:]

    def _complete_records(self, raw: bytes):
        position = self._position
        while position + FRAGMENT_HEADER.size <= len(raw):
            left_in_block = BLOCK - position % BLOCK
            if left_in_block < FRAGMENT_HEADER.size:  # a block's tail too short for a header
                position += left_in_block
                continue
            _, length, kind = FRAGMENT_HEADER.unpack_from(raw, position)
            if kind == 0 and length == 0:  # zero padding to the end of the block
                position += left_in_block
                continue
            end = position + FRAGMENT_HEADER.size + length
            if end > len(raw):  # the writer is still at this fragment
                break
            data = raw[position + FRAGMENT_HEADER.size:end]
            position = end
            if kind not in (FULL, FIRST, MIDDLE, LAST):
                raise NotARunLog(f"{self.path}: fragment of unknown type {kind}")
            if kind in (FIRST, MIDDLE):
                self._pending = (b"" if kind == FIRST else self._pending) + data
            else:
                record, self._pending = (self._pending + data if kind == LAST else data), b""
                yield record
            self._position = position

    def _fold(self, data: bytes) -> None:
        from wandb.proto import wandb_internal_pb2

        record = wandb_internal_pb2.Record.FromString(data)
        kind = record.WhichOneof("record_type")
        if kind in ("run", "config"):
            if kind == "run":
                self.run_id, self.name = record.run.run_id, record.run.display_name
                self.group = record.run.run_group
            for item in (record.run if kind == "run" else record).config.update:
                if (list(item.nested_key) or [item.key])[0] not in INTERNAL_KEYS:
                    _put(self.config, item)
        elif kind == "summary":
            for item in record.summary.update:
                _put(self.summary, item)
        elif kind == "history":
            row: dict[str, Any] = {}
            for item in record.history.item:
                _put(row, item)
            self.history.append(row)
        elif kind == "exit":
            self.exit_code = record.exit.exit_code


def read_run_log(path: Path) -> RunLog:
    """The whole log of a run that has ended."""
    log = RunLog(Path(path))
    log.read()
    return log


def run_logs(folder: Path, run_id: str) -> list[Path]:
    """The transaction logs W&B wrote under `folder` for the run `run_id`, oldest first (a
    run resumed or repeated with its id has several): `[offline-]run-<time>-<id>/`."""
    return sorted(Path(folder).rglob(f"*run-*-{run_id}/run-{run_id}.wandb"))


def offline_run_logs(folder: Path) -> list[Path]:
    """The transaction logs of the offline runs under `folder` (W&B's `offline-run-*/`)."""
    return sorted(Path(folder).rglob("offline-run-*/run-*.wandb"))
