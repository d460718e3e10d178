"""Any W&B sweep, offline: `vgg-sweep sweep` runs the sweep file's own program (a student's
script: tests/fixtures/programs/) as W&B's agent runs it, and every run leaves the record our
trainer leaves. Checked with the numbers the programs compute (curve.py), the decisions of our
parity-tested hyperband rule, the report, three command styles, and kill -9 with 2 workers."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import optuna
import pytest
from contract import run_cli
from optuna.trial import TrialState
from study_helpers import completed_points, load_study

from vgg_sweep.engine import work_queue
from vgg_sweep.engine.hyperband import stop_decisions
from vgg_sweep.engine.spec import load_spec
from vgg_sweep.record import read_record
from vgg_sweep.wandb_log import read_run_log, run_logs

PROGRAMS = Path(__file__).parents[1] / "fixtures" / "programs"
sys.path.insert(0, str(PROGRAMS))
from curve import val_acc_curve  # noqa: E402  the programs' own curve, for the expected numbers

STUDENT = PROGRAMS / "student_train.py"
CONFIG_ONLY = PROGRAMS / "student_config.py"


@pytest.fixture(autouse=True)
def _offline_wandb(monkeypatch):
    """W&B as a user has it: offline runs written under each run's folder, quietly; and
    preflight on, as a user's sweep has it (it skips a foreign program)."""
    monkeypatch.delenv("VGG_SWEEP_NO_PREFLIGHT", raising=False)
    monkeypatch.setenv("WANDB_SILENT", "true")
    monkeypatch.delenv("WANDB_MODE", raising=False)  # the conftest's `disabled`: W&B writes
    monkeypatch.delenv("WANDB_DIR", raising=False)


def _yaml(parameters: str, **top: str) -> str:
    """A sweep file running the student's script, grid search of val_acc, unless `top` (its
    top-level keys) says otherwise; `parameters`: the YAML under parameters:."""
    top = {"program": str(STUDENT), "method": "grid",
           "metric": "{name: val_acc, goal: maximize}", **top}
    return ("".join(f"{key}: {value}\n" for key, value in top.items()) + "parameters:\n"
            + textwrap.indent(textwrap.dedent(parameters).strip("\n"), "  ") + "\n")


def _sweep(write_sweep, tmp_path, text, *args):
    path = write_sweep(text)
    runs = tmp_path / "runs"
    result = run_cli(["sweep", path, "--runs-dir", runs, *args])
    return result, runs / load_spec(path).name


def _records(folder: Path) -> list[dict]:
    return [read_record(run) for run in sorted(folder.iterdir()) if run.is_dir()]


def _values(record: dict) -> list[float]:
    return [row["val_acc"] for row in record["history"]]


def test_grid_records_every_point_and_the_report_reads_them(write_sweep, tmp_path):
    result, folder = _sweep(write_sweep, tmp_path, _yaml("""
        lr: {values: [0.01, 0.001]}
        optimizer: {values: [adam, sgd]}
        epochs: {value: 3}
    """, name="student-grid"))
    assert result.code == 0, result.err
    assert "preflight probes our trainer only" in result.err
    records = _records(folder)
    points = {(r["config"]["lr"], r["config"]["optimizer"]) for r in records}
    assert len(records) == 4 and points == {(lr, opt) for lr in (0.01, 0.001)
                                            for opt in ("adam", "sgd")}
    for record in records:
        config = record["config"]
        expected = val_acc_curve(config["lr"], 3, 3 if config["optimizer"] == "adam" else 0)
        assert record["state"] == "finished" and config["epochs"] == 3
        assert [row["epoch"] for row in record["history"]] == [1, 2, 3]
        assert _values(record) == pytest.approx(expected)
        assert record["summary"]["val_acc"] == pytest.approx(expected[-1])
        # the offline W&B run stays in the run's folder, for `wandb sync`
        assert list((folder / record["id"]).glob(f"wandb/offline-run-*/run-{record['id']}.wandb"))
    best = max(records, key=lambda r: r["summary"]["val_acc"])
    assert (best["config"]["lr"], best["config"]["optimizer"]) == (0.01, "adam")

    report = run_cli(["report", folder, "-o", tmp_path / "report", "--format", "png"])
    assert report.code == 0, report.err
    text = (tmp_path / "report" / "report.md").read_text()
    assert "4 runs (4 finished)" in text and f"run {best['id']}" in text
    assert "Swept parameters: lr, optimizer" in text
    assert (tmp_path / "report" / "curves.png").stat().st_size > 0


