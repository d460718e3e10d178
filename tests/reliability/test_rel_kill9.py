"""Fault injection on the local engine: kill -9 at 20 seeded moments, then resume.

Real trials on synthetic data (2 epochs of 128 images, 4 for the random kills; no plots or
FLOP count: about a second each, forked from the workers' warm servers).

- Planned kills (10): the trial program kills itself with SIGKILL while loading data, at the
  n-th training batch, half-way through a checkpoint write, or half-way through a record.json
  write (tests/reliability/kill_trial.py), chosen per grid point by a seeded RNG.
- Random kills (10): a sweep runs in its own process group; at seeded random delays the test
  sends SIGKILL to a worker process or to a trial process, whatever it is doing then
  (starting up, loading data, mid-epoch, writing, between trials). Killed sweeps are started
  again until 10 kills have landed; then a last run finishes the sweep.

After the resume: every grid point is COMPLETE exactly once in the study, its run record is
finished with each of its epochs once, every record and history.csv parses, and the report
counts every point. Trials lost: 0.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import optuna
import processes
from optuna.trial import TrialState

from vgg_sweep.cli import main
from vgg_sweep.engine.local import run_sweep
from vgg_sweep.engine.spec import load_spec
from vgg_sweep.engine.storage import open_storage
from vgg_sweep.record import read_record

HERE = Path(__file__).resolve().parent
KILL_COMMAND = (sys.executable, str(HERE / "kill_trial.py"))
CONSTANTS = {"dataset": "synthetic", "epochs": 2, "train_subset": 128, "batch_size": 32,
             "plots": "false", "count_flops": "false", "grad_flow_every": 0, "threads": 1,
             "precision": "fp32"}
SEED = 20260806
RANDOM_KILLS = 10


def _write_sweep(path: Path, name: str, lrs: list[str], **constants) -> Path:
    lines = [f"name: {name}", "method: grid", "metric: {name: val_acc, goal: maximize}",
             "parameters:", f"  lr: {{values: [{', '.join(lrs)}]}}"]
    lines += [f"  {key}: {{value: {value}}}" for key, value in {**CONSTANTS, **constants}.items()]
    path.write_text("\n".join(lines) + "\n")
    return path


def _trials_text(trials: list, study: optuna.Study) -> str:
    """One line per trial: number, state, times and the engine's attributes (for a failure)."""
    keys = ("point", "run_id", "attempt", "retry_of", "state", "reason", "lease")
    lines = [f"  study attrs: stopped={study.user_attrs.get('stopped')!r} "
             f"failures_from={study.user_attrs.get('failures_from')!r}"]
    for t in trials:
        attrs = " ".join(f"{k}={t.user_attrs[k]!r}" for k in keys if k in t.user_attrs)
        lines.append(f"  trial {t.number} {t.state.name} start={t.datetime_start} "
                     f"end={t.datetime_complete} {attrs}")
    return "\n".join(lines)


def _check_nothing_lost(runs: Path, name: str, lrs: list[str]) -> dict[str, list]:
    """Each point COMPLETE once; its record finished with each of its epochs once; all
    parse."""
    study = optuna.load_study(study_name=name, storage=open_storage(str(runs / name /
                                                                        "study.log")))
    trials = study.get_trials()
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    points = Counter(t.user_attrs["point"] for t in complete)
    wrong = [p for p in range(len(lrs)) if points[p] != 1]
    assert not wrong, f"points not COMPLETE exactly once: {wrong}\n" + _trials_text(
        [t for t in trials if t.user_attrs.get("point") in wrong], study)
    left = [t for t in trials if t.state in (TrialState.RUNNING, TrialState.WAITING)]
    assert not left, "trials left running or waiting:\n" + _trials_text(left, study)
    for trial in complete:
        record = read_record(runs / name / trial.user_attrs["run_id"])
        assert record["state"] == "finished"
        epochs = int(record["config"]["epochs"])
        assert [row["epoch"] for row in record["history"]] == list(range(1, epochs + 1))
        assert float(record["config"]["lr"]) == float(trial.user_attrs["params"]["lr"])
    for path in (runs / name).rglob("record.json"):
        read_record(path.parent)  # no half-written record anywhere
    for path in (runs / name).rglob("history.csv"):
        assert path.read_text().startswith("epoch,")
    report = runs.parent / f"report-{name}"
    assert main(["report", str(runs / name), "-o", str(report), "--states", "all"]) == 0
    overview = (report / "report.md").read_text()
    assert f"{len(lrs)} runs ({len(lrs)} finished)" in overview, overview[:400]
    return {"retried": [t for t in study.get_trials() if "retry_of" in t.user_attrs]}


