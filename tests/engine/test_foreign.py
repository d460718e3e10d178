"""A foreign program's trial: a student's script run as W&B's agent runs it, followed
through the log W&B writes offline, and left as the run record our trainer leaves."""

import sys
from pathlib import Path

import pytest

from vgg_sweep.engine.foreign import run_program
from vgg_sweep.outcome import State
from vgg_sweep.record import read_record

STUDENT = Path(__file__).parents[1] / "fixtures" / "programs" / "student_train.py"
COMMAND = ["${env}", "${interpreter}", "${program}", "${args}"]


@pytest.fixture(autouse=True)
def _quiet_wandb(monkeypatch):
    monkeypatch.setenv("WANDB_SILENT", "true")
    monkeypatch.delenv("WANDB_MODE", raising=False)  # the conftest's `disabled`: W&B writes


def _run(tmp_path, params, on_epoch=lambda epoch, row: False, stop=lambda: False):
    seen = []

    def watch(epoch, row):
        seen.append((epoch, row["val_acc"]))
        return on_epoch(epoch, row)

    run_dir = tmp_path / "runs" / "sw" / "r1"
    outcome = run_program(COMMAND, str(STUDENT), params, run_dir, run_id="r1", sweep="sw",
                          metric="val_acc", on_epoch=watch, should_stop=stop)
    return outcome, read_record(run_dir), seen


def test_a_finished_program_leaves_a_full_record(tmp_path):
    outcome, record, seen = _run(tmp_path, {"lr": 0.01, "epochs": 3, "optimizer": "adam"})
    assert outcome.state == State.FINISHED and record["state"] == "finished"
    assert record["config"]["lr"] == 0.01 and record["config"]["optimizer"] == "adam"
    assert [row["epoch"] for row in record["history"]] == [1, 2, 3]
    assert [epoch for epoch, _ in seen] == [1, 2, 3]  # every epoch reached the engine
    assert [value for _, value in seen] == [row["val_acc"] for row in record["history"]]
    assert record["summary"]["val_acc"] == record["history"][-1]["val_acc"] > 80
    assert record["program"][1:3] == [sys.executable, str(STUDENT)]


def test_a_pruned_program_is_stopped_after_that_iteration(tmp_path):
    outcome, record, seen = _run(tmp_path, {"lr": 0.01, "epochs": 40, "sleep": 0.2},
                                 on_epoch=lambda epoch, row: epoch == 2)
    assert outcome.state == State.PRUNED and record["state"] == "pruned"
    assert seen[:2] == [(1, seen[0][1]), (2, seen[1][1])]
    assert len(record["history"]) < 40  # stopped long before its 40 epochs


def test_a_program_that_raises_is_failed_with_its_last_line(tmp_path):
    outcome, record, _ = _run(tmp_path, {"lr": 0.01, "epochs": 3, "fail": 2})
    assert outcome.state == State.FAILED and record["state"] == "failed"
    assert outcome.reason.startswith("exit code 1: RuntimeError: out of memory in epoch 2")
    assert len(record["history"]) == 1 and record["summary"]["failure_reason"] == outcome.reason


def test_ctrl_c_of_the_worker_ends_the_run_as_killed(tmp_path):
    ticks = iter(range(10_000))
    outcome, record, _ = _run(tmp_path, {"lr": 0.01, "epochs": 50, "sleep": 0.2},
                              stop=lambda: next(ticks) > 6)
    assert outcome.state == State.KILLED and record["state"] == "killed"