@pytest.mark.parametrize("method", ["random", "bayes"])
def test_random_and_bayes_draw_points_the_program_trains(write_sweep, tmp_path, method):
    result, folder = _sweep(write_sweep, tmp_path, _yaml("""
        lr: {distribution: log_uniform_values, min: 0.0001, max: 0.1}
        epochs: {value: 2}
    """, name=f"student-{method}", method=method, run_cap="2"))
    assert result.code == 0, result.err
    records = _records(folder)
    assert len(records) == 2 and len({r["config"]["lr"] for r in records}) == 2
    for record in records:
        assert 0.0001 <= record["config"]["lr"] <= 0.1
        assert _values(record) == pytest.approx(val_acc_curve(record["config"]["lr"], 2))


def test_hyperband_stops_the_runs_our_rule_stops(write_sweep, tmp_path):
    """Each run's metric is followed while it trains; the runs stopped are those the rule
    (hyperband.py, parity-tested against W&B) stops, given the runs before them."""
    result, folder = _sweep(write_sweep, tmp_path, _yaml("""
        lr: {values: [0.01, 0.0001]}
        epochs: {value: 10}
        sleep: {value: 0.3}
    """, name="student-hyperband",
        early_terminate="{type: hyperband, min_iter: 1, eta: 3}"))
    assert result.code == 0, result.err
    spec = load_spec(tmp_path / "sweep.yaml")
    study = load_study(spec.name, str(folder / "study.log"))
    reported, pruned = [], []  # in trial order: what each run had reported when it ended
    for trial in sorted(study.get_trials(), key=lambda t: t.number):
        record = read_record(folder / trial.user_attrs["run_id"])
        values, stopped_at = _values(record), None
        lr = record["config"]["lr"]
        assert lr == trial.user_attrs["params"]["lr"]
        assert values == pytest.approx(val_acc_curve(lr, 10)[:len(values)])
        for epoch in range(1, len(values) + 1):
            runs = [(earlier, False) for earlier in reported] + [(values[:epoch], True)]
            if stop_decisions(spec.hyperband, spec.goal, runs)[-1]:
                stopped_at = epoch
                break
        assert record["state"] == ("pruned" if stopped_at else "finished")
        assert trial.state == (TrialState.PRUNED if stopped_at else TrialState.COMPLETE)
        reported.append(values[:stopped_at])
        pruned.append(stopped_at is not None)
        if stopped_at:  # stopped while it trained, as the agent stops a run
            assert len(values) < 10
    assert pruned[0] is False and any(pruned)


NESTED = """\
optimizer:
  parameters:
    name: {value: adam}
    lr: {values: [0.01]}
"""  # W&B's nested parameters: the program gets wandb.config.optimizer = {name, lr}
WORDS = {"optimizer": "{'name': 'adam', 'lr': 0.01}", "epochs": "2"}  # as W&B renders them
JSON = {"optimizer": {"name": "adam", "lr": 0.01}, "epochs": 2}


@pytest.mark.parametrize(("styles", "seen"), [
    (["${args_json_file}", "${args_no_hyphens}"], {"json": JSON, "words": WORDS}),
    ([], {"json": {}, "words": {}}),  # no command-line parameters: wandb.config alone
])
def test_command_styles_and_nested_parameters(write_sweep, tmp_path, styles, seen):
    command = ["${env}", "${interpreter}", "${program}", *styles]
    result, folder = _sweep(write_sweep, tmp_path, _yaml(NESTED + "epochs: {value: 2}\n",
                                                         name="student-config",
                                                         program=str(CONFIG_ONLY),
                                                         command=json.dumps(command)))
    assert result.code == 0, result.err
    [record] = _records(folder)
    assert record["config"]["optimizer"] == {"name": "adam", "lr": 0.01}  # wandb.config's
    assert json.loads(record["summary"]["args_seen"]) == seen
    assert _values(record) == pytest.approx(val_acc_curve(0.01, 2, 3))


def test_a_program_without_the_metric_is_named_with_what_it_logged(write_sweep, tmp_path):
    result, folder = _sweep(write_sweep, tmp_path, _yaml("""
        metric: {value: accuracy}
        epochs: {value: 1}
    """))
    assert result.code == 1
    [record] = _records(folder)
    assert record["state"] == "finished"
    assert record["note"].startswith("the program logged no 'val_acc' (it logged accuracy, "
                                     "epoch, train_loss)")
    assert f"1 trial(s) finished without logging val_acc (runs {record['id']})" in result.err
    assert "the note in each run's record.json" in result.err