def test_planned_kills_at_load_batch_checkpoint_and_record_write(tmp_path, monkeypatch):
    rng = random.Random(SEED)
    lrs = ["0.01", "0.005", "0.002", "0.001", "0.0005", "0.0002", "0.0001", "0.02", "0.05",
           "0.03"]
    kinds = ["load", "batch", "checkpoint", "record"] * 2 + ["batch", "checkpoint"]
    rng.shuffle(kinds)
    # n: which batch (of 8 over 2 epochs), checkpoint (of 2) or record write (of 3)
    limits = {"load": 1, "batch": 8, "checkpoint": 2, "record": 3}
    plan = {lr: [kind, rng.randint(1, limits[kind])] for lr, kind in zip(lrs, kinds,
                                                                         strict=True)}
    monkeypatch.setenv("REL_KILL_PLAN", json.dumps(plan))
    sweep = _write_sweep(tmp_path / "planned.yaml", "planned", lrs)
    runs = tmp_path / "runs"
    summary = run_sweep(load_spec(sweep), runs_dir=runs, workers=2, heartbeat=5.0,
                        trial_command=KILL_COMMAND)
    assert summary.states.get("finished") == len(lrs), summary.states
    assert summary.states.get("retried") == len(plan)  # each kill: crashed, retried once
    result = _check_nothing_lost(runs, "planned", lrs)
    assert len(result["retried"]) == len(plan)
    for run_dir in (runs / "planned").iterdir():
        if not (run_dir / ".kill-injected").exists():
            continue
        log = (run_dir / "output.log").read_text()
        assert "Traceback" not in log
        # a checkpoint written before the kill is resumed from, never read half-written
        assert "training from scratch" not in log
    # the killed attempts' half-written temporary files were removed by their retries
    assert not list((runs / "planned").rglob("*.tmp"))


def _targets(sweep_pid: int, runs: Path, name: str,
             ) -> list[tuple[str, int, str | None, int | None]]:
    """(what, pid, run id, grid point) of each worker and trial process. A worker without
    a trial subprocess may still hold a trial (leased, its subprocess not started yet): the
    study's lease names the worker's pid. Killing that worker crashes that trial, so its
    point counts as hit as much as a kill of its subprocess does."""
    study = _study(runs, name)
    trials = study.get_trials(deepcopy=False) if study else []
    points = {t.user_attrs["run_id"]: t.user_attrs["point"] for t in trials
              if "run_id" in t.user_attrs}
    held = {t.user_attrs["lease"]["pid"]: t for t in trials
            if t.state == TrialState.RUNNING and "lease" in t.user_attrs}
    found = []
    for worker in filter(processes.is_worker, processes.children(sweep_pid)):
        run_id, point = None, None
        if worker in held:
            run_id = held[worker].user_attrs.get("run_id")
            point = held[worker].user_attrs["point"]
        for pid, run_id in processes.trials(worker):
            point = points.get(run_id, point)
            found.append(("trial", pid, run_id, point))
        found.append(("worker", worker, run_id, point))
    return found


def _study(runs: Path, name: str) -> optuna.Study | None:
    journal = runs / name / "study.log"
    if not journal.exists():
        return None
    return optuna.load_study(study_name=name, storage=open_storage(str(journal)))


def _moment(runs: Path, run_id: str | None) -> str:
    if run_id is None:  # a worker between trials, or a trial just forked (no output log yet)
        return "between trials or just forked"
    run_dir = runs / run_id
    if not (run_dir / "record.json").exists():
        return "startup or data load"
    return "mid-trial (epoch, checkpoint or record write)"


def _points_done(runs: Path, name: str) -> int:
    journal = runs / name / "study.log"
    if not journal.exists():
        return 0
    study = optuna.load_study(study_name=name, storage=open_storage(str(journal)))
    return len({t.user_attrs["point"] for t in study.get_trials(states=(TrialState.COMPLETE,))})


def test_random_kill_9_of_workers_and_trials_then_resume(tmp_path):
    rng = random.Random(SEED + 1)
    # 32 points of 4 epochs for 10 kills: a point is hit at most once, and a kill often lands
    # after the trial it aimed at has finished, so the sweep needs more work than kills to
    # absorb them (warm trials of 2 epochs take under a second: 16 points were done after 6
    # kills, 32 after 9).
    lrs = [f"{0.0001 * (i + 1):.4f}" for i in range(32)]
    sweep = _write_sweep(tmp_path / "random.yaml", "random", lrs, epochs=4)
    runs = tmp_path / "runs"
    # Default heartbeat: a killed worker's lease is reclaimed at once anyway (its pid is gone).
    command = [sys.executable, "-m", "vgg_sweep", "sweep", str(sweep), "--runs-dir", str(runs),
               "--workers", "2"]
    kills, hit, moments, rounds = 0, set(), Counter(), 0
    deadline = time.monotonic() + 240  # ~90 s unloaded; room for a busy machine
    while kills < RANDOM_KILLS and time.monotonic() < deadline:
        rounds += 1
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL, start_new_session=True)
        try:
            while process.poll() is None and kills < RANDOM_KILLS:
                time.sleep(0.2)
                # only points not hit before: a twice-crashed trial is failed for good
                if not [t for t in _targets(process.pid, runs, "random") if t[3] not in hit]:
                    continue
                time.sleep(rng.uniform(0.0, 4.0))  # the moment: anywhere in what runs now
                choices = [t for t in _targets(process.pid, runs, "random") if t[3] not in hit]
                if not choices:
                    continue
                what, pid, run_id, point = rng.choice(choices)
                moment = f"{what} {_moment(runs / 'random', run_id)}"
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    continue
                kills += 1
                moments[moment] += 1
                if point is not None:
                    hit.add(point)
        finally:
            if process.poll() is None:  # kills done: let this round finish the sweep
                process.wait(timeout=120)
        if _points_done(runs, "random") == len(lrs):
            break  # nothing left to kill: more rounds would only spin
    assert kills == RANDOM_KILLS, f"the sweep finished after {kills} kills: {dict(moments)}"
    final = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert final.returncode == 0, final.stderr
    assert "Traceback" not in final.stderr
    result = _check_nothing_lost(runs, "random", lrs)
    assert result["retried"]  # the kills did hit trials, which were run again
    print(f"random kills: {kills} in {rounds} rounds: {dict(moments)}")
