"""The local engine on a journal file: parallel workers, resume, retries, caps, pruning."""

import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import pytest
from fake_trial import CRASH_SEED, always_crash
from fake_trial import run_trial as fake_trial
from optuna.trial import TrialState
from study_helpers import FAKE_COMMAND, completed_points, load_study

from vgg_sweep.cli import main
from vgg_sweep.engine import work_queue
from vgg_sweep.engine.grid import grid_points
from vgg_sweep.engine.local import run_sweep
from vgg_sweep.engine.spec import load_spec
from vgg_sweep.engine.storage import open_storage
from vgg_sweep.record import read_record

GRID_12 = """
    name: grid12
    method: grid
    metric: {name: val_acc, goal: maximize}
    parameters:
      lr: {values: [0.1, 0.01, 0.001]}
      optimizer: {values: [SGD, Adam]}
      seed: {values: [1, 2]}
      epochs: {value: 2}
"""


def journal(tmp_path, name):
    return str(tmp_path / "runs" / name / "study.log")


def check_each_point_once(study, spec, runs_dir):
    points = grid_points(spec)
    assert completed_points(study) == Counter(range(len(points)))
    complete = study.get_trials(states=(TrialState.COMPLETE,))
    for trial in complete:
        assert trial.user_attrs["params"] == points[trial.user_attrs["point"]]
        record = read_record(runs_dir / spec.name / trial.user_attrs["run_id"])
        assert record["state"] == "finished"
        assert {k: record["config"][k] for k in trial.user_attrs["params"]} == \
            trial.user_attrs["params"]
    assert len({t.user_attrs["run_id"] for t in complete}) == len(points)


@pytest.mark.parametrize("repeat", range(3))
def test_grid_of_12_with_4_workers_runs_each_point_once(repeat, tmp_path, write_sweep):
    spec = load_spec(write_sweep(GRID_12))
    summary = run_sweep(spec, runs_dir=tmp_path / "runs", workers=4, in_process=True,
                        trial_fn=fake_trial)
    study = load_study("grid12", journal(tmp_path, "grid12"))
    assert len(study.get_trials()) == 12
    check_each_point_once(study, spec, tmp_path / "runs")
    assert summary.states["finished"] == 12 and summary.best.value == pytest.approx(61.02)


def test_grid_with_subprocess_trials(tmp_path, write_sweep, monkeypatch):
    monkeypatch.setenv("FAKE_EPOCH_SECONDS", "0.05")
    spec = load_spec(write_sweep(GRID_12))
    run_sweep(spec, runs_dir=tmp_path / "runs", workers=4, trial_command=FAKE_COMMAND)
    study = load_study("grid12", journal(tmp_path, "grid12"))
    assert len(study.get_trials()) == 12
    check_each_point_once(study, spec, tmp_path / "runs")


def test_one_worker_per_gpu_with_its_cuda_visible_devices(tmp_path, write_sweep):
    spec = load_spec(write_sweep(GRID_12))
    summary = run_sweep(spec, runs_dir=tmp_path / "runs", gpus=["3", "5"], in_process=True,
                        trial_fn=fake_trial)
    assert summary.states["finished"] == 12
    seen = {read_record(run_dir)["summary"]["cuda_visible_devices"]
            for run_dir in (tmp_path / "runs" / "grid12").iterdir() if run_dir.is_dir()}
    assert seen <= {"3", "5"} and seen


def test_rerun_resumes_without_repeating_finished_trials(tmp_path, write_sweep):
    spec = load_spec(write_sweep(GRID_12))
    first = run_sweep(spec, runs_dir=tmp_path / "runs", workers=2, count=5, in_process=True,
                      trial_fn=fake_trial)
    assert first.states["finished"] == 5 and first.states["waiting"] == 7
    second = run_sweep(spec, runs_dir=tmp_path / "runs", workers=2, in_process=True,
                       trial_fn=fake_trial)
    assert second.states["finished"] == 12
    study = load_study("grid12", journal(tmp_path, "grid12"))
    assert len(study.get_trials()) == 12
    check_each_point_once(study, spec, tmp_path / "runs")


