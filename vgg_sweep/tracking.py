"""Where a trial reports to: its run record on disk, always, and W&B when enabled.

W&B mode: `WANDB_MODE` when set (online | offline | disabled), else online when an API key is
configured and offline otherwise, so a machine without an account never blocks on a login.
Under a W&B agent the sweep's parameters arrive through `wandb.config`; `Tracker.start`
returns the config with them applied.

W&B's own lines: quiet always (no version banner, no ~30-line history and summary at the end:
the record and the trainer's epoch lines say it all); silent for the trials of our local
engine, whose sweep prints one line per epoch and per trial itself (an `--in-process` sweep
printed W&B's block for every trial).
"""

from __future__ import annotations

import netrc
import os
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from vgg_sweep.config import FIELDS, TrialConfig, config_dict, make_config
from vgg_sweep.outcome import State
from vgg_sweep.record import write_record


def wandb_mode() -> str:
    if os.environ.get("WANDB_MODE"):
        return os.environ["WANDB_MODE"]
    if os.environ.get("WANDB_API_KEY"):
        return "online"
    try:
        hosts = netrc.netrc().hosts
    except (OSError, netrc.NetrcParseError):
        hosts = {}
    return "online" if any("wandb" in host for host in hosts) else "offline"


class Tracker:
    """Writes the run record (atomically, after every epoch) and mirrors it to W&B."""

    def __init__(self, run_dir: Path, run_id: str, sweep: str | None, name: str | None = None,
                 mode: str | None = None, group: str | None = None):
        self.run_dir, self.run_id, self.sweep = Path(run_dir), run_id, sweep
        self.group = group  # the configuration its seed runs share (W&B's group, else sweep)
        self.name = name or run_id
        self.mode = mode or wandb_mode()
        self.created = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        self.started = time.monotonic()
        self.runtime_before = 0.0  # seconds spent in earlier attempts (resume)
        self.config: dict[str, Any] = {}
        self.history: list[dict[str, Any]] = []
        self.telemetry: dict[str, Any] = {}  # record.json's `telemetry` (telemetry.py)
        self._wandb_run = None

    # --- lifecycle ---------------------------------------------------------------------------
    def start(self, config: TrialConfig) -> TrialConfig:
        """Open the W&B run; return the config with any sweep parameters W&B carries."""
        if self.mode != "disabled" or os.environ.get("WANDB_SWEEP_PARAM_PATH"):
            config = self._start_wandb(config)
        self.config = config_dict(config)
        return config

    def _start_wandb(self, config: TrialConfig) -> TrialConfig:
        import wandb

        self.run_dir.mkdir(parents=True, exist_ok=True)
        in_sweep = bool(os.environ.get("WANDB_SWEEP_ID"))  # a W&B agent's run
        local_trial = self.sweep is not None and not in_sweep
        self._wandb_run = wandb.init(
            project=os.environ.get("WANDB_PROJECT", "vgg-sweep"), dir=str(self.run_dir),
            config=config_dict(config), mode=self.mode, group=self.group or self.sweep,
            id=None if in_sweep else self.run_id, name=None if in_sweep else self.name,
            resume="allow", reinit="finish_previous",
            settings=wandb.Settings(quiet=True, silent=local_trial))
        from_wandb = {key: value for key, value in dict(self._wandb_run.config).items()
                      if key in FIELDS}
        config = make_config(from_wandb, base=config)
        self._wandb_run.config.update(config_dict(config), allow_val_change=True)
        self._wandb_run.define_metric("epoch")
        self._wandb_run.define_metric("*", step_metric="epoch")
        self._wandb_run.define_metric("val_acc", summary="max")
        return config

    def log_epoch(self, row: dict[str, Any], media: dict[str, Any] | None = None) -> None:
        """Record one epoch (W&B step = epoch) and persist the record as `running`."""
        self.history.append(row)
        if self._wandb_run is not None:
            self._wandb_run.log({**row, **(media or {})})
        self.write(State.RUNNING, self.history[-1])

    def finish(self, state: str, summary: dict[str, Any]) -> None:
        self.write(state, summary)
        if self._wandb_run is not None:
            self._wandb_run.summary.update({**summary, "state": str(state)})  # not the enum
            # A pruned run ended as planned: W&B shows it finished, not failed.
            self._wandb_run.finish(exit_code=0 if state in (State.FINISHED, State.PRUNED) else 1)
            self._wandb_run = None

    def discard(self) -> None:
        """End the W&B run of a trial refused before it trained (no record was written)."""
        if self._wandb_run is not None:
            self._wandb_run.finish(exit_code=1)
            self._wandb_run = None

    def log_media(self, media: dict[str, Any]) -> None:
        """W&B-only objects (tables, images, plots); the record keeps the raw data instead."""
        if self._wandb_run is not None and media:
            self._wandb_run.log(media)

    @property
    def wandb_enabled(self) -> bool:
        return self._wandb_run is not None

    # --- the record ----------------------------------------------------------------------------
    def write(self, state: str, summary: dict[str, Any]) -> None:
        record = {
            "id": self.run_id, "name": self.name, "sweep": self.sweep, "state": state,
            "created": self.created,
            "runtime": round(self.runtime_before + time.monotonic() - self.started, 3),
            "config": self.config, "summary": summary, "history": self.history,
        }
        if self.group:
            record["group"] = self.group
        if self.telemetry:
            record["telemetry"] = self.telemetry
        write_record(self.run_dir, record)
