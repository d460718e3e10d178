"""What a person sees while a sweep runs, through the `vgg-sweep` program (fake trials): each
trial's epoch lines (told on the epoch channel or by on_epoch), a line when it ends, the
sweep's status (trials done of how many, best so far, elapsed, ETA) and the closing table;
on a terminal the status is one line redrawn in place, in a log plain lines."""

import os
import re
import signal
import subprocess

import pytest
from optuna.trial import TrialState
from study_helpers import FAKE_CLI, load_study
from terminal import run_in_terminal, visible_lines

from vgg_sweep.progress import CLEAR_LINE
from vgg_sweep.record import read_record

GRID_4 = """
    name: g4
    method: grid
    metric: {name: val_acc, goal: maximize}
    parameters:
      lr: {values: [0.1, 0.01]}
      optimizer: {values: [Adam, SGD]}
      epochs: {value: 2}
"""
STATUS = re.compile(r"^sweep: (\d+) of (\d+) trials done, (\d+) running(?:, best val_acc=(\S+) "
                    r"\(run (\w+)\))?, elapsed \d+:\d\d(?:, ETA \d+:\d\d)?$", re.MULTILINE)


def sweep_args(path, runs, *args):
    return [*FAKE_CLI, "sweep", str(path), "--runs-dir", str(runs), "--workers", "2",
            "--no-preflight", *args]  # preflight would probe the real trainer


@pytest.fixture
def slow_epochs(monkeypatch):
    monkeypatch.setenv("FAKE_EPOCH_SECONDS", "0.3")  # a status poll (1 s) sees trials end


def assert_trial_lines(out: str, runs) -> None:
    """Each trial's two epoch lines (its record's numbers) and its end line, once each."""
    study = load_study("g4", str(runs / "g4" / "study.log"))
    for trial in study.get_trials(states=(TrialState.COMPLETE,)):
        run_id, number = trial.user_attrs["run_id"], trial.number
        history = read_record(runs / "g4" / run_id)["history"]
        for row in history:
            line = (f"trial {number} {run_id} epoch {row['epoch']}/2: train loss "
                    f"{row['train_loss']:.3f}, val acc {row['val_acc']:.1f}%, ")
            assert len(re.findall(rf"^\[w[01]\] {re.escape(line)}\d+:\d\d elapsed$", out,
                                  re.MULTILINE)) == 1, (line, out)
        params = trial.user_attrs["params"]
        end = (f"trial {number} {run_id} lr={params['lr']} optimizer={params['optimizer']}: "
               f"val_acc={trial.value:.4g} finished, ")
        assert len(re.findall(rf"^\[w[01]\] {re.escape(end)}\d+:\d\d$", out, re.MULTILINE)) == 1


def assert_closing(out: str, runs) -> None:
    """The closing table: the best trial's value, swept values, record and the report."""
    study = load_study("g4", str(runs / "g4" / "study.log"))
    best = study.best_trial
    record = runs.resolve() / "g4" / best.user_attrs["run_id"] / "record.json"
    assert read_record(record.parent)["summary"]["val_acc"] == best.value
    table = out[out.index(f"best val_acc={best.value:.4g}: run {best.user_attrs['run_id']}\n"):]
    assert table.splitlines()[1:5] == [
        f"  lr         {best.user_attrs['params']['lr']}",
        f"  optimizer  {best.user_attrs['params']['optimizer']}",
        f"  record     {record}",
        f"  report     vgg-sweep report {runs / 'g4'}"]