@pytest.mark.parametrize("in_process", [True, False], ids=["in-process", "subprocess"])
def test_crashed_trial_is_retried_once_with_resume(in_process, tmp_path, write_sweep):
    spec = load_spec(write_sweep(f"""
        name: crash
        method: grid
        metric: {{name: val_acc, goal: maximize}}
        parameters:
          seed: {{values: [1, {CRASH_SEED}]}}
          epochs: {{value: 2}}
    """))
    summary = run_sweep(spec, runs_dir=tmp_path / "runs", in_process=in_process,
                        trial_fn=fake_trial, trial_command=FAKE_COMMAND)
    assert summary.states == {"finished": 2, "retried": 1, "done": 2}
    study = load_study("crash", journal(tmp_path, "crash"))
    failed, = study.get_trials(states=(TrialState.FAIL,))
    retry = next(t for t in study.get_trials() if t.user_attrs.get("retry_of") == failed.number)
    assert failed.user_attrs["state"] == "crashed" and "crash" in failed.user_attrs["reason"]
    assert retry.state == TrialState.COMPLETE and retry.user_attrs["attempt"] == 1
    assert retry.user_attrs["run_id"] == failed.user_attrs["run_id"]  # resumed, same run
    record = read_record(tmp_path / "runs" / "crash" / retry.user_attrs["run_id"])
    assert [row["epoch"] for row in record["history"]] == [1, 2]  # epoch 1 not repeated
    assert sorted(retry.intermediate_values) == [1, 2]  # the pruner sees the whole run


def test_a_trial_that_crashes_twice_fails_for_good(tmp_path, write_sweep):
    spec = load_spec(write_sweep("""
        name: crash2
        method: grid
        parameters:
          seed: {value: 13}
          epochs: {value: 1}
    """))

    summary = run_sweep(spec, runs_dir=tmp_path / "runs", in_process=True, workers=1,
                        trial_fn=always_crash)
    assert summary.states == {"failed": 1, "retried": 1, "done": 1}


def test_kill_9_of_a_worker_mid_trial_then_resume(tmp_path, write_sweep, monkeypatch):
    monkeypatch.setenv("FAKE_EPOCH_SECONDS", "0.2")
    spec = load_spec(write_sweep(GRID_12))
    url = journal(tmp_path, "grid12")
    options = dict(runs_dir=tmp_path / "runs", workers=2, trial_command=FAKE_COMMAND,
                   heartbeat=1.0)
    thread = threading.Thread(target=run_sweep, args=(spec,), kwargs=options)
    thread.start()
    victim = None
    for _ in range(200):
        time.sleep(0.1)
        try:
            running = load_study("grid12", url).get_trials(states=(TrialState.RUNNING,))
        except KeyError:
            continue
        held = [t for t in running if "lease" in t.user_attrs and "run_id" in t.user_attrs]
        if held:
            victim = held[0]
            os.kill(victim.user_attrs["lease"]["pid"], signal.SIGKILL)
            break
    assert victim is not None
    thread.join(timeout=120)
    summary = run_sweep(spec, **options)  # resume: finishes whatever the kill left
    study = load_study("grid12", url)
    check_each_point_once(study, spec, tmp_path / "runs")
    killed = study.get_trials()[victim.number]
    assert killed.state == TrialState.FAIL
    retry = next(t for t in study.get_trials() if t.user_attrs.get("retry_of") == victim.number)
    assert retry.state == TrialState.COMPLETE
    assert retry.user_attrs["run_id"] == victim.user_attrs["run_id"]
    assert summary.states["finished"] == 12 and summary.states["retried"] == 1


def test_random_with_run_cap_enqueues_seeded_w_and_b_draws(tmp_path, write_sweep):
    text = """
        name: rand
        method: random
        metric: {name: val_acc, goal: maximize}
        run_cap: 7
        parameters:
          lr: {distribution: log_uniform_values, min: 0.0001, max: 0.1}
          optimizer: {values: [SGD, Adam], probabilities: [0.3, 0.7]}
          epochs: {value: 1}
    """
    spec = load_spec(write_sweep(text))
    summary = run_sweep(spec, runs_dir=tmp_path / "a", workers=3, in_process=True,
                        trial_fn=fake_trial, seed=5)
    assert summary.states["finished"] == 7
    again = run_sweep(spec, runs_dir=tmp_path / "b", workers=1, in_process=True,
                      trial_fn=fake_trial, seed=5)
    params = [sorted(t.user_attrs["params"].items()) for t in
              sorted(load_study("rand", str(tmp_path / "a" / "rand" / "study.log")).trials,
                     key=lambda t: t.user_attrs["point"])]
    params_again = [sorted(t.user_attrs["params"].items()) for t in
                    sorted(load_study("rand", str(tmp_path / "b" / "rand" / "study.log")).trials,
                           key=lambda t: t.user_attrs["point"])]
    assert params == params_again and again.states["finished"] == 7
    assert all(1e-4 <= dict(p)["lr"] <= 0.1 for p in params)


