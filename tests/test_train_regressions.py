"""Regressions from the outside review of `vgg-sweep train`: each test is one reported bug
(or one of its class) and the behaviour that replaced it."""

from __future__ import annotations

import math
import os
import pickle

import numpy as np
import pytest
import torch
from contract import assert_contract, run_cli

from vgg_sweep.config import SEED_MAX, ConfigError, config_dict, make_config
from vgg_sweep.data import load_dataset, split
from vgg_sweep.fake_data import write_cifar10, write_mnist
from vgg_sweep.record import read_record
from vgg_sweep.train import run_trial

TINY = {"dataset": "synthetic", "train_subset": 64, "batch_size": 32, "epochs": 1,
        "plots": False, "count_flops": False, "grad_flow_every": 0, "precision": "fp32"}


def tiny(**overrides):
    return make_config({**TINY, **overrides})


def train(tmp_path, *options, run_id="r"):
    """`vgg-sweep train` on tiny synthetic data into tmp_path/runs."""
    return run_cli(["train", *(f"--{k}={v}" for k, v in TINY.items()), *options,
                    f"--runs_dir={tmp_path / 'runs'}", f"--run_id={run_id}"])


def refused(result, *fragments):
    """Exit 2, one error line holding every fragment."""
    assert_contract(result, allowed=(2,))
    for fragment in fragments:
        assert fragment in result.error_lines[0], result.error_lines


# --- option values and combinations -----------------------------------------------------------

@pytest.mark.parametrize("seed", [SEED_MAX + 1, 2**64 - 1, 10**20])
def test_huge_seed_is_refused_in_one_line(tmp_path, seed):
    refused(train(tmp_path, f"--seed={seed}"), "--seed", "an integer in [0, 4294967295]")
    assert not (tmp_path / "runs").exists()


def test_largest_seed_trains_and_fits_numpy(tmp_path):
    np.random.RandomState(SEED_MAX)  # scikit-learn's random_state takes it
    result = run_trial(tiny(seed=SEED_MAX), tmp_path, run_id="r")
    assert result.state == "finished" and math.isfinite(result.history[0]["train_loss"])


def test_nesterov_without_momentum_is_refused_before_training(tmp_path):
    with pytest.raises(ConfigError) as error:
        make_config({"optimizer": "Nesterov", "momentum": 0})
    assert error.value.key == "momentum"
    refused(train(tmp_path, "--optimizer=nag", "--momentum=0"), "momentum",
            "optimizer=Nesterov")
    assert not (tmp_path / "runs").exists()
    # the rule is about the optimizer: an SVM run ignores both
    assert make_config({"model": "svm", "optimizer": "Nesterov", "momentum": 0}).momentum == 0


def test_onecycle_with_an_optimizer_without_momentum_trains(tmp_path):
    """torch's OneCycleLR cycles momentum by default and refused Adagrad mid-setup."""
    result = run_trial(tiny(optimizer="Adagrad", scheduler="onecycle", lr=0.01, epochs=2),
                       tmp_path, run_id="r")
    assert result.state == "finished"
    assert result.history[0]["lr"] == pytest.approx(0.01 / 25)  # one-cycle's initial lr


def test_cutout_larger_than_the_image_is_refused(tmp_path):
    refused(train(tmp_path, "--use_cutout=true", "--cutout_size=17"), "cutout_size",
            "16-pixel images")
    assert not (tmp_path / "runs").exists()
    assert train(tmp_path, "--use_cutout=true", "--cutout_size=16").code == 0
    assert train(tmp_path, "--cutout_size=1000", run_id="off").code == 0  # no cutout: moot


def test_val_split_of_zero_images_is_refused(tmp_path):
    """It used to fall back to validating on the test set, as val_split=0 does."""
    refused(train(tmp_path, "--val_split=0.0001"), "val_split", "0 images",
            "val_split >= 0.00098")
    assert not (tmp_path / "runs").exists()
    data = load_dataset("synthetic", "unused")
    assert len(split(data, tiny(val_split=1 / 1024)).val_x) == 1  # the suggested minimum


