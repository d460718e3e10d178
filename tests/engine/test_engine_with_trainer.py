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


PRUNED = """
    name: hb
    method: grid
    metric: {name: val_acc, goal: maximize}
    early_terminate: {type: hyperband, min_iter: 1, eta: 2}
    parameters:
      lr: {values: [0.003, 0.000001, 0.01]}
      optimizer: {value: Adam}
      dataset: {value: synthetic}
      epochs: {value: 3}
      train_subset: {value: 256}
      batch_size: {value: 64}
      threads: {value: 1}
      plots: {value: false}
      count_flops: {value: false}
"""


def test_a_pruned_real_trial_is_recorded_alike_in_both_modes(write_sweep, tmp_path, capsys):
    """lr=0.01 trails the median after epoch 2 (hyperband's first band): the real trainer stops
    there, is tested with epoch 2's weights, recorded `pruned`, exits 0; the same numbers as a
    subprocess (told on the epoch channel) and in-process (told by on_epoch)."""
    path = write_sweep(PRUNED)
    records = {}
    for mode in ([], ["--in-process"]):
        runs = tmp_path / ("in-process" if mode else "subprocess")
        assert main(["sweep", str(path), "--runs-dir", str(runs), *mode]) == 0
        assert "2 finished, 1 pruned, 0 failed" in capsys.readouterr().out
        study = load_study("hb", str(runs / "hb" / "study.log"))
        pruned, = study.get_trials(states=(TrialState.PRUNED,))
        assert pruned.user_attrs["params"]["lr"] == 0.01
        record = read_record(runs / "hb" / pruned.user_attrs["run_id"])
        assert record["state"] == "pruned" == pruned.user_attrs["state"]
        assert [row["epoch"] for row in record["history"]] == [1, 2]
        assert 0 <= record["summary"]["test_acc"] <= 100
        records[bool(mode)] = record
    subprocess, in_process = records[False], records[True]
    assert subprocess["summary"]["test_acc"] == in_process["summary"]["test_acc"]
    assert subprocess["summary"]["test_loss"] == pytest.approx(in_process["summary"]["test_loss"])
    for row, same in zip(subprocess["history"], in_process["history"], strict=True):
        assert row["val_acc"] == same["val_acc"]
        assert row["train_loss"] == pytest.approx(same["train_loss"])
    out = tmp_path / "report"  # and the report counts it apart, not as a problem
    assert main(["report", str(tmp_path / "subprocess" / "hb"), "-o", str(out)]) == 0
    markdown = (out / "report.md").read_text()
    assert "3 runs (2 finished, 1 pruned (hyperband))" in markdown
    assert "Excluded from the statistics: 1 pruned (hyperband) runs" in markdown
    assert "[unfinished runs]" not in markdown


@pytest.mark.parametrize("mode", [[], ["--in-process"]], ids=["subprocess", "in-process"])
def test_a_trial_refused_before_training_fails_once_with_its_reason(mode, write_sweep, tmp_path,
                                                                    capsys):
    """A point the trainer refuses once it sees the data (a val_split that holds out zero
    images) is a user mistake: failed for good with the one-line reason, not a crash that
    is retried, in both engine modes."""
    path = write_sweep(SMOKE.replace("lr: {value: 0.01}", "val_split: {value: 0.0001}"))
    runs = tmp_path / "runs"
    assert main(["sweep", str(path), "--runs-dir", str(runs), *mode]) == 1
    out = capsys.readouterr().out
    assert "0 finished, 0 pruned, 2 failed, 0 retried" in out
    assert "val_split" in out
    study = load_study("real", str(runs / "real" / "study.log"))
    assert [t.state for t in study.trials] == [TrialState.FAIL, TrialState.FAIL]
    assert all("val_split" in t.user_attrs["reason"] for t in study.trials)


def test_seeds_with_the_real_trainer_and_the_report_of_them(write_sweep, tmp_path, capsys):
    """--seeds 3 with the real trainer on synthetic data: 3 runs per configuration with
    distinct seeds (their records say so, and so do their numbers), the study told their
    mean, the report's configuration means and winner's-curse gap."""
    path = write_sweep(SMOKE)
    runs = tmp_path / "runs"
    assert main(["sweep", str(path), "--runs-dir", str(runs), "--seeds", "3",
                 "--in-process"]) == 0
    study = load_study("real", str(runs / "real" / "study.log"))
    trials = study.get_trials(states=(TrialState.COMPLETE,))
    assert len(trials) == 2
    for trial in trials:
        records = [read_record(runs / "real" / f"{trial.user_attrs['run_id']}-s{k}")
                   for k in (1, 2, 3)]
        assert [r["config"]["seed"] for r in records] == [42, 43, 44]
        assert {r["group"] for r in records} == {trial.user_attrs["run_id"]}
        values = [r["summary"]["val_acc"] for r in records]
        assert len(set(values)) > 1  # other seeds, other splits and initialisations
        assert trial.value == pytest.approx(sum(values) / 3)
    capsys.readouterr()
    assert main(["report", str(runs / "real"), "-o", str(tmp_path / "report"),
                 "--format", "png"]) == 0
    text = (tmp_path / "report" / "report.md").read_text()
    best = max(trials, key=lambda t: t.value)
    [line] = [line for line in text.splitlines()
              if line.startswith("Best configuration (by its mean over seeds): ")]
    assert f"optimizer {best.user_attrs['params']['optimizer']}" in line
    assert f": val_acc = {best.value:.4g} +- " in line and "over 3 seeds" in line
    assert "Winner's curse: the best single run" in text and "## Configurations" in text
