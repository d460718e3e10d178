"""Counts and settings that mean what a person thinks (issue 15), through the `vgg-sweep`
program: `--count` is the sweep's total (Ctrl-C after 2 of 6, the same command runs the rest),
an unbounded sweep says so at its start, a resumed sweep keeps the settings it was created
with, and a trial that never logs the sweep's metric is counted, named and fails the exit
code (the real trainer: an SVM logs no val_loss)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from contract import CliResult, assert_contract
from optuna.trial import TrialState
from study_helpers import FAKE_CLI, load_study

GRID_8 = """
    name: g8
    method: grid
    metric: {name: val_acc, goal: maximize}
    parameters: {lr: {values: [0.1, 0.01, 0.001, 0.0001]}, optimizer: {values: [SGD, Adam]},
                 epochs: {value: 2}}
"""
UNBOUNDED = ("random search without --count or run_cap draws trials until Ctrl-C (the same "
             "command resumes); bound it with --count N or run_cap: in the YAML")


def cli(*args, command=FAKE_CLI, allowed=(0, 1)) -> CliResult:
    done = subprocess.run([*command, *map(str, args)], capture_output=True, text=True,
                          timeout=180)
    result = CliResult(done.returncode, done.stdout, done.stderr)
    assert_contract(result, allowed=allowed)
    return result


def sweep(path, runs, *args, **options) -> CliResult:
    """`vgg-sweep sweep PATH --runs-dir RUNS --in-process --no-preflight ARGS`, fake trials."""
    return cli("sweep", path, "--runs-dir", runs, "--in-process", "--no-preflight", *args,
               **options)


def study(runs, name="g8"):
    return load_study(name, str(runs / name / "study.log"))


def test_count_is_the_sweeps_total_after_a_ctrl_c(write_sweep, tmp_path, monkeypatch):
    """--count 6, Ctrl-C after 2 trials, the same command: 6 in all, not 6 more."""
    monkeypatch.setenv("FAKE_EPOCH_SECONDS", "0.2")
    path, runs = write_sweep(GRID_8), tmp_path / "runs"
    argv = [*FAKE_CLI, "sweep", path, "--runs-dir", runs, "--in-process", "--no-preflight",
            "--count", "6"]
    # A foreground sweep: SIGINT at its default even where the test runs in a background job.
    process = subprocess.Popen(list(map(str, argv)), start_new_session=True,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    for _ in range(600):
        time.sleep(0.05)
        try:
            if len(study(runs).get_trials(states=(TrialState.COMPLETE,))) >= 2:
                break
        except (KeyError, FileNotFoundError):
            continue
    os.killpg(process.pid, signal.SIGINT)  # what a terminal's Ctrl-C does
    process.wait(timeout=60)
    before = len(study(runs).get_trials(states=(TrialState.COMPLETE,)))
    assert 2 <= before < 6
    again = sweep(path, runs, "--count", "6")
    assert again.code == 0, again.err
    assert len(study(runs).get_trials(states=(TrialState.COMPLETE,))) == 6
    third = sweep(path, runs, "--count", "6")
    assert third.code == 0, third.err
    assert "--count 6: the sweep had 6 trials done already; raise --count to run more" \
        in third.out
    assert len(study(runs).get_trials(states=(TrialState.COMPLETE,))) == 6
    assert len(study(runs).get_trials(states=(TrialState.WAITING,))) == 2


def test_an_unbounded_sweep_says_so_at_its_start(write_sweep, tmp_path):
    text = """
        name: r
        method: random
        metric: {name: val_acc, goal: maximize}
        parameters:
          lr: {distribution: log_uniform_values, min: 0.0001, max: 0.1}
          device: {value: cuda}
        """  # the fake trial fails device=cuda at once: the stop after 1 failure ends it
    runs = tmp_path / "runs"
    unbounded = sweep(write_sweep(text), runs, "--max-consecutive-failures", "1")
    assert unbounded.code == 1
    assert unbounded.err.splitlines()[0] == f"vgg-sweep: warning: {UNBOUNDED}"
    assert UNBOUNDED not in sweep(write_sweep(text), runs, "--count", "1").err
    capped = write_sweep(text.replace("name: r", "name: r2\n        run_cap: 1"))
    assert UNBOUNDED not in sweep(capped, runs).err


def test_a_resume_with_other_overrides_is_refused_naming_them(write_sweep, tmp_path):
    path, runs = write_sweep(GRID_8), tmp_path / "runs"
    assert sweep(path, runs, "--count", "1", "--override", "train_subset=64").code == 0
    changed = sweep(path, runs, "--override", "train_subset=128", "--override",
                    "label_smoothing=0.1", allowed=(2,))
    assert changed.error_lines == [
        "vgg-sweep: error: sweep 'g8' was created with other settings: train_subset=64 (now "
        "128), label_smoothing=0.0 (now 0.1); run it with the --override values and YAML it "
        f"was created with, or set name: in {path} to start a new sweep"]
    dropped = sweep(path, runs, allowed=(2,))
    assert "train_subset=64 (now 0)" in dropped.error_lines[0]
    assert len(study(runs).trials) == 8  # nothing ran
    # The same settings resume; where the data lies may differ between machines and runs.
    same = sweep(path, runs, "--count", "2", "--override", "train_subset=64",
                 "--override", f"data_dir={tmp_path}")
    assert same.code == 0, same.err
    assert len(study(runs).get_trials(states=(TrialState.COMPLETE,))) == 2


def test_a_trial_that_never_logs_the_metric_is_counted_named_and_fails_the_exit_code(
        write_sweep, tmp_path):
    """The real trainer, in-process: an SVM logs val_acc and no val_loss."""
    path = write_sweep("""
        name: svm
        method: grid
        metric: {name: val_loss}
        parameters:
          model: {value: svm}
          C: {values: [0.5, 2.0]}
          dataset: {value: synthetic}
          train_subset: {value: 60}
        """)
    runs = tmp_path / "runs"
    result = cli("sweep", path, "--runs-dir", runs, "--in-process", "--no-preflight",
                 command=(sys.executable, "-m", "vgg_sweep"))
    assert result.code == 1, result.err
    assert "vgg-sweep: warning: " in result.err and "svm trials do not log val_loss" in result.err
    run_ids = [t.user_attrs["run_id"] for t in study(runs, "svm").trials]
    assert len(run_ids) == 2
    assert (f"vgg-sweep: error: 2 trial(s) finished without logging val_loss (runs "
            f"{', '.join(run_ids)}): counted as 'no metric', not ranked") in result.err
    assert "trial(s) of this run failed" not in result.err  # --retry-failed would not help
    assert "sweep 'svm': 0 finished, 0 pruned, 0 failed, 2 no metric, 0 retried" in result.out
    for run_id in run_ids:  # the records are real and finished; they hold val_acc only
        assert (runs / "svm" / run_id / "record.json").exists()
