"""The engine with the real trainer (`vgg_sweep.train`) on synthetic data, through the CLI."""

import pytest
from optuna.trial import TrialState
from study_helpers import load_study

from vgg_sweep.cli import main
from vgg_sweep.record import read_record

SMOKE = """
    name: real
    method: grid
    metric: {name: val_acc, goal: maximize}
    command:
      - ${env}
      - ${interpreter}
      - -m
      - vgg_sweep
      - train
      - ${args}
    parameters:
      optimizer: {values: [Adam, SGD]}
      lr: {value: 0.01}
      dataset: {value: synthetic}
      epochs: {value: 1}
      train_subset: {value: 256}
      batch_size: {value: 64}
      plots: {value: false}
      count_flops: {value: false}
"""


@pytest.mark.parametrize("mode", [[], ["--in-process", "--override", "optimizer=SGD"]],
                         ids=["subprocess", "in-process"])
def test_sweep_runs_real_trials_and_resumes(mode, write_sweep, tmp_path, capsys):
    path = write_sweep(SMOKE)
    runs = tmp_path / "runs"
    args = ["sweep", str(path), "--runs-dir", str(runs), "--workers", "2", *mode]
    assert main(args) == 0
    out = capsys.readouterr().out
    optimizers = ["SGD"] if mode else ["Adam", "SGD"]
    assert f"{len(optimizers)} finished, 0 pruned, 0 failed" in out and "best val_acc=" in out
    study = load_study("real", str(runs / "real" / "study.log"))
    trials = study.get_trials(states=(TrialState.COMPLETE,))
    assert sorted(t.user_attrs["params"]["optimizer"] for t in trials) == optimizers
    for trial in trials:
        record = read_record(runs / "real" / trial.user_attrs["run_id"])
        assert record["state"] == "finished" and record["sweep"] == "real"
        assert record["config"]["optimizer"] == trial.user_attrs["params"]["optimizer"]
        assert len(record["history"]) == 1
        assert trial.value == pytest.approx(record["summary"]["val_acc"])
        assert trial.intermediate_values[1] == pytest.approx(record["history"][0]["val_acc"])
    assert main(args) == 0  # re-running resumes: nothing left to run
    assert len(load_study("real", str(runs / "real" / "study.log")).trials) == len(optimizers)