def test_bayes_respects_run_cap_across_workers(tmp_path, write_sweep):
    spec = load_spec(write_sweep("""
        name: tpe
        method: bayes
        metric: {name: val_acc, goal: maximize}
        run_cap: 9
        parameters:
          lr: {distribution: log_uniform_values, min: 0.0001, max: 0.1}
          optimizer: {values: [SGD, Adam]}
          batch_size: {distribution: q_uniform, min: 32, max: 128, q: 32}
          epochs: {value: 1}
    """))
    summary = run_sweep(spec, runs_dir=tmp_path / "runs", workers=3, in_process=True,
                        trial_fn=fake_trial)
    study = load_study("tpe", journal(tmp_path, "tpe"))
    fresh = [t for t in study.trials if not t.user_attrs.get("over_run_cap")]
    assert summary.states["finished"] == 9 and len(fresh) == 9
    for trial in fresh:
        assert trial.params["batch_size"] in (32, 64, 96, 128)
        assert trial.user_attrs["params"]["epochs"] == 1
    lrs = [trial.params["lr"] for trial in fresh]
    assert len(set(lrs)) == 9  # workers seeded alike once drew the same points


def test_two_workers_with_one_seed_draw_different_bayes_points(tmp_path, write_sweep):
    """Each worker loads the study with the sweep's seed; the points are seeded by (seed,
    trial number), so the second worker's trial does not repeat the first one's."""
    spec = load_spec(write_sweep("""
        name: tpe2
        method: bayes
        metric: {name: val_acc, goal: maximize}
        parameters:
          lr: {distribution: log_uniform_values, min: 0.0001, max: 0.1}
    """))
    url = journal(tmp_path, "tpe2")
    first, _ = work_queue.open_study(spec, open_storage(url), create=True, seed=5)
    second, _ = work_queue.open_study(spec, open_storage(url), create=False, seed=5)
    points = [spec.search.point(spec, study.ask(), 5) for study in (first, second)]
    assert points[0]["lr"] != points[1]["lr"]
    again, _ = work_queue.open_study(spec, open_storage(journal(tmp_path / "b", "tpe2")),
                                     create=True, seed=5)
    assert spec.search.point(spec, again.ask(), 5) == points[0]  # reproducible by number


def test_hyperband_prunes_runs_below_the_band_threshold_alike_in_both_modes(tmp_path,
                                                                          write_sweep):
    """A pruned run is a pruned run: in-process and as a subprocess (no delay: the trial waits
    for the verdict on each epoch), the same trials stop at the same epoch, are tested and
    recorded `pruned` with the same numbers."""
    spec = load_spec(write_sweep("""
        name: hb
        method: grid
        metric: {name: val_acc, goal: maximize}
        early_terminate: {type: hyperband, min_iter: 1, eta: 2}
        parameters:
          lr: {values: [0.003, 0.1, 0.0001, 0.5, 0.9]}
          epochs: {value: 4}
    """))
    runs = {}
    for mode in ("in-process", "subprocess"):
        summary = run_sweep(spec, runs_dir=tmp_path / mode, workers=1,
                            in_process=mode == "in-process", trial_fn=fake_trial,
                            trial_command=FAKE_COMMAND)
        study = load_study("hb", str(tmp_path / mode / "hb" / "study.log"))
        pruned = study.get_trials(states=(TrialState.PRUNED,))
        assert summary.states == {"finished": 3, "pruned": 2, "done": 5}
        assert {t.user_attrs["params"]["lr"] for t in pruned} == {0.5, 0.9}
        records = {}
        for trial in study.trials:
            record = read_record(tmp_path / mode / "hb" / trial.user_attrs["run_id"])
            assert record["state"] == trial.user_attrs["state"]
            records[trial.user_attrs["params"]["lr"]] = record
        for trial in pruned:
            record = records[trial.user_attrs["params"]["lr"]]
            assert record["state"] == "pruned"
            # its history up to the pruning epoch, tested with that epoch's model
            assert [row["epoch"] for row in record["history"]] == \
                sorted(trial.intermediate_values) == [1, 2]
            assert record["summary"]["test_acc"] == pytest.approx(
                record["history"][-1]["val_acc"])
        runs[mode] = {lr: (r["state"], r["history"], r["summary"]["test_acc"])
                      for lr, r in records.items()}
    assert runs["in-process"] == runs["subprocess"]


