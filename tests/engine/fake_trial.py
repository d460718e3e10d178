"""A trial that honours vgg_sweep.train's contract in milliseconds, for engine tests.

In-process: `run_trial(config, run_dir, *, run_id, sweep, resume, on_epoch)`. As a program:
`python fake_trial.py --key=value ... --sweep= --runs_dir= --run_id= [--resume]`, exit 0/1/2,
SIGTERM or SIGINT -> state killed; pruned through the engine's epoch channel like the real
trial (`vgg_sweep.outcome`), tested and recorded `pruned`. val_acc rises each epoch towards a
value set by lr and optimizer. `seed=13` crashes after epoch 1 of the first attempt (exit 3 /
an exception) and succeeds when resumed. `device=cuda` fails at once with the reason the real
trainer gives on a machine without a GPU (exit 1 / state failed). FAKE_EPOCH_SECONDS sets the
time per epoch.
"""

from __future__ import annotations

import math
import os
import sys
import time
from pathlib import Path

from vgg_sweep.config import ConfigError, config_dict, make_config
from vgg_sweep.outcome import Outcome, State, StopFlag, engine_on_epoch
from vgg_sweep.record import read_history, write_record

CRASH_SEED = 13
NO_GPU = "device=cuda requested but no CUDA GPU is available on this machine"


def final_accuracy(config) -> float:
    bonus = {"Adam": 5.0, "SGD": 0.0}.get(config.optimizer, 2.0)
    return 60.0 - 8.0 * abs(math.log10(config.lr) + 2.5) + bonus + config.seed % 7 * 0.01


def run_trial(config, run_dir, *, run_id, sweep=None, resume=False, on_epoch=None,
              should_stop=lambda: False, group=None, **_):
    run_dir = Path(run_dir)
    history = read_history(run_dir) if resume else []
    record = {"id": run_id, "name": run_id, "sweep": sweep, "state": State.RUNNING,
              "config": config_dict(config), "summary": {}, "history": history,
              **({"group": group} if group else {})}
    if config.device == "cuda":
        write_record(run_dir, {**record, "state": State.FAILED,
                               "summary": {"failure_reason": NO_GPU}})
        return Outcome(State.FAILED, {"failure_reason": NO_GPU}, history, NO_GPU)
    state = State.FINISHED
    for epoch in range(len(history) + 1, config.epochs + 1):
        time.sleep(float(os.environ.get("FAKE_EPOCH_SECONDS", "0")))
        if should_stop():
            state = State.KILLED
            break
        row = {"epoch": epoch, "val_acc": final_accuracy(config) * epoch / config.epochs,
               "train_loss": 1.0 / epoch}
        history.append(row)
        write_record(run_dir, {**record, "summary": row})
        if config.seed == CRASH_SEED and not resume:
            raise RuntimeError("fake crash after the first epoch of the first attempt")
        if on_epoch is not None and on_epoch(epoch, row):
            state = State.PRUNED
            break
    summary = {**(history[-1] if history else {}),
               "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES")}
    if state != State.KILLED:  # tested at its last epoch
        summary["test_acc"] = final_accuracy(config) * len(history) / config.epochs
    write_record(run_dir, {**record, "state": state, "summary": summary})
    return Outcome(state, summary, history)


def always_crash(*args, **kwargs):
    raise MemoryError("out of memory")


def main(argv: list[str]) -> int:
    options, values, resume = {}, {}, False
    for arg in argv:
        if arg == "--resume":
            resume = True
            continue
        key, _, value = arg.removeprefix("--").partition("=")
        (options if key in ("sweep", "runs_dir", "run_id", "group") else values)[key] = value
    try:
        config = make_config(values)
    except ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    run_dir = Path(options["runs_dir"]) / options["sweep"] / options["run_id"]
    try:
        with StopFlag().installed() as stop:
            result = run_trial(config, run_dir, run_id=options["run_id"],
                               sweep=options["sweep"], resume=resume, group=options.get("group"),
                               on_epoch=engine_on_epoch(), should_stop=lambda: stop.raised)
    except RuntimeError as error:  # a crash, not a failed trial (exit 1)
        print(error, flush=True)
        os._exit(3)
    print(f"{options['run_id']} {result.state}")
    return 1 if result.state == State.FAILED else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
