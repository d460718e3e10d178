"""Real (tiny) trials: records, reproducibility, resume, divergence, precision."""

import json

import pytest

from vgg_sweep.config import make_config
from vgg_sweep.outcome import Outcome
from vgg_sweep.record import read_record
from vgg_sweep.train import Trial, run_trial

TINY = {"dataset": "synthetic", "model": "vgg6", "train_subset": 256, "batch_size": 64,
        "epochs": 2, "val_split": 0.1}


def tiny(**overrides):
    return make_config({**TINY, **overrides})


def test_record_has_the_wandb_run_shape(tmp_path):
    result = run_trial(tiny(), tmp_path / "r", run_id="r1", sweep="s")
    record = read_record(tmp_path / "r")
    assert set(record) >= {"id", "name", "sweep", "state", "created", "runtime", "config",
                           "summary", "history"}
    assert record["state"] == "finished" == result.state
    assert record["id"] == "r1" and record["sweep"] == "s"
    assert [row["epoch"] for row in record["history"]] == [1, 2]
    for key in ("train_loss", "train_acc", "val_loss", "val_acc", "lr", "epoch_time_sec",
                "images_per_sec"):
        assert key in record["history"][0]
    summary = record["summary"]
    for key in ("test_loss", "test_acc", "best_val_acc", "best_epoch", "params"):
        assert key in summary
    assert summary["best_val_acc"] == max(row["val_acc"] for row in record["history"])
    assert summary["train_time_sec"] == sum(row["epoch_time_sec"] for row in record["history"])
    assert 0 <= summary["test_acc"] <= 100
    history_csv = (tmp_path / "r" / "history.csv").read_text().splitlines()
    assert history_csv[0].startswith("epoch,train_loss") and len(history_csv) == 3
    assert record["config"]["model"] == "vgg6"


def test_learns_on_synthetic(tmp_path):
    result = run_trial(tiny(epochs=3, train_subset=1024), tmp_path, run_id="x")
    assert result.summary["test_acc"] > 60  # 10 classes: chance is 10 %


def test_same_seed_same_numbers(tmp_path):
    config = tiny(precision="fp32", autoaugment=True, use_cutout=True, epochs=1)
    a = run_trial(config, tmp_path / "a", run_id="a")
    b = run_trial(config, tmp_path / "b", run_id="b")
    assert a.history[0]["train_loss"] == b.history[0]["train_loss"]
    assert a.summary["test_acc"] == b.summary["test_acc"]
    c = run_trial(tiny(precision="fp32", autoaugment=True, use_cutout=True, epochs=1, seed=7),
                  tmp_path / "c", run_id="c")
    assert c.history[0]["train_loss"] != a.history[0]["train_loss"]


def test_resume_continues_an_interrupted_run(tmp_path, monkeypatch):
    config = tiny(precision="fp32", epochs=3)
    full = run_trial(config, tmp_path / "full", run_id="full")

    calls = {"n": 0}
    original = Trial.train_epoch

    def dies_in_third_epoch(self, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt  # the process dies mid-epoch
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Trial, "train_epoch", dies_in_third_epoch)
    with pytest.raises(KeyboardInterrupt):
        run_trial(config, tmp_path / "cut", run_id="cut")
    assert read_record(tmp_path / "cut")["state"] == "running"
    assert len(read_record(tmp_path / "cut")["history"]) == 2
    monkeypatch.setattr(Trial, "train_epoch", original)

    resumed = run_trial(config, tmp_path / "cut", run_id="cut", resume=True)
    assert resumed.state == "finished"
    assert [r["epoch"] for r in resumed.history] == [1, 2, 3]
    assert resumed.history[2]["train_loss"] == pytest.approx(full.history[2]["train_loss"],
                                                             rel=1e-5)
    assert resumed.summary["test_acc"] == pytest.approx(full.summary["test_acc"], abs=1e-6)


def test_nan_ends_the_trial_as_failed(tmp_path):
    result = run_trial(tiny(lr=10.0, optimizer="SGD", batch_norm=False, precision="fp32",
                            epochs=3), tmp_path, run_id="nan")
    assert isinstance(result, Outcome)
    assert result.state == "failed"
    assert "diverged" in result.reason and "lr=10" in result.reason
    record = read_record(tmp_path)
    assert record["state"] == "failed" and "diverged" in record["summary"]["failure_reason"]


def test_missing_cuda_fails_the_trial(tmp_path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    result = run_trial(tiny(device="cuda"), tmp_path, run_id="gpu")
    assert result.state == "failed" and "no CUDA GPU" in result.reason


def test_on_epoch_true_prunes_after_that_epoch_and_tests_it(tmp_path):
    seen = []
    result = run_trial(tiny(epochs=3), tmp_path, run_id="stop",
                       on_epoch=lambda epoch, row: seen.append(epoch) or epoch == 1)
    assert seen == [1] and result.state == "pruned"
    record = json.loads((tmp_path / "record.json").read_text())
    assert record["state"] == "pruned" and [row["epoch"] for row in record["history"]] == [1]
    assert record["summary"]["test_acc"] == result.summary["test_acc"]
    assert "stopped_early" not in record["summary"]  # the state says it


@pytest.mark.slow
def test_bf16_and_fp32_reach_comparable_accuracy(tmp_path):
    """A small real task: synthetic images, same seed, both precisions."""
    accuracy = {}
    for precision in ("fp32", "bf16"):
        result = run_trial(tiny(precision=precision, epochs=3, train_subset=1024),
                           tmp_path / precision, run_id=precision)
        assert result.summary["precision"] == precision
        accuracy[precision] = result.summary["test_acc"]
    assert accuracy["fp32"] > 60 and accuracy["bf16"] > 60
    assert abs(accuracy["fp32"] - accuracy["bf16"]) < 8
