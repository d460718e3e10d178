"""One trial under faults: SIGTERM/Ctrl-C mid-epoch, a truncated checkpoint or record,
--resume without a checkpoint, divergence inside a sweep and its report."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from vgg_sweep.cli import main
from vgg_sweep.config import make_config
from vgg_sweep.record import read_record, write_record
from vgg_sweep.train import CHECKPOINT_FILE, run_trial

TINY = {"dataset": "synthetic", "model": "vgg6", "train_subset": 128, "batch_size": 32,
        "epochs": 2, "plots": False, "count_flops": False, "grad_flow_every": 0,
        "precision": "fp32"}


def tiny(**overrides):
    return make_config({**TINY, **overrides})


# --- SIGTERM / Ctrl-C ----------------------------------------------------------------------------

@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_signal_mid_epoch_checkpoints_marks_killed_and_exits_0(sig, tmp_path):
    """A long-ish trial (epochs of ~1 s): the signal comes 0.3 s into epoch 2 or later."""
    run_dir = tmp_path / "runs" / "sig" / "t"
    args = [sys.executable, "-m", "vgg_sweep", "train", "--dataset=synthetic",
            "--train_subset=1024", "--batch_size=32", "--epochs=200", "--plots=false",
            "--count_flops=false", "--grad_flow_every=0", "--threads=1",
            f"--runs_dir={tmp_path / 'runs'}", "--sweep=sig", "--run_id=t"]
    env = {**os.environ, "WANDB_MODE": "disabled"}
    process = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    deadline = time.monotonic() + 60
    while not (run_dir / "record.json").exists() and time.monotonic() < deadline:
        time.sleep(0.05)  # the first record is written at the end of epoch 1
    assert process.poll() is None, process.communicate()
    time.sleep(0.3)
    sent = time.monotonic()
    process.send_signal(sig)
    out, err = process.communicate(timeout=30)
    elapsed = time.monotonic() - sent
    assert process.returncode == 0, err
    assert elapsed < 5, elapsed
    assert b"Traceback" not in err
    record = read_record(run_dir)
    assert record["state"] == "killed"
    epochs = [row["epoch"] for row in record["history"]]
    assert epochs == list(range(1, len(epochs) + 1)) and epochs  # whole epochs only
    assert (run_dir / CHECKPOINT_FILE).is_file()
    assert b"killed" in out
    # and --resume continues from the checkpoint, one more epoch at a time
    code = main(["train", "--dataset=synthetic", "--train_subset=1024", "--batch_size=32",
                 f"--epochs={len(epochs) + 1}", "--plots=false", "--count_flops=false",
                 "--grad_flow_every=0", f"--runs_dir={tmp_path / 'runs'}", "--sweep=sig",
                 "--run_id=t", "--resume"])
    assert code == 0
    resumed = read_record(run_dir)
    assert resumed["state"] == "finished"
    assert [row["epoch"] for row in resumed["history"]] == epochs + [len(epochs) + 1]


# --- damaged files -------------------------------------------------------------------------------

@pytest.mark.parametrize("damage", ["truncated", "empty", "garbage", "other-model"])
def test_unreadable_checkpoint_on_resume_trains_from_scratch_with_a_warning(damage, tmp_path,
                                                                            capsys):
    first = run_trial(tiny(epochs=1), tmp_path, run_id="r")
    assert first.state == "finished"
    checkpoint = tmp_path / CHECKPOINT_FILE
    if damage == "truncated":
        checkpoint.write_bytes(checkpoint.read_bytes()[:1000])
    elif damage == "empty":
        checkpoint.write_bytes(b"")
    elif damage == "garbage":
        checkpoint.write_bytes(os.urandom(4096))
    else:  # a checkpoint of another architecture under the same run id
        run_trial(tiny(epochs=1, model="simplecnn"), tmp_path / "other", run_id="o")
        checkpoint.write_bytes((tmp_path / "other" / CHECKPOINT_FILE).read_bytes())
    result = run_trial(tiny(epochs=2), tmp_path, run_id="r", resume=True)
    err = capsys.readouterr().err
    assert result.state == "finished"
    assert [row["epoch"] for row in result.history] == [1, 2]  # from scratch, each once
    assert "unreadable" in err and "training from scratch" in err
    assert "Traceback" not in err
    assert read_record(tmp_path)["state"] == "finished"


def test_a_retry_removes_half_written_files_and_keeps_the_rest(tmp_path):
    """What a kill -9 during an atomic write leaves: a `.NAME.<random>.tmp` file."""
    run_trial(tiny(epochs=1), tmp_path, run_id="r")
    partial = [tmp_path / ".checkpoint.pt.k3j2.tmp", tmp_path / ".record.json.a8x1.tmp"]
    for path in partial:
        path.write_bytes(b"half a fi")
    (tmp_path / "notes.tmp").write_text("not ours")  # not an atomic writer's temp file
    result = run_trial(tiny(epochs=2), tmp_path, run_id="r", resume=True)
    assert result.state == "finished" and [row["epoch"] for row in result.history] == [1, 2]
    assert not any(path.exists() for path in partial)
    assert (tmp_path / "notes.tmp").read_text() == "not ours"


def test_resume_without_a_checkpoint_starts_fresh(tmp_path, capsys):
    """What a retried trial that died before its first epoch does: no error, a fresh run."""
    code = main(["train", *(f"--{k}={v}" for k, v in TINY.items()), f"--runs_dir={tmp_path}",
                 "--sweep=s", "--run_id=never-ran", "--resume"])
    assert code == 0, capsys.readouterr().err
    record = read_record(tmp_path / "s" / "never-ran")
    assert record["state"] == "finished"
    assert [row["epoch"] for row in record["history"]] == [1, 2]


def _record(run_dir: Path, name: str, lr: float, acc: float, state: str = "finished") -> None:
    write_record(run_dir, {"id": name, "name": name, "sweep": "s", "state": state,
                           "created": "2026-01-01T00:00:00Z", "runtime": 1.0,
                           "config": {"lr": lr}, "summary": {"val_acc": acc},
                           "history": [{"epoch": 1, "val_acc": acc}]})


@pytest.mark.parametrize("damage", ["truncated", "empty", "not-a-record", "binary"])
def test_unreadable_record_in_a_runs_dir_is_skipped_and_counted(damage, tmp_path, capsys):
    for index, lr in enumerate((0.1, 0.01, 0.1, 0.01)):
        _record(tmp_path / "runs" / f"r{index}", f"r{index}", lr, 50.0 + index)
    bad = tmp_path / "runs" / "r3" / "record.json"
    bad.write_bytes({"truncated": bad.read_bytes()[:40], "empty": b"",
                     "not-a-record": b"[1, 2, 3]", "binary": os.urandom(64)}[damage])
    (tmp_path / "runs" / "r2" / "history.csv").write_text("epoch,val_ac")  # truncated too
    assert main(["report", str(tmp_path / "runs"), "-o", str(tmp_path / "out")]) == 0
    assert "wrote" in capsys.readouterr().out
    overview = (tmp_path / "out" / "report.md").read_text()
    assert "3 runs (3 finished)" in overview
    assert "Skipped 1 unreadable run records." in overview


@pytest.mark.parametrize("content", ["", "epoch,val_ac", "epoch,val_acc\n1,5", "\x00\xff"])
def test_damaged_history_csv_falls_back_to_the_record(content, tmp_path):
    from analysis.sources import load_source

    _record(tmp_path / "runs" / "r0", "r0", 0.1, 50.0)
    record = read_record(tmp_path / "runs" / "r0")
    record["history"] = [{"epoch": 1, "val_acc": 40.0}, {"epoch": 2, "val_acc": 50.0}]
    write_record(tmp_path / "runs" / "r0", record)
    (tmp_path / "runs" / "r0" / "history.csv").write_bytes(content.encode("latin-1"))
    table = load_source(str(tmp_path / "runs"))
    history = table.history(table.frame.index[0])
    assert list(history["epoch"]) == [1, 2] and list(history["val_acc"]) == [40.0, 50.0]


# --- divergence inside a sweep -------------------------------------------------------------------

def test_diverging_trial_fails_with_its_reason_and_the_sweep_and_report_go_on(tmp_path, capfd):
    sweep = tmp_path / "div.yaml"
    constants = {**TINY, "optimizer": "SGD", "batch_norm": False, "momentum": 0.9}
    sweep.write_text("name: div\nmethod: grid\nmetric: {name: val_acc, goal: maximize}\n"
                     "parameters:\n  lr: {values: [10.0, 0.01, 0.001]}\n"
                     + "".join(f"  {k}: {{value: {json.dumps(v)}}}\n"
                               for k, v in constants.items()))
    runs = tmp_path / "runs"
    assert main(["sweep", str(sweep), "--runs-dir", str(runs), "--in-process"]) == 1
    out = capfd.readouterr().out
    assert "2 finished, 0 pruned, 1 failed, 0 retried" in out
    assert "lr=10" in out and "diverged" in out
    records = {read_record(path.parent)["config"]["lr"]: read_record(path.parent)
               for path in (runs / "div").rglob("record.json")}
    assert records[10.0]["state"] == "failed"
    assert "loss diverged" in records[10.0]["summary"]["failure_reason"]
    assert "lower lr=10" in records[10.0]["summary"]["failure_reason"]
    assert main(["report", str(runs / "div"), "-o", str(tmp_path / "report")]) == 0
    overview = (tmp_path / "report" / "report.md").read_text()
    assert "3 runs (2 finished, 1 failed)" in overview
    assert "Excluded from the statistics: 1 failed runs" in overview
    assert main(["stats", str(runs / "div"), "--format", "csv"]) == 0
    captured = capfd.readouterr()
    assert "excluded: 1 runs" in captured.err
