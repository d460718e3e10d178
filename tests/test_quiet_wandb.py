"""W&B's own lines, with real offline W&B runs (issue 15): an `--in-process` sweep printed
W&B's ~35-line block for every trial. And a run refused before training leaves no folder
behind, W&B's included."""

from __future__ import annotations

import os
import subprocess
import sys

from contract import run_cli

from vgg_sweep.record import read_record

TINY = {"dataset": "synthetic", "train_subset": 64, "batch_size": 32, "epochs": 1,
        "plots": False, "count_flops": False, "grad_flow_every": 0, "precision": "fp32"}


def _offline(tmp_path) -> dict[str, str]:
    return {**os.environ, "WANDB_MODE": "offline", "WANDB_DIR": str(tmp_path)}


def _wandb_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("wandb:")]


def test_an_in_process_sweep_prints_no_wandb_lines(tmp_path):
    constants = "\n".join(f"  {key}: {{value: {value}}}" for key, value in TINY.items())
    path = tmp_path / "q.yaml"
    path.write_text("name: q\nmethod: grid\nmetric: {name: val_acc, goal: maximize}\n"
                       f"parameters:\n  lr: {{values: [0.01]}}\n{constants}\n")
    runs = tmp_path / "runs"
    done = subprocess.run([sys.executable, "-m", "vgg_sweep", "sweep", str(path), "--runs-dir",
                           str(runs), "--in-process", "--no-preflight"], capture_output=True,
                          text=True, timeout=300, env=_offline(tmp_path))
    assert done.returncode == 0, done.stderr[-2000:]
    assert _wandb_lines(done.stdout + done.stderr) == []
    offline_runs = list(runs.glob("q/*/wandb/offline-run-*"))  # W&B did log, silently
    assert len(offline_runs) == 1
    for record in runs.glob("q/*/record.json"):
        assert read_record(record.parent)["state"] == "finished"


def test_a_refused_start_with_wandb_on_leaves_no_folder(tmp_path, monkeypatch):
    import vgg_sweep.data as data

    def offline(name, root, what):  # no download attempt from a test
        raise data.UserError(f"{name} not found in {root}")

    monkeypatch.setattr(data, "_download", offline)
    monkeypatch.setenv("WANDB_MODE", "offline")
    (tmp_path / "runs").mkdir()
    result = run_cli(["train", "--dataset=mnist", f"--data_dir={tmp_path / 'none'}",
                      f"--runs_dir={tmp_path / 'runs'}", "--run_id=r"])
    # W&B opens before the data loads (a W&B agent's config arrives through wandb.init), so
    # its offline notice comes before the one error line.
    assert result.code == 2 and "Traceback" not in result.err
    assert result.err.splitlines()[-1].startswith("vgg-sweep: error: MNIST not found in")
    assert list((tmp_path / "runs").iterdir()) == []


def test_an_in_process_trial_refused_at_its_data_leaves_no_folder(tmp_path, monkeypatch):
    """What an --in-process sweep calls: the refusal reaches the engine (a failed trial with
    its reason), and W&B's files of the run that never trained are gone with its folder."""
    import pytest

    import vgg_sweep.data as data
    from vgg_sweep.config import make_config
    from vgg_sweep.errors import UserError
    from vgg_sweep.train import run_trial

    def offline(name, root, what):
        raise data.UserError(f"{name} not found in {root}")

    monkeypatch.setattr(data, "_download", offline)
    monkeypatch.setenv("WANDB_MODE", "offline")
    config = make_config({"dataset": "mnist", "data_dir": str(tmp_path / "none")})
    run_dir = tmp_path / "runs" / "s" / "r"
    with pytest.raises(UserError, match="MNIST not found in"):
        run_trial(config, run_dir, run_id="r", sweep="s")
    assert not run_dir.exists()