def test_val_split_that_leaves_no_training_image_is_refused(tmp_path):
    write_mnist(tmp_path / "mnist", train=2, test=4)
    refused(train(tmp_path, "--dataset=mnist", f"--data_dir={tmp_path / 'mnist'}",
                  "--val_split=0.9"), "val_split", "leaves none to train on")


@pytest.mark.parametrize("subset", [1, 2])
def test_svm_with_one_class_is_refused(tmp_path, subset):
    """scikit-learn's SVC raised 'The number of classes has to be greater than one'."""
    write_mnist(tmp_path / "mnist", train=8, test=4)
    labels = tmp_path / "mnist" / "train-labels-idx1-ubyte.gz"
    from vgg_sweep.fake_data import write_idx
    write_idx(labels.with_suffix(""), np.full(8, 3), compress=True)  # every image class 3
    result = train(tmp_path, "--model=svm", "--dataset=mnist", f"--train_subset={subset}",
                   f"--data_dir={tmp_path / 'mnist'}", "--val_split=0")
    refused(result, "train_subset", "SVC needs at least 2")
    assert not (tmp_path / "runs").exists()


def test_missing_data_leaves_no_run_folder(tmp_path, monkeypatch):
    import vgg_sweep.data as data

    def offline(name, root, what):
        raise data.UserError(f"{name} not found in {root}")

    monkeypatch.setattr(data, "_download", offline)
    (tmp_path / "runs" / "adhoc").mkdir(parents=True)  # a runs folder that was there stays
    refused(train(tmp_path, "--dataset=mnist", f"--data_dir={tmp_path / 'none'}"),
            "not found")
    assert list((tmp_path / "runs").rglob("*")) == [tmp_path / "runs" / "adhoc"]


def test_threads_beyond_the_cpus_are_capped_with_a_warning(tmp_path):
    usable = len(os.sched_getaffinity(0))
    before = torch.get_num_threads()
    result = train(tmp_path, "--threads=1024")
    assert result.code == 0, result.err
    assert f"vgg-sweep: warning: threads=1024 but this process may use {usable} CPUs" \
        in result.err
    assert read_record(tmp_path / "runs" / "adhoc" / "r")["summary"]["threads"] == usable
    assert torch.get_num_threads() == before  # restored for the next in-process trial


# --- what the record claims --------------------------------------------------------------------

def test_svm_record_holds_only_svm_parameters(tmp_path):
    result = train(tmp_path, "--model=svm", "--train_subset=100", "--lr=0.5",
                   "--optimizer=SGD", "--autoaugment=true", "--kernel=rbf")
    assert result.code == 0, result.err
    config = read_record(tmp_path / "runs" / "adhoc" / "r")["config"]
    assert set(config) == {"dataset", "data_dir", "val_split", "train_subset", "val_subset",
                           "model", "seed", "kernel", "C", "gamma"}  # no degree: rbf


def test_cnn_record_holds_only_what_applies():
    assert "momentum" not in config_dict(make_config({"optimizer": "Adam"}))
    assert "momentum" in config_dict(make_config({"optimizer": "SGD"}))
    assert "momentum" not in config_dict(make_config({"optimizer": "SGD",
                                                      "scheduler": "onecycle"}))
    assert "cutout_size" not in config_dict(make_config({"use_cutout": False}))
    assert {"batch_norm", "dropout"} & set(config_dict(make_config({"model": "resnet20"}))) \
        == set()
    assert not {"kernel", "C", "gamma", "degree"} & set(config_dict(make_config({})))
    assert {"degree", "gamma"} <= set(config_dict(make_config({"model": "svm",
                                                                "kernel": "poly"})))


# --- resume --------------------------------------------------------------------------------------