def test_sqlite_with_several_workers_is_refused(write_sweep, tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("VGG_SWEEP_NO_PREFLIGHT")  # refused before preflight spends a minute
    path = write_sweep(GRID_12)
    code = main(["sweep", str(path), "--workers", "2", "--storage",
                 f"sqlite:///{tmp_path}/s.db"])
    err = capsys.readouterr().err
    assert code == 2 and "SQLite" in err and len(err.strip().splitlines()) == 1


def test_agent_needs_an_existing_sweep(write_sweep, tmp_path, capsys):
    code = main(["agent", str(write_sweep(GRID_12)), "--runs-dir", str(tmp_path / "runs")])
    err = capsys.readouterr().err
    assert code == 2 and "vgg-sweep sweep" in err


def test_changed_search_space_under_the_same_name_is_refused(write_sweep, tmp_path, capsys):
    spec = load_spec(write_sweep(GRID_12))
    run_sweep(spec, runs_dir=tmp_path / "runs", count=1, in_process=True, trial_fn=fake_trial)
    changed = write_sweep(GRID_12.replace("0.001]", "0.0001]"))
    code = main(["sweep", str(changed), "--runs-dir", str(tmp_path / "runs")])
    err = capsys.readouterr().err
    assert code == 2 and "another search space" in err


def test_ctrl_c_stops_cleanly_and_the_rerun_resumes(tmp_path, write_sweep, monkeypatch):
    monkeypatch.setenv("FAKE_EPOCH_SECONDS", "0.5")
    path = write_sweep(GRID_12)
    script = ("import sys; from vgg_sweep.engine.local import run_sweep; "
              "from vgg_sweep.engine.spec import load_spec; "
              f"s = run_sweep(load_spec({str(path)!r}), runs_dir={str(tmp_path / 'runs')!r}, "
              f"workers=2, trial_command={FAKE_COMMAND!r}); "
              "sys.exit(130 if s.interrupted else 0)")
    # A foreground sweep: SIGINT at its default, even where this test runs in a background job
    # (whose shell ignores SIGINT, and the ignore is inherited).
    process = subprocess.Popen([sys.executable, "-c", script], start_new_session=True,
                               preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    url = journal(tmp_path, "grid12")
    for _ in range(200):
        time.sleep(0.1)
        try:
            if load_study("grid12", url).get_trials(states=(TrialState.RUNNING,)):
                break
        except KeyError:
            continue
    time.sleep(0.3)
    os.killpg(process.pid, signal.SIGINT)  # what a terminal's Ctrl-C does
    started = time.monotonic()
    assert process.wait(timeout=30) == 130
    assert time.monotonic() - started < 10
    study = load_study("grid12", url)
    assert not study.get_trials(states=(TrialState.RUNNING,))
    interrupted = [t for t in study.trials if t.user_attrs.get("state") == "killed"]
    assert interrupted and all(t.user_attrs["attempt"] == 0 for t in study.trials)
    records = [tmp_path / "runs" / "grid12" / t.user_attrs["run_id"] / "record.json"
               for t in interrupted]  # none where the Ctrl-C came before the trial's handler
    for written in filter(Path.exists, records):  # a Ctrl-C'd run is killed, not pruned
        record = read_record(written.parent)
        assert record["state"] == "killed" and "test_acc" not in record["summary"]
    monkeypatch.setenv("FAKE_EPOCH_SECONDS", "0")
    spec = load_spec(path)
    run_sweep(spec, runs_dir=tmp_path / "runs", workers=2, trial_command=FAKE_COMMAND)
    check_each_point_once(load_study("grid12", url), spec, tmp_path / "runs")


def test_agents_override_constants_per_machine_but_not_the_search(tmp_path, write_sweep):
    spec = load_spec(write_sweep(GRID_12))
    run_sweep(spec, runs_dir=tmp_path / "runs", count=2, in_process=True, trial_fn=fake_trial)
    elsewhere = load_spec(write_sweep(GRID_12), {"data_dir": "/mnt/data"})
    run_sweep(elsewhere, runs_dir=tmp_path / "runs", create=False, in_process=True,
              trial_fn=fake_trial)
    study = load_study("grid12", journal(tmp_path, "grid12"))
    data_dirs = Counter(t.user_attrs["params"].get("data_dir") for t in study.trials)
    assert data_dirs == {None: 2, "/mnt/data": 10}