def test_a_crashed_program_is_retried_once_as_a_fresh_run(write_sweep, tmp_path):
    """Killed by a signal in epoch 2 (W&B: crashed), run again under the same run id; the
    record is the retry's alone (the first attempt's W&B log is not read again)."""
    result, folder = _sweep(write_sweep, tmp_path, _yaml(f"""
        crash_once: {{value: {tmp_path / "crashed"}}}
        epochs: {{value: 3}}
    """, name="student-crash"))
    assert result.code == 0, result.err
    assert "1 finished, 0 pruned, 0 failed, 1 retried" in result.out
    assert "crashed (killed by signal 9" in result.out
    [record] = _records(folder)
    assert record["state"] == "finished" and [row["epoch"] for row in record["history"]] == [
        1, 2, 3]
    assert _values(record) == pytest.approx(val_acc_curve(0.001, 3))
    assert len(list((folder / record["id"]).glob("wandb/offline-run-*"))) == 2  # both attempts


def test_kill_9_of_the_sweep_then_resume_with_2_workers(write_sweep, tmp_path):
    """The sweep, its workers and their programs killed at once mid-sweep; the same command
    finishes it: every grid point once, none lost, none run twice."""
    path = write_sweep(_yaml("""
        lr: {values: [0.01, 0.001, 0.0003]}
        epochs: {value: 3}
        sleep: {value: 0.15}
    """, name="student-kill"))
    runs = tmp_path / "runs"
    argv = [sys.executable, "-m", "vgg_sweep", "sweep", str(path), "--runs-dir", str(runs),
            "--workers", "2", "--heartbeat", "0.5"]
    sweep = subprocess.Popen(argv, start_new_session=True, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
    folder = runs / "student-kill"
    deadline = time.monotonic() + 60
    while not list(folder.glob("*/record.json")) and time.monotonic() < deadline:
        time.sleep(0.1)  # killed once the first run has ended and others train
    os.killpg(sweep.pid, signal.SIGKILL)
    sweep.wait()
    done_before = len(list(folder.glob("*/record.json")))
    assert 1 <= done_before < 3

    resumed = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    assert resumed.returncode == 0, resumed.stderr
    study = load_study("student-kill", str(folder / "study.log"))
    assert completed_points(study) == {point: 1 for point in range(3)}
    records = _records(folder)
    assert sorted(r["config"]["lr"] for r in records) == [0.0003, 0.001, 0.01]
    for record in records:
        assert record["state"] == "finished"
        assert [row["epoch"] for row in record["history"]] == [1, 2, 3]
        assert _values(record) == pytest.approx(val_acc_curve(record["config"]["lr"], 3))


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux /proc")
def test_a_lease_held_by_a_zombie_is_stale():
    """Workers killed with their sweep stay zombies where PID 1 does not reap them (this
    VM; containers); the resume above must not take their trials for running ones."""
    child = subprocess.Popen(["true"])
    while Path(f"/proc/{child.pid}/stat").read_text().rpartition(")")[2].split()[0] != "Z":
        time.sleep(0.01)  # exited, not reaped
    study = optuna.create_study()
    trial = study.ask()
    for pid, stale in ((child.pid, True), (os.getpid(), False)):
        trial.set_user_attr("lease", {"host": socket.gethostname(), "pid": pid,
                                      "beat": time.time()})
        assert work_queue.is_stale(study.get_trials()[0], grace=3600) is stale
    child.wait()


def test_seeds_reach_a_program_as_its_seed_parameter_grouped_in_wandb(write_sweep, tmp_path):
    command = json.dumps(["${env}", "${interpreter}", "${program}"])
    result, folder = _sweep(write_sweep, tmp_path, _yaml(
        NESTED + "epochs: {value: 1}\nseed: {value: 7}\n", name="student-seeds",
        program=str(CONFIG_ONLY), command=command), "--seeds", "2")
    assert result.code == 0, result.err
    records = _records(folder)
    assert [r["id"][-3:] for r in records] == ["-s1", "-s2"]
    assert [r["config"]["seed"] for r in records] == [7, 8]
    group = records[0]["id"][:-3]
    assert {r["group"] for r in records} == {group}
    for record in records:  # W&B's own log of each run holds the group too
        [log] = run_logs(folder / record["id"], record["id"])
        assert read_run_log(log).group == group
