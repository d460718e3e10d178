"""Where a trial's time goes (the summary's `seconds`), and no work done twice: with
val_split = 0 the validation set is the test set, evaluated once, with the same numbers."""

import subprocess
import sys

import pytest

from vgg_sweep import phases, svm
from vgg_sweep.config import make_config
from vgg_sweep.record import read_record
from vgg_sweep.train import Trial, run_trial

TINY = {"dataset": "synthetic", "epochs": 2, "train_subset": 128, "batch_size": 64,
        "plots": False, "count_flops": False, "grad_flow_every": 0, "weight_flow": False,
        "precision": "fp32"}
CNN_PHASES = {"tracking", "data", "model", "flops", "train", "validation", "checkpoint",
              "test", "telemetry"}


def test_every_record_says_where_the_time_went(tmp_path):
    """Through the program a W&B agent runs: the start-up (interpreter, imports) too."""
    args = [f"--{key}={value}" for key, value in TINY.items()]
    subprocess.run([sys.executable, "-m", "vgg_sweep", "train", *args, "--run_id=r1",
                    f"--runs_dir={tmp_path}", "--wandb_mode=disabled"], check=True,
                   capture_output=True)
    record = read_record(tmp_path / "adhoc" / "r1")
    seconds = record["summary"]["seconds"]
    assert set(seconds) == CNN_PHASES | {"startup"}
    assert all(value >= 0 for value in seconds.values())
    assert seconds["startup"] > 0.1  # an interpreter that imports torch
    inside = sum(value for name, value in seconds.items() if name != "startup")
    assert inside <= record["runtime"] + 0.05  # the phases lie within the trial
    assert seconds["train"] > 0 and seconds["validation"] > 0
    # a sweep adds them up over its runs; a folder without a record is not counted
    (tmp_path / "adhoc" / "empty").mkdir()
    totals, runs = phases.add_up([tmp_path / "adhoc" / "r1"] * 2 + [tmp_path / "adhoc" / "empty"])
    assert runs == 2 and totals == pytest.approx({k: 2 * v for k, v in seconds.items()})
    outside = sum(v for k, v in seconds.items() if k not in ("train", "validation", "test"))
    line = phases.breakdown(totals, runs)
    assert line.startswith("time in 2 run(s): ") and line.endswith(f"{outside:.2f} s per run")


def _count_passes(monkeypatch, owner, name: str) -> list:
    """Patch owner.name, an evaluation `(..., images, labels)`, to note each call's images."""
    calls = []
    original = getattr(owner, name)

    def counted(*args):
        calls.append(len(args[-2]))
        return original(*args)

    monkeypatch.setattr(owner, name, counted)
    return calls


@pytest.mark.parametrize(("val_split", "passes"), [(0, 2), (0.25, 3)])
def test_the_test_set_is_evaluated_once_when_it_is_the_validation_set(
        val_split, passes, tmp_path, monkeypatch):
    calls = _count_passes(monkeypatch, Trial, "evaluate")
    config = make_config({**TINY, "val_split": val_split})
    result = run_trial(config, tmp_path / "run", run_id="run")
    assert len(calls) == passes  # one validation pass per epoch, the test pass only if apart
    if val_split == 0:
        assert result.summary["test_acc"] == result.history[-1]["val_acc"]
        assert result.summary["test_loss"] == result.history[-1]["val_loss"]


def test_reusing_the_last_validation_changes_no_number(tmp_path, monkeypatch):
    config = make_config({**TINY, "val_split": 0})
    reused = run_trial(config, tmp_path / "a", run_id="a").summary
    monkeypatch.setattr(Trial, "test_pass", lambda self: self.evaluate(self.data["test_x"],
                                                                       self.data["test_y"]))
    apart = run_trial(config, tmp_path / "b", run_id="b").summary
    for key in ("test_acc", "test_loss", "val_acc", "val_loss", "train_loss"):
        assert reused[key] == apart[key], key


def test_an_svm_predicts_the_test_set_once_when_it_is_the_validation_set(tmp_path,
                                                                         monkeypatch):
    predicted = _count_passes(monkeypatch, svm, "_accuracy")
    for val_split, passes in ((0, 1), (0.1, 2)):
        predicted.clear()
        config = make_config({"dataset": "synthetic", "model": "svm", "train_subset": 200,
                              "val_split": val_split})
        result = run_trial(config, tmp_path / str(val_split), run_id="s")
        assert len(predicted) == passes
        assert {"data", "train", "validation", "tracking"} <= set(result.summary["seconds"])


def test_the_phase_timer_sums_each_phase(monkeypatch):
    ticks = iter([0.0, 1.5, 10.0, 10.25])
    monkeypatch.setattr(phases.time, "perf_counter", lambda: next(ticks))
    timer = phases.Phases(startup=2.0)
    with timer.timed("data"):
        pass
    with timer.timed("data"):
        pass
    assert timer.summary() == {"startup": 2.0, "data": 1.75}
