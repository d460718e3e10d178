"""What a person sees while one trial trains: one line per epoch, on a terminal and in a log
(`vgg_sweep.progress`); the sweep's status line and closing table: tests/engine/
test_progress_sweep.py."""

import io
import json
import os
import re
import subprocess
import sys

import pytest
from terminal import run_in_terminal, visible_lines

from vgg_sweep.progress import CLEAR_LINE, Console, SweepStatus, duration, epoch_line, eta

TRAIN = [sys.executable, "-m", "vgg_sweep", "train", "--dataset=synthetic", "--epochs=2",
         "--train_subset=192", "--batch_size=64", "--model=simplecnn", "--plots=false",
         "--count_flops=false", "--wandb_mode=disabled"]
EPOCH = re.compile(r"^epoch (\d)/2: train loss (\S+), acc (\S+)%, val loss (\S+), "
                   r"val acc (\S+)%, (\d+) img/s, (\d+):(\d\d) elapsed$", re.MULTILINE)


def assert_epochs_as_recorded(out: str, runs) -> None:
    """Two epoch lines whose numbers are the record's history, as the line rounds them."""
    record, = [json.loads(p.read_text()) for p in runs.glob("adhoc/*/record.json")]
    lines = EPOCH.findall(out)
    assert [int(line[0]) for line in lines] == [1, 2], out
    for line, row in zip(lines, record["history"], strict=True):
        assert line[1:6] == (f"{row['train_loss']:.3f}", f"{row['train_acc']:.1f}",
                             f"{row['val_loss']:.3f}", f"{row['val_acc']:.1f}",
                             f"{row['images_per_sec']:.0f}")
    seconds = [60 * int(line[6]) + int(line[7]) for line in lines]
    assert seconds[0] <= seconds[1] <= record["runtime"] + 1  # time since the trial started


def test_train_prints_one_plain_line_per_epoch_into_a_log(tmp_path):
    """stdout a file (a log, CI): the epoch lines, nothing else of the trial's progress and
    no control characters."""
    done = subprocess.run([*TRAIN, f"--runs_dir={tmp_path}"], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    assert_epochs_as_recorded(done.stdout, tmp_path)
    assert "\r" not in done.stdout + done.stderr and "\x1b" not in done.stdout + done.stderr
    assert len(done.stdout.splitlines()) == 3  # two epochs and the result line


def test_train_on_a_terminal_shows_the_epoch_lines_under_its_progress_bar(tmp_path):
    code, screen = run_in_terminal([*TRAIN, f"--runs_dir={tmp_path}"], timeout=300)
    assert code == 0, screen
    assert "img/s]" in screen  # tqdm's bar, drawn in place, then cleared
    assert_epochs_as_recorded("\n".join(visible_lines(screen)), tmp_path)


def test_epoch_line_shows_the_fields_the_row_has():
    row = {"train_loss": 0.51234, "train_acc": 81.25, "val_loss": 0.4804, "val_acc": 82.4,
           "images_per_sec": 4120.4, "epoch_time_sec": 3.0}
    assert epoch_line(2, 5, row, 91.6) == ("epoch 2/5: train loss 0.512, acc 81.2%, val loss "
                                           "0.480, val acc 82.4%, 4120 img/s, 1:32 elapsed")
    assert epoch_line(1, 3, {"val_acc": 40.0}, 0.2) == "epoch 1/3: val acc 40.0%, 0:00 elapsed"


@pytest.mark.parametrize("seconds, text", [(0, "0:00"), (59.6, "1:00"), (754, "12:34"),
                                           (3723, "1:02:03"), (-1, "0:00")])
def test_duration(seconds, text):
    assert duration(seconds) == text


def test_eta_is_the_trials_left_at_the_mean_duration_spread_over_the_workers():
    assert eta(2, 8, [30.0, 50.0], workers=2) == 6 * 40 / 2
    assert eta(7, 8, [30.0, 50.0], workers=4) == 40  # one trial left: one worker runs it
    assert eta(8, 8, [40.0], workers=1) == 0
    assert eta(2, None, [40.0], workers=1) is None  # no end
    assert eta(0, 8, [], workers=1) is None  # nothing finished yet


def test_status_names_the_total_or_says_unbounded():
    status = SweepStatus(done=3, running=2, total=8, best="best val_acc=82.4 (run ab12cd34)",
                         eta=130)
    assert status.text(65) == ("sweep: 3 of 8 trials done, 2 running, best val_acc=82.4 "
                               "(run ab12cd34), elapsed 1:05, ETA 2:10")
    assert SweepStatus(done=3, running=1).text(5) == (
        "sweep: 3 trials done (unbounded: Ctrl-C stops), 1 running, elapsed 0:05")


def test_console_in_a_log_prints_the_status_when_more_trials_are_done():
    stream = io.StringIO()
    console = Console(stream)
    for done in (0, 0, 1, 1, 2):
        console.status(SweepStatus(done=done, total=2))
        console.say(f"line {done}")
    console.close()
    lines = stream.getvalue().splitlines()
    assert [line for line in lines if line.startswith("sweep:")] == [
        f"sweep: {n} of 2 trials done, 0 running, elapsed 0:00" for n in (0, 1, 2)]
    assert lines.count("line 0") == 2 and "\x1b" not in stream.getvalue()


def test_console_on_a_terminal_keeps_the_status_line_under_the_lines(monkeypatch):
    monkeypatch.setenv("TERM", "xterm")  # CI's may be dumb: plain lines
    master, slave = os.openpty()
    with open(slave, "w") as terminal:
        console = Console(terminal)
        console.status(SweepStatus(done=0, total=2))
        console.say("trial 0 epoch 1/1")
        console.status(SweepStatus(done=1, total=2))
        console.close()
    chunks = []
    while True:  # a pty hands its output over in pieces; all of it once the writer closed
        try:
            chunk = os.read(master, 65536)
        except OSError:  # EIO: nothing left, the other side is closed
            break
        if not chunk:
            break
        chunks.append(chunk)
    screen = b"".join(chunks).decode()
    os.close(master)
    status = "sweep: {} of 2 trials done, 0 running, elapsed 0:00"
    assert screen == (CLEAR_LINE + status.format(0) + CLEAR_LINE + "trial 0 epoch 1/1\r\n"
                      + CLEAR_LINE + status.format(0) + CLEAR_LINE + status.format(1)
                      + CLEAR_LINE)
