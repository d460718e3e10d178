"""Warm trials (vgg_sweep/engine/warm.py): forked from the worker's server, isolated as a
subprocess is, and the same runs as a fresh interpreter's."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import processes
import pytest
from optuna.trial import TrialState
from study_helpers import load_study

from vgg_sweep.cli import main
from vgg_sweep.engine.spec import load_spec
from vgg_sweep.engine.warm import PLOTS, SVM, TRAINER, WANDB, preload_for
from vgg_sweep.record import read_record

GRID = """
    name: warm
    method: grid
    metric: {name: val_acc, goal: maximize}
    parameters:
      optimizer: {values: [Adam, SGD]}
      lr: {value: 0.01}
      dataset: {value: synthetic}
      epochs: {value: 2}
      train_subset: {value: 128}
      batch_size: {value: 32}
      threads: {value: 1}
      grad_flow_every: {value: 5}
      plots: {value: false}
"""


def _records(runs) -> dict:
    """{(optimizer, lr): record} of every run of the sweep."""
    study = load_study("warm", str(runs / "warm" / "study.log"))
    records = {}
    for trial in study.get_trials(states=(TrialState.COMPLETE,)):
        record = read_record(runs / "warm" / trial.user_attrs["run_id"])
        records[record["config"]["optimizer"], record["config"]["lr"]] = record
    return records


def test_warm_and_cold_trials_are_the_same_runs(write_sweep, tmp_path, capsys):
    """The same grid, forked from the warm server and with --cold-start (a fresh interpreter
    per trial, as a W&B agent starts it): every number of every epoch, the test set's, the
    telemetry and the model's size are equal; only the start-up differs."""
    path = write_sweep(GRID)
    runs = {}
    for mode in ("warm", "cold"):
        runs[mode] = tmp_path / mode
        args = ["sweep", str(path), "--runs-dir", str(runs[mode])]
        assert main(args + (["--cold-start"] if mode == "cold" else [])) == 0
    out = capsys.readouterr().out
    assert "2 finished" in out and "time in 2 run(s): " in out  # the sweep's breakdown
    warm, cold = _records(runs["warm"]), _records(runs["cold"])
    assert len(warm) == 2 and warm.keys() == cold.keys()
    measured = ("train_loss", "train_acc", "val_loss", "val_acc", "lr")
    for point, record in warm.items():
        other = cold[point]
        assert [[row[key] for key in measured] for row in record["history"]] == \
            [[row[key] for key in measured] for row in other["history"]]
        for key in ("test_acc", "test_loss", "params", "macs", "fingerprint"):
            assert record["summary"][key] == other["summary"][key], (point, key)
        assert record["telemetry"]["grad_flow"] == other["telemetry"]["grad_flow"]
        # forked: no interpreter start or imports; cold: both, and torch's are seconds
        assert record["summary"]["seconds"]["startup"] < other["summary"]["seconds"]["startup"]


def test_a_trial_killed_9_ends_alone_and_its_worker_serves_on(write_sweep, tmp_path):
    """kill -9 of a warm trial's process (what a segfault or the OOM killer does): the same
    worker and fork server go on, the trial is retried once and every point finishes."""
    path = write_sweep(GRID.replace("epochs: {value: 2}", "epochs: {value: 30}"))
    runs = tmp_path / "runs"
    sweep = subprocess.Popen([sys.executable, "-m", "vgg_sweep", "sweep", str(path),
                              "--runs-dir", str(runs)], stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True)
    try:
        victim, deadline = None, time.monotonic() + 120
        while victim is None and time.monotonic() < deadline and sweep.poll() is None:
            workers = list(filter(processes.is_worker, processes.children(sweep.pid)))
            running = [(worker, trial) for worker in workers
                       for trial in processes.trials(worker)]
            if running and (runs / "warm" / running[0][1][1] / "record.json").exists():
                victim = running[0]  # a trial past its first epoch
            time.sleep(0.2)
        assert victim is not None, "no warm trial was found under the sweep's worker"
        (worker, (pid, run_id)) = victim
        os.kill(pid, signal.SIGKILL)
        served = set()
        while sweep.poll() is None and time.monotonic() < deadline + 240:
            served |= {trial for trial in processes.trials(worker)}
            time.sleep(0.2)
        output = sweep.communicate(timeout=60)[0]
    finally:
        if sweep.poll() is None:
            sweep.kill()
    assert sweep.returncode == 0, output
    assert "2 finished, 0 pruned, 0 failed, 1 retried" in output
    assert f"{run_id}" in output and "crashed" in output and "Traceback" not in output
    assert served - {(pid, run_id)}, "the worker ran no trial after the kill"
    study = load_study("warm", str(runs / "warm" / "study.log"))
    retried = [t for t in study.trials if t.user_attrs.get("retry_of") is not None]
    assert len(retried) == 1 and retried[0].state == TrialState.COMPLETE


def test_the_server_initialises_no_cuda_and_runs_no_python_thread():
    """What the fork server imports leaves nothing a fork cannot copy: no CUDA context (each
    trial initialises its own after the fork) and no Python thread besides the main one.
    (Every name must import: the server skips one it cannot, silently.)"""
    code = ("import importlib, threading\n"
            f"for name in {list(TRAINER + SVM + PLOTS + WANDB)!r}: "
            "importlib.import_module(name)\n"
            "import torch\n"
            "print(threading.active_count(), torch.cuda.is_initialized())")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["1", "False"]



def test_the_server_imports_what_the_sweeps_trials_import(write_sweep):
    """scikit-learn only when a trial may train an SVM, matplotlib only when one may draw
    plots, W&B only when it is enabled: a server's imports are each worker's start."""
    cnn = load_spec(write_sweep(GRID))
    assert preload_for(cnn, wandb_enabled=False) == TRAINER
    assert preload_for(cnn, wandb_enabled=True) == TRAINER + WANDB
    both = load_spec(write_sweep(GRID.replace("plots: {value: false}",
                                              "plots: {values: [false, true]}")
                                 + "      model: {values: [vgg6, svm]}\n"))
    assert preload_for(both, wandb_enabled=False) == TRAINER + SVM + PLOTS


@pytest.mark.parametrize("wandb_mode", ["disabled", "offline"])
def test_a_trial_imports_little_beyond_what_its_server_did(tmp_path, wandb_mode):
    """A trial after the server's imports (TRAINER, and WANDB when W&B is on) imports a few
    small modules more, not a package: a new lazy import in the trainer or in W&B shows up
    here (W&B's OpenTelemetry was 0.35 s of every trial's first log, its launch package 0.5 s)."""
    modules = TRAINER + (WANDB if wandb_mode != "disabled" else ())
    code = (f"import importlib, sys\nfor name in {list(modules)!r}: importlib.import_module(name)\n"
            "before = set(sys.modules)\nfrom vgg_sweep.cli import main\n"
            f"code = main(['train', '--dataset=synthetic', '--train_subset=64', '--epochs=1', "
            f"'--batch_size=32', '--runs_dir={tmp_path}', '--run_id=r', '--sweep=s', "
            f"'--wandb_mode={wandb_mode}'])\n"
            "print(code, *sorted(set(sys.modules) - before))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=180, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    code, *new = result.stdout.split("\n")[-2].split()
    assert code == "0"
    assert len(new) < 15, new
    assert not [m for m in new if m.split(".")[0] in ("sklearn", "scipy", "matplotlib",
                                                        "seaborn", "pandas", "requests")], new
