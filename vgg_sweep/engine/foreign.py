"""A foreign program's trial: the sweep file's own `program`/`command`, run as a W&B agent
runs it, followed through what W&B writes offline, and left as the run record our own
trainer leaves, so that report, lints and rerun-best work unchanged.

- The process: argv and environment from `engine/program.py` (wandb's own macro expansion,
  the parameter file `wandb.config` reads, W&B offline); its output goes to `output.log`.
- Its metrics: the program's offline transaction log (`vgg_sweep/wandb_log.py`), read every
  POLL_SECONDS. Each new history row that holds the sweep's metric is one iteration, as
  W&B's hyperband counts them, and goes to `on_epoch`; True stops the program the way the
  agent stops a run (SIGTERM, then SIGKILL after KILL_DELAY) and the run is `pruned`.
- The record: the parameters W&B's config holds, W&B's summary, every history row, the
  state (exit 0: finished; exit > 0: failed, with the last output line as the reason; killed
  by a signal or gone without W&B's exit record: crashed; Ctrl-C of the worker: killed, to
  be run again) and the runtime; a finished run that never logged the sweep's metric gets a
  `note` naming what it logged instead (also the trial's reason).
- The program gets SIGTERM when its worker dies (kill -9 included), as our trainer does; a
  retry starts it again from its beginning.

The worker (`engine/worker.py`) sends a sweep here when `SweepSpec.foreign`.
"""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from vgg_sweep.engine.program import agent_command, agent_environment
from vgg_sweep.engine.runner import OUTPUT_FILE, POLL_SECONDS, die_with_parent, last_line
from vgg_sweep.outcome import OnEpoch, Outcome, State
from vgg_sweep.record import write_record
from vgg_sweep.wandb_log import RunLog, run_logs

KILL_DELAY = 30.0  # seconds between the agent's SIGTERM and its SIGKILL


def run_program(command: list | None, program: str | None, params: dict[str, Any],
                run_dir: Path, *, run_id: str, sweep: str, metric: str | None,
                on_epoch: OnEpoch, should_stop: Callable[[], bool],
                group: str | None = None) -> Outcome:
    """Run one point with the sweep's own program; always leaves a run record. `group`:
    the configuration it is one seed of (its record's and W&B's group)."""
    run_dir.mkdir(parents=True, exist_ok=True)
    created = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    env = agent_environment(params, run_dir, run_id, sweep)
    if group:
        env["WANDB_RUN_GROUP"] = group
    wandb_dir = Path(env["WANDB_DIR"])
    earlier = set(run_logs(wandb_dir, run_id))  # a retried run's first attempt left its own
    argv = agent_command(command, program, params, run_dir, run_id)
    started = time.monotonic()
    with open(run_dir / OUTPUT_FILE, "ab") as output:
        process = subprocess.Popen(argv, stdout=output, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL, env=env,
                                   preexec_fn=die_with_parent)  # no orphan if the worker dies
    log, iterations, verdict = None, 0, None
    while verdict is None:
        exited = process.poll() is not None
        log = log or _new_log(wandb_dir, run_id, earlier)
        for row in log.read() if log else []:
            if metric is not None and metric in row:
                iterations += 1
                if on_epoch(iterations, row):
                    verdict = State.PRUNED
                    break
        if exited and verdict is None:
            break
        if should_stop():
            verdict = State.KILLED
        if verdict is None:
            time.sleep(POLL_SECONDS)
    if verdict is not None:
        _stop(process)
    process.wait()
    if verdict is None and process.returncode != 0 and should_stop():
        verdict = State.KILLED  # the terminal's Ctrl-C reached the program before the worker
    if log is None:
        log = _new_log(wandb_dir, run_id, earlier)
    if log is not None:
        log.read()
    state, reason = _state(process.returncode, verdict, run_dir / OUTPUT_FILE)
    summary = dict(log.summary) if log else {}
    if reason and state == State.FAILED:
        summary["failure_reason"] = reason
    history = list(log.history) if log else []
    note = _no_metric(metric, summary, history) if state == State.FINISHED else None
    write_record(run_dir, {
        "id": run_id, "name": (log.name if log else None) or run_id, "sweep": sweep,
        "state": str(state), "created": created,
        "runtime": round(time.monotonic() - started, 3),
        "config": {**params, **(log.config if log else {})}, "summary": summary,
        "history": history, "program": argv, **({"note": note} if note else {}),
        **({"group": group} if group else {})})
    return Outcome(state, summary, history, reason or note)


def _no_metric(metric: str | None, summary: dict[str, Any], history: list[dict[str, Any]],
               ) -> str | None:
    """Why a finished run has nothing to rank it by: the keys it logged instead, if any."""
    if metric is None or metric in summary or any(metric in row for row in history):
        return None
    logged = sorted({key for row in [summary, *history] for key in row
                     if not key.startswith("_") and key != "failure_reason"})
    return (f"the program logged no {metric!r} (it logged {', '.join(logged) or 'nothing'}); "
            f"log it with wandb.log({{{metric!r}: ...}}) or name one of those in metric:")


def _new_log(wandb_dir: Path, run_id: str, earlier: set[Path]) -> RunLog | None:
    fresh = [path for path in run_logs(wandb_dir, run_id) if path not in earlier]
    return RunLog(fresh[-1]) if fresh else None


def _stop(process: subprocess.Popen) -> None:
    """As wandb's agent stops a run: SIGTERM, and SIGKILL if it is still there later."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=KILL_DELAY)
        except subprocess.TimeoutExpired:
            process.kill()


def _state(code: int, verdict: State | None, output: Path) -> tuple[State, str | None]:
    if verdict is not None:
        return verdict, None if verdict == State.PRUNED else "interrupted"
    if code == 0:
        return State.FINISHED, None
    tail = last_line(output)
    if code > 0:  # W&B calls a run whose process exits > 0 failed
        return State.FAILED, f"exit code {code}: {tail}"
    return State.CRASHED, f"killed by signal {-code}: {tail}"

