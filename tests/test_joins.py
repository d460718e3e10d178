"""The joins between our halves, tested with the real other half, never a look-alike:

- the exit code of a failed trial, through every way a trial is started: the console script
  `vgg-sweep`, `python -m vgg_sweep`, and the W&B agent's own process code;
- the W&B source of the analysis on runs our tracker really logged: trials log to W&B
  offline, W&B's own transaction log is read back (tests/wandb_files.py) into wandb's own
  `wandb.apis.public.Run` objects, and `vgg-sweep report wandb:...` builds the report.
"""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import wandb
from contract import assert_contract, run_cli
from wandb.wandb_agent import Agent
from wandb_files import PublicRun

from vgg_sweep.record import read_record
from vgg_sweep.wandb_log import offline_run_logs, read_run_log

TINY = {"dataset": "synthetic", "epochs": 2, "train_subset": 128, "batch_size": 64,
        "plots": False, "count_flops": False, "grad_flow_every": 0, "weight_flow": False}
# Two ways a trial fails on this machine: no GPU, and a loss that diverges.
FAILURES = {
    "no-cuda": {"device": "cuda"},
    "diverged": {"optimizer": "SGD", "lr": 10.0, "momentum": 0.9, "batch_norm": False,
                 "precision": "fp32"},
}
BIN = Path(sys.executable).parent


def _args(values: dict) -> list[str]:
    return [f"--{key}={value}" for key, value in values.items()]


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {**os.environ, "WANDB_MODE": "disabled", "WANDB_DIR": str(tmp_path), **extra}
    env["PATH"] = f"{BIN}{os.pathsep}{env['PATH']}"
    return env


def _skip_if_cuda(failure: str) -> None:
    if failure == "no-cuda" and torch.cuda.is_available():
        pytest.skip("this machine has CUDA: device=cuda does not fail here")


# --- exit code of a failed trial --------------------------------------------------------------

@pytest.mark.parametrize("failure", FAILURES)
@pytest.mark.parametrize("entry", ["console-script", "python-m"])
def test_a_failed_trial_exits_1(entry, failure, tmp_path):
    _skip_if_cuda(failure)
    program = ([str(BIN / "vgg-sweep")] if entry == "console-script"
               else [sys.executable, "-m", "vgg_sweep"])
    done = subprocess.run([*program, "train", *_args({**TINY, **FAILURES[failure]}),
                           f"--runs_dir={tmp_path}", "--run_id=r"], env=_env(tmp_path),
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 1, done.stderr[-2000:]
    assert "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines()[-1].startswith("reason: ")
    assert read_record(tmp_path / "adhoc" / "r")["state"] == "failed"


def test_the_wandb_agent_sees_a_failed_trial_as_failed(tmp_path, monkeypatch):
    """wandb's agent counts a run as failed when its process exits > 0 (Agent.run); its own
    process object (AgentProcess.poll) must see our 1."""
    _skip_if_cuda("no-cuda")
    monkeypatch.chdir(tmp_path)
    for key, value in _env(tmp_path, WANDB_MODE="offline", WANDB_SWEEP_ID="sw").items():
        monkeypatch.setenv(key, value)
    agent = Agent.__new__(Agent)  # the agent's run path, without its server loop
    agent._sweep_command = ["${env}", "${interpreter}", "-m", "vgg_sweep", "train", "${args}"]
    agent._function, agent._in_jupyter, agent._forward_signals = None, False, False
    agent._run_processes = {}
    params = {**TINY, **FAILURES["no-cuda"]}
    agent._command_run({"type": "run", "run_id": "bad1", "program": "unused.py",
                        "args": {key: {"value": value} for key, value in params.items()}})
    process = agent._run_processes["bad1"]
    process.wait(timeout=300)
    assert process.poll() == 1
    assert read_record(tmp_path / "runs" / "sw" / "bad1")["state"] == "failed"


# --- the W&B source on runs our tracker logged ----------------------------------------------

class ApiOf:
    """`wandb.Api()` for the report command: `runs()` yields wandb's own Run objects."""

    def __init__(self, runs):
        self._runs = runs

    def runs(self, path, filters=None, order="+created_at", per_page=50, lazy=True, **_):
        sweep = (filters or {}).get("sweep")
        return [run for run in self._runs if sweep in (None, run.sweep_name)]


def test_report_on_wandb_runs_that_our_tracker_logged(tmp_path, monkeypatch):
    runs_dir = tmp_path / "runs"
    trials = {"a": {"lr": 0.01}, "b": {"lr": 0.003}, "c": FAILURES["no-cuda"]}
    if torch.cuda.is_available():
        trials["c"] = FAILURES["diverged"]
    for run_id, values in trials.items():
        done = subprocess.run(
            [sys.executable, "-m", "vgg_sweep", "train", *_args({**TINY, **values}),
             f"--runs_dir={runs_dir}", "--sweep=sw1", f"--run_id={run_id}"],
            env=_env(tmp_path, WANDB_MODE="offline", WANDB_SILENT="true"),
            capture_output=True, text=True, timeout=300)
        assert done.returncode == (1 if run_id == "c" else 0), done.stderr[-2000:]

    offline = [read_run_log(path) for path in offline_run_logs(runs_dir)]
    assert sorted(run.run_id for run in offline) == ["a", "b", "c"]
    assert all(run.summary["state"] == run.state for run in offline)  # the clashing key
    public = [PublicRun(run, "me", "vgg-sweep", "sw1") for run in offline]
    monkeypatch.setattr(wandb, "Api", lambda *a, **k: ApiOf(public))

    out = tmp_path / "report"
    result = run_cli(["report", "wandb:me/vgg-sweep/sw1", "-o", str(out)])
    assert_contract(result, allowed=(0,))
    with open(out / "runs.csv", newline="") as handle:
        rows = {row["id"] if "id" in row else row["ID"]: row for row in csv.DictReader(handle)}
    assert set(rows) == {"a", "b", "c"}
    for run_id in "abc":
        record = read_record(runs_dir / "sw1" / run_id)
        row = rows[run_id]
        state = next(row[key] for key in ("state", "State") if key in row)
        assert state == record["state"], run_id
        if record["state"] == "finished":
            assert float(row["lr"]) == record["config"]["lr"]
            assert float(row["val_acc"]) == pytest.approx(record["summary"]["val_acc"])
    overview = (out / "report.md").read_text()
    assert "3 runs (2 finished, 1 failed)" in overview
    # Histories come from wandb's scan_history: the curves are drawn from two epochs each.
    assert (out / "curves.png").stat().st_size > 0