def test_a_sweep_in_a_log_prints_plain_lines_and_the_closing_table(
        write_sweep, tmp_path, slow_epochs):
    path, runs = write_sweep(GRID_4), tmp_path / "runs"
    first = subprocess.run(sweep_args(path, runs, "--count", "2"), capture_output=True,
                           text=True, timeout=120)
    assert first.returncode == 0, first.stderr
    again = subprocess.run(sweep_args(path, runs, "--in-process"), capture_output=True,
                           text=True, timeout=120)
    assert again.returncode == 0, again.stderr
    for run in (first, again):
        assert "\r" not in run.stdout + run.stderr and "\x1b" not in run.stdout + run.stderr
    # The status, once each time more trials are done: of 2 (--count), then of the grid's 4.
    for run, start, total in ((first, 0, 2), (again, 2, 4)):
        statuses = STATUS.findall(run.stdout)
        done = [int(status[0]) for status in statuses]
        assert done[0] == start and done == sorted(set(done)) and done[-1] <= total, run.stdout
        assert {int(status[1]) for status in statuses} == {total}
    values = {t.user_attrs["run_id"]: t.value
              for t in load_study("g4", str(runs / "g4" / "study.log")).trials}
    bests = [(float(s[3]), s[4]) for s in STATUS.findall(again.stdout) if s[3]]
    assert bests, again.stdout  # the first run's trials were done from the start
    for value, run_id in bests:  # the best so far: that run's value (4 digits), never worse
        assert value == pytest.approx(values[run_id], rel=1e-3)
    assert [value for value, _ in bests] == sorted(value for value, _ in bests)
    assert_trial_lines(first.stdout + again.stdout, runs)
    assert "2 finished, 0 pruned, 0 failed" in first.stdout
    assert "4 finished, 0 pruned, 0 failed" in again.stdout
    assert_closing(again.stdout, runs)


def test_a_sweep_on_a_terminal_redraws_its_status_line_under_the_trial_lines(
        write_sweep, tmp_path, slow_epochs):
    path, runs = write_sweep(GRID_4), tmp_path / "runs"
    code, screen = run_in_terminal(sweep_args(path, runs), timeout=120)
    assert code == 0, screen
    rows = visible_lines(screen)
    text = "\n".join(rows)
    assert_trial_lines(text, runs)
    assert_closing(text, runs)
    # Drawn in place (erase the row, draw) and erased before each line and at the end: the
    # status never scrolls into what stays on the screen.
    drawn = [int(d) for d in re.findall(re.escape(CLEAR_LINE) + r"sweep: (\d) of 4 trials done",
                                        screen)]
    assert drawn[0] == 0 and drawn[-1] >= 2 and drawn == sorted(drawn), screen
    assert not [row for row in rows if row.startswith("sweep: ")]


def test_an_unbounded_sweep_says_so(write_sweep, tmp_path, slow_epochs):
    """random without run_cap or --count: no total, no ETA; Ctrl-C stops it."""
    path = write_sweep("""
        name: rnd
        method: random
        metric: {name: val_acc, goal: maximize}
        parameters:
          lr: {min: 0.001, max: 0.1}
          epochs: {value: 2}
    """)
    process = subprocess.Popen(sweep_args(path, tmp_path / "runs", "--in-process"),
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               start_new_session=True,
                               preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    first = process.stdout.readline()
    status = ""
    for _ in range(50):  # a trial's epoch line may come before the first status line
        status = process.stdout.readline()
        if status.startswith("sweep: ") or not status:
            break
    os.killpg(process.pid, signal.SIGINT)
    process.communicate(timeout=60)
    assert first.startswith("sweep 'rnd': method=random")
    assert re.fullmatch(r"sweep: \d+ trials? done \(unbounded: Ctrl-C stops\), \d running, "
                        r"(best val_acc=\S+ \(run \w+\), )?elapsed 0:0\d\n", status), status
    assert process.returncode == 130


def test_dumb_terminal_gets_plain_lines(write_sweep, tmp_path):
    """TERM=dumb (an editor's shell, some CI): no control characters."""
    code, screen = run_in_terminal(sweep_args(write_sweep(GRID_4), tmp_path / "runs"),
                                   term="dumb", timeout=120)
    assert code == 0 and "\x1b" not in screen, screen
    assert "sweep: 0 of 4 trials done" in screen

