"""What W&B itself wrote for a run logged offline, read back without a server.

wandb 0.31 writes an offline run as one transaction log, `run-<id>.wandb`: a 7-byte header
(`:W&B`, a magic number, a version), then LevelDB's log framing (32 KiB blocks; each
fragment has a 4-byte checksum, a 2-byte length and a 1-byte type: full, first, middle,
last) around protobuf `wandb_internal_pb2.Record`s. Folding the config, summary, history and
exit records gives what the W&B server would hold for the run, which `as_public_run` turns
into wandb's own `wandb.apis.public.Run`: the object `wandb.Api().runs()` yields.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from wandb.apis.public import Run
from wandb.proto import wandb_internal_pb2

HEADER = b":W&B"
HEADER_LENGTH = 7
BLOCK = 32 * 1024
FRAGMENT_HEADER = struct.Struct("<IHB")  # checksum, length, type
FULL, FIRST, MIDDLE, LAST = 1, 2, 3, 4


def records(path: Path) -> list[wandb_internal_pb2.Record]:
    raw = Path(path).read_bytes()
    assert raw.startswith(HEADER), f"{path}: not a W&B transaction log"
    found, pending, position = [], b"", HEADER_LENGTH
    while position + FRAGMENT_HEADER.size <= len(raw):
        left_in_block = BLOCK - position % BLOCK
        if left_in_block < FRAGMENT_HEADER.size:  # a block's tail too short for a header
            position += left_in_block
            continue
        _, length, kind = FRAGMENT_HEADER.unpack_from(raw, position)
        if kind == 0 and length == 0:  # zero padding to the end of the block
            position += left_in_block
            continue
        data = raw[position + FRAGMENT_HEADER.size:position + FRAGMENT_HEADER.size + length]
        position += FRAGMENT_HEADER.size + length
        if kind in (FIRST, MIDDLE):
            pending = (b"" if kind == FIRST else pending) + data
            continue
        assert kind in (FULL, LAST), f"{path}: fragment type {kind}"
        found.append(wandb_internal_pb2.Record.FromString(pending + data if kind == LAST
                                                          else data))
        pending = b""
    return found


def _put(target: dict, item) -> None:
    """One `key`/`nested_key` + `value_json` item into a (nested) dict."""
    path = list(item.nested_key) or [item.key]
    for key in path[:-1]:
        target = target.setdefault(key, {})
    target[path[-1]] = json.loads(item.value_json)


@dataclass
class OfflineRun:
    run_id: str
    name: str
    group: str
    config: dict[str, Any] = field(default_factory=dict)
    summary: dict[str, Any] = field(default_factory=dict)
    history: list[dict[str, Any]] = field(default_factory=list)
    exit_code: int | None = None

    @property
    def state(self) -> str:
        """The state W&B gives a run that exited with this code."""
        return {None: "crashed", 0: "finished"}.get(self.exit_code, "failed")


def read_offline_run(path: Path) -> OfflineRun:
    run = None
    for record in records(path):
        kind = record.WhichOneof("record_type")
        if kind == "run":
            run = OfflineRun(record.run.run_id, record.run.display_name, record.run.run_group)
            for item in record.run.config.update:
                _put(run.config, item)
        elif kind == "config":
            for item in record.config.update:
                _put(run.config, item)
        elif kind == "summary":
            for item in record.summary.update:
                _put(run.summary, item)
        elif kind == "history":
            row: dict[str, Any] = {}
            for item in record.history.item:
                _put(row, item)
            run.history.append(row)
        elif kind == "exit":
            run.exit_code = record.exit.exit_code
    assert run is not None, f"{path}: no run record"
    return run


class PublicRun(Run):
    """wandb's own API object for a run; only the history scan, a server call, is local."""

    def __init__(self, offline: OfflineRun, entity: str, project: str, sweep: str | None):
        attrs = {
            "id": offline.run_id, "name": offline.run_id, "displayName": offline.name,
            "state": offline.state, "createdAt": "2026-11-30T00:00:00Z",
            "sweepName": sweep, "group": offline.group,
            # The server stores config as {key: {"value": v}} and both as JSON strings.
            "config": json.dumps({key: {"value": value} for key, value in
                                  offline.config.items()}),
            "summaryMetrics": json.dumps(offline.summary),
        }
        super().__init__(None, entity, project, offline.run_id, attrs=attrs, lazy=False)
        self._offline_history = offline.history

    def scan_history(self, keys=None, page_size=1000, min_step=0, max_step=None,
                     use_cache=True):
        return iter(self._offline_history)


def offline_run_files(runs_dir: Path) -> list[Path]:
    return sorted(Path(runs_dir).rglob("offline-run-*/run-*.wandb"))