def test_resume_after_changing_the_optimizer_trains_from_scratch_with_a_warning(tmp_path):
    assert train(tmp_path, "--optimizer=Adam").code == 0
    result = train(tmp_path, "--optimizer=SGD", "--lr=0.01", "--epochs=2", "--resume")
    assert result.code == 0, result.err
    warnings = [line for line in result.err.splitlines() if "warning" in line]
    assert len(warnings) == 1
    assert "was trained with lr=0.001 (now 0.01), momentum=- (now 0.9), optimizer=Adam " \
           "(now SGD); training from scratch" in warnings[0]
    record = read_record(tmp_path / "runs" / "adhoc" / "r")
    assert [row["epoch"] for row in record["history"]] == [1, 2]
    assert record["config"]["optimizer"] == "SGD"


def test_resume_with_fewer_epochs_than_trained_starts_over(tmp_path):
    assert train(tmp_path, "--epochs=2").code == 0
    result = train(tmp_path, "--epochs=1", "--resume")
    assert "has 2 epochs, more than epochs=1; training from scratch" in result.err
    assert [row["epoch"] for row in
            read_record(tmp_path / "runs" / "adhoc" / "r")["history"]] == [1]


@pytest.mark.parametrize("scheduler", ["cosine", "step", "onecycle"])
def test_resume_with_more_epochs_follows_the_schedule_of_the_new_count(tmp_path, scheduler):
    """A cosine run resumed with more epochs used to train at lr 0 (its old T_max)."""
    config = tiny(scheduler=scheduler, lr=0.01, optimizer="SGD", epochs=2)
    run_trial(config, tmp_path / "cut", run_id="cut")
    longer = tiny(scheduler=scheduler, lr=0.01, optimizer="SGD", epochs=4)
    resumed = run_trial(longer, tmp_path / "cut", run_id="cut", resume=True)
    fresh = run_trial(longer, tmp_path / "fresh", run_id="fresh")
    assert [row["epoch"] for row in resumed.history] == [1, 2, 3, 4]
    assert [row["lr"] for row in resumed.history[2:]] == \
        pytest.approx([row["lr"] for row in fresh.history[2:]])
    assert min(row["lr"] for row in resumed.history) > 0
    if scheduler == "cosine":  # 0.01 * (1 + cos(pi * epoch / 4)) / 2 for epochs 2, 3
        assert resumed.history[2]["lr"] == pytest.approx(0.005)
        assert resumed.history[3]["lr"] == pytest.approx(0.01 * (1 + math.cos(0.75 * math.pi))
                                                          / 2)


def test_resume_may_change_precision_and_telemetry(tmp_path, capsys):
    run_trial(tiny(epochs=1), tmp_path, run_id="r")
    resumed = run_trial(tiny(epochs=2, precision="bf16", plots=True, grad_flow_every=1),
                        tmp_path, run_id="r", resume=True)
    assert "warning" not in capsys.readouterr().err
    assert [row["epoch"] for row in resumed.history] == [1, 2]


# --- data formats --------------------------------------------------------------------------------

@pytest.mark.parametrize("protocol", [2, 3, 4, 5])
def test_cifar_batches_pickled_by_python3_are_read(tmp_path, protocol):
    """str keys ('data', 'labels'), as torchvision reads them; every pickle protocol."""
    folder = write_cifar10(tmp_path)
    expected = load_dataset("cifar10", tmp_path)
    for path in folder.glob("*_batch*"):
        with open(path, "rb") as handle:
            batch = pickle.load(handle, encoding="latin1")  # torchvision's way
        path.write_bytes(pickle.dumps(batch, protocol=protocol))
    data = load_dataset("cifar10", tmp_path)
    assert torch.equal(data.train_x, expected.train_x)
    assert torch.equal(data.train_y, expected.train_y)
    assert torch.equal(data.test_x, expected.test_x)
