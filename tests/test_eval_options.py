"""What a trial evaluates: `val_subset` (a fixed slice of the validation split) and
`eval_every` (validate every K-th epoch and the last) change what is measured, never what is
trained; the test set stays whole; the defaults give the numbers a plain evaluation of the
trained weights gives."""

import pytest
import torch
from contract import assert_contract, run_cli
from torch import nn

from vgg_sweep import svm
from vgg_sweep.config import config_dict, make_config
from vgg_sweep.data import load_dataset, split
from vgg_sweep.record import read_record
from vgg_sweep.train import CHECKPOINT_FILE, Trial, resolve_device, run_trial

TINY = {"dataset": "synthetic", "epochs": 2, "train_subset": 128, "batch_size": 64,
        "plots": False, "count_flops": False, "grad_flow_every": 0, "weight_flow": False,
        "precision": "fp32", "val_split": 0.25}  # synthetic: 256 validation, 256 test images


def _passes(monkeypatch, owner=Trial, name="evaluate") -> list[torch.Tensor]:
    """Patch owner.name, an evaluation `(..., images, labels)` (Trial.evaluate, the SVM's
    _accuracy), to keep the labels of every pass, validation and test."""
    seen, original = [], getattr(owner, name)

    def noted(*args):
        seen.append(args[-1].clone())
        return original(*args)

    monkeypatch.setattr(owner, name, noted)
    return seen


def _plain_evaluation(config, run_dir) -> dict[str, tuple[float, float]]:
    """The checkpointed weights evaluated in one forward pass per set, as the trainer did
    before evaluation was batched on the device: {"val": (loss, acc), "test": (loss, acc)}."""
    data = load_dataset(config.dataset, config.data_dir)
    splits = split(data, config)
    trial = Trial(config, splits, len(data.classes), data.mean, data.std,
                  resolve_device(config))
    trial.model.load_state_dict(torch.load(run_dir / CHECKPOINT_FILE,
                                           weights_only=True)["model"])
    trial.model.eval()
    numbers = {}
    for name, images, labels in (("val", splits.val_x, splits.val_y),
                                 ("test", splits.test_x, splits.test_y)):
        with torch.inference_mode():
            logits = trial.model(trial._prepare(images, None)).float()
        loss = float(nn.functional.cross_entropy(logits, labels, reduction="sum"))
        correct = int((logits.argmax(1) == labels).sum())
        numbers[name] = (loss / len(labels), 100.0 * correct / len(labels))
    return numbers


def test_the_defaults_measure_what_a_plain_evaluation_of_the_weights_measures(tmp_path):
    config = make_config(TINY)
    result = run_trial(config, tmp_path / "run", run_id="run")
    plain = _plain_evaluation(config, tmp_path / "run")
    last = result.history[-1]
    assert (last["val_loss"], last["val_acc"]) == pytest.approx(plain["val"], rel=1e-6)
    assert (result.summary["test_loss"], result.summary["test_acc"]) \
        == pytest.approx(plain["test"], rel=1e-6)
    assert result.summary["val_size"] == 256
    # a slice as large as the split is the whole split: the same numbers to the last bit
    whole = run_trial(make_config({**TINY, "val_subset": 256}), tmp_path / "whole",
                      run_id="whole")
    for key in ("val_loss", "val_acc", "test_loss", "test_acc", "train_loss"):
        assert whole.summary[key] == result.summary[key], key


@pytest.mark.parametrize("val_split", [0.25, 0])
def test_val_subset_validates_the_same_first_images_every_epoch_and_tests_them_all(
        val_split, tmp_path, monkeypatch):
    config = make_config({**TINY, "val_split": val_split})
    whole = run_trial(config, tmp_path / "whole", run_id="whole")
    passes = _passes(monkeypatch)
    sliced = run_trial(make_config({**TINY, "val_split": val_split, "val_subset": 40}),
                       tmp_path / "sliced", run_id="sliced")
    data = load_dataset(config.dataset, config.data_dir)
    first = split(data, config).val_y[:40]
    assert [len(labels) for labels in passes] == [40, 40, 256]  # 2 epochs, then the test
    assert torch.equal(passes[0], first) and torch.equal(passes[1], first)
    assert torch.equal(passes[2], data.test_y)  # with val_split = 0 too: not the 40
    record = read_record(tmp_path / "sliced")
    assert record["summary"]["val_size"] == 40 and record["config"]["val_subset"] == 40
    # what is trained and tested does not change; what is validated does
    for key in ("train_loss", "train_acc", "test_loss", "test_acc"):
        assert sliced.summary[key] == whole.summary[key], key
    plain = _plain_evaluation(config, tmp_path / "sliced")
    assert (sliced.summary["test_loss"], sliced.summary["test_acc"]) \
        == pytest.approx(plain["test"], rel=1e-6)
    assert sliced.summary["val_acc"] != whole.summary["val_acc"]


