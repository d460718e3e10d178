"""Seeds per configuration: every configuration the method proposes trains N seeds, one run
each, grouped; the search is told their mean; kill -9 and resume lose or repeat none."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections import Counter

import pytest
from contract import assert_contract, run_cli
from fake_trial import final_accuracy
from fake_trial import run_trial as fake_trial
from optuna.trial import TrialState
from study_helpers import FAKE_CLI, completed_points, load_study

from vgg_sweep.config import make_config
from vgg_sweep.engine.local import run_sweep
from vgg_sweep.engine.spec import SpecError, load_spec, with_seeds
from vgg_sweep.record import read_record

GRID = """
    name: seeded
    method: grid
    metric: {name: val_acc, goal: maximize}
    parameters:
      lr: {values: [0.1, 0.003]}
      optimizer: {values: [SGD, Adam]}
      epochs: {value: 2}
"""


def _records(runs, name):
    return {path.parent.name: read_record(path.parent)
            for path in (runs / name).glob("*/record.json")}


def test_every_configuration_trains_its_seeds_and_the_search_sees_their_mean(tmp_path,
                                                                             write_sweep):
    spec = with_seeds(load_spec(write_sweep(GRID)), 3)
    runs = tmp_path / "runs"
    summary = run_sweep(spec, runs_dir=runs, in_process=True, trial_fn=fake_trial)
    assert summary.states["finished"] == 4  # configurations, not runs
    records = _records(runs, "seeded")
    assert len(records) == 12
    study = load_study("seeded", str(runs / "seeded" / "study.log"))
    for trial in study.get_trials():
        base = trial.user_attrs["run_id"]
        seeds = [records[f"{base}-s{k}"] for k in (1, 2, 3)]
        assert [r["config"]["seed"] for r in seeds] == [42, 43, 44]
        assert {r["group"] for r in seeds} == {base} and {r["state"] for r in seeds} == {
            "finished"}
        values = [r["summary"]["val_acc"] for r in seeds]
        assert len(set(values)) == 3  # the seeds really differ (fake: seed % 7 * 0.01)
        assert trial.value == pytest.approx(sum(values) / 3)
        params = {**trial.user_attrs["params"], "epochs": 2, "seed": 43}
        assert values[1] == pytest.approx(final_accuracy(make_config(params)))

    # The report: the best configuration by its mean, and the best run's winner's-curse gap.
    best = max(study.get_trials(), key=lambda t: t.value)
    runs_of_best = [records[f"{best.user_attrs['run_id']}-s{k}"] for k in (1, 2, 3)]
    top = max(runs_of_best, key=lambda r: r["summary"]["val_acc"])
    result = run_cli(["report", str(runs / "seeded"), "-o", str(tmp_path / "report"),
                      "--format", "png"])
    assert_contract(result, allowed=(0,))
    text = (tmp_path / "report" / "report.md").read_text()
    [line] = [line for line in text.splitlines()
              if line.startswith("Best configuration (by its mean over seeds): ")]
    assert f"lr {best.params['lr']:g}" in line and f"optimizer {best.params['optimizer']}" in line
    assert f": val_acc = {best.value:.4g} +- " in line and "over 3 seeds" in line
    gap = top["summary"]["val_acc"] - best.value
    assert (f"Winner's curse: the best single run, {top['name']} "
            f"({top['summary']['val_acc']:.4g}), is {gap:+.3g} from the mean") in text
    assert "## Configurations" in text and "## Conclusions" in text


def test_hyperband_judges_a_configuration_by_its_first_seed(tmp_path, write_sweep):
    spec = with_seeds(load_spec(write_sweep("""
        name: banded
        method: grid
        metric: {name: val_acc, goal: maximize}
        early_terminate: {type: hyperband, min_iter: 1, eta: 2}
        parameters:
          lr: {values: [0.003, 0.0001, 0.00001]}
          epochs: {value: 3}
    """)), 2)
    runs = tmp_path / "runs"
    run_sweep(spec, runs_dir=runs, in_process=True, trial_fn=fake_trial)
    records = _records(runs, "banded")
    study = load_study("banded", str(runs / "banded" / "study.log"))
    states = Counter(t.state for t in study.get_trials())
    assert states[TrialState.COMPLETE] >= 1 and states[TrialState.PRUNED] >= 1, states
    for trial in study.get_trials():
        base = trial.user_attrs["run_id"]
        if trial.state == TrialState.PRUNED:  # its other seed never trained
            assert records[f"{base}-s1"]["state"] == "pruned" and f"{base}-s2" not in records
        else:
            assert [records[f"{base}-s{k}"]["state"] for k in (1, 2)] == ["finished"] * 2


def test_kill_9_and_resume_lose_and_repeat_no_seed_run(tmp_path, write_sweep):
    path = write_sweep(GRID.replace("epochs: {value: 2}", "epochs: {value: 3}"))
    runs = tmp_path / "runs"
    command = [*FAKE_CLI, "sweep", str(path), "--seeds", "3", "--workers", "2",
               "--runs-dir", str(runs), "--no-preflight", "--heartbeat", "1"]
    env = {**os.environ, "FAKE_EPOCH_SECONDS": "0.3"}
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, start_new_session=True)
    states = Counter()
    while process.poll() is None:  # kill once some seed runs ended and others run
        states = Counter(r["state"] for r in _records(runs, "seeded").values())
        if states["finished"] >= 2 and states["running"] >= 1:
            break
        time.sleep(0.05)
    assert process.poll() is None, "the sweep ended before the kill"
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    done = subprocess.run(command, env={**env, "FAKE_EPOCH_SECONDS": "0"}, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    study = load_study("seeded", str(runs / "seeded" / "study.log"))
    assert completed_points(study) == {point: 1 for point in range(4)}
    records = _records(runs, "seeded")
    complete = [t for t in study.get_trials() if t.state == TrialState.COMPLETE]
    expected = {f"{t.user_attrs['run_id']}-s{k}" for t in complete for k in (1, 2, 3)}
    assert set(records) == expected  # nothing lost, no run left over from the killed attempt
    for record in records.values():
        assert record["state"] == "finished"
        assert [row["epoch"] for row in record["history"]] == [1, 2, 3]  # each epoch once


@pytest.mark.parametrize(("extra", "yaml", "message"), [
    (["--seeds", "0"], GRID, "--seeds: 0 is not a number of seeds in [1, 100]"),
    ([], GRID + "    seeds: two\n", "seeds: 'two' is not a number of seeds"),
    (["--seeds", "3"], GRID + "      seed: {values: [1, 2]}\n", "seed is swept in parameters"),
])
def test_impossible_seeds_are_refused_in_one_line(extra, yaml, message, write_sweep, tmp_path):
    result = run_cli(["sweep", str(write_sweep(yaml)), "--runs-dir", str(tmp_path), *extra])
    assert_contract(result)
    assert result.code == 2 and message in result.err


def test_a_resume_with_other_seeds_is_refused(tmp_path, write_sweep):
    path = write_sweep(GRID)
    runs = tmp_path / "runs"
    run_sweep(with_seeds(load_spec(path), 2), runs_dir=runs, in_process=True, trial_fn=fake_trial,
              count=1)
    result = run_cli(["sweep", str(path), "--seeds", "3", "--runs-dir", str(runs),
                      "--no-preflight"])
    assert_contract(result)
    assert result.code == 2 and "another search space, metric, method or seeds" in result.err


def test_a_foreign_program_gets_seeds_only_through_its_seed_parameter(write_sweep):
    foreign = GRID.replace("name: seeded", "name: seeded\n    program: train.py")
    with pytest.raises(SpecError, match="add seed: {value: 0} to parameters"):
        with_seeds(load_spec(write_sweep(foreign)), 3)
    seeded = with_seeds(load_spec(write_sweep(foreign + "      seed: {value: 7}\n")), 3)
    assert seeded.seeds == 3 and seeded.constants["seed"] == 7