def test_eval_every_validates_every_kth_epoch_and_the_last(tmp_path, monkeypatch, capsys):
    passes = _passes(monkeypatch)
    result = run_trial(make_config({**TINY, "epochs": 5, "eval_every": 2}), tmp_path / "run",
                       run_id="run")
    validated = [row["epoch"] for row in result.history if "val_acc" in row]
    assert validated == [2, 4, 5] and len(passes) == 3 + 1  # and the test pass
    assert all("val_loss" not in row for row in result.history if row["epoch"] in (1, 3))
    assert [row["epoch"] for row in read_record(tmp_path / "run")["history"]] \
        == [1, 2, 3, 4, 5]
    best = max((row for row in result.history if "val_acc" in row),
               key=lambda row: row["val_acc"])
    assert result.summary["best_val_acc"] == best["val_acc"]
    assert result.summary["best_epoch"] == best["epoch"]
    assert result.summary["val_acc"] == result.history[-1]["val_acc"]
    lines = capsys.readouterr().out.splitlines()
    assert "val acc" not in lines[0] and "val acc" in lines[1]  # epoch 1, epoch 2


def test_an_unvalidated_last_epoch_is_tested_with_its_own_pass(tmp_path, monkeypatch):
    """val_split = 0 reuses the last validation as the test pass only when it ran on the
    final weights over the whole test set: not after a pruned epoch without validation."""
    passes = _passes(monkeypatch)
    config = make_config({**TINY, "val_split": 0, "epochs": 4, "eval_every": 2})
    result = run_trial(config, tmp_path / "run", run_id="run",
                       on_epoch=lambda epoch, row: epoch == 3)
    assert result.state == "pruned" and len(passes) == 2  # epoch 2, then a test pass
    plain = _plain_evaluation(config, tmp_path / "run")  # epoch 3's weights
    assert (result.summary["test_loss"], result.summary["test_acc"]) \
        == pytest.approx(plain["test"], rel=1e-6)
    assert result.summary["test_loss"] != result.history[1]["val_loss"]


def test_an_svm_validates_on_the_slice_and_tests_on_the_whole_test_set(tmp_path,
                                                                       monkeypatch):
    passes = _passes(monkeypatch, svm, "_accuracy")
    config = make_config({"dataset": "synthetic", "model": "svm", "train_subset": 200,
                          "val_split": 0, "val_subset": 50})
    result = run_trial(config, tmp_path / "run", run_id="s")
    assert [len(labels) for labels in passes] == [50, 256]  # the test pass apart
    assert result.summary["val_size"] == 50
    assert "val_subset" in config_dict(config) and "eval_every" not in config_dict(config)


def test_a_resume_may_change_eval_every_but_not_what_is_validated(tmp_path, capsys):
    """History rows validated on other images would not compare; eval_every only says when."""
    run_trial(make_config({**TINY, "epochs": 1}), tmp_path / "run", run_id="run")
    resumed = run_trial(make_config({**TINY, "eval_every": 2}), tmp_path / "run",
                        run_id="run", resume=True)
    assert "training from scratch" not in capsys.readouterr().err
    assert [("val_acc" in row) for row in resumed.history] == [True, True]
    run_trial(make_config({**TINY, "val_subset": 40}), tmp_path / "run", run_id="run",
              resume=True)
    assert "val_subset=0 (now 40); training from scratch" in capsys.readouterr().err


@pytest.mark.parametrize("option", ["--val_subset=-1", "--eval_every=0"])
def test_a_wrong_evaluation_option_is_one_line_and_exit_2(option):
    result = run_cli(["train", option])
    assert_contract(result)
    assert result.code == 2 and option.split("=")[0][2:] in result.err
