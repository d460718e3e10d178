"""Every sweep in sweeps/ runs one real trial on tiny synthetic data, through an override."""

from pathlib import Path

import pytest
import yaml

from vgg_sweep.cli import main
from vgg_sweep.record import read_record
from vgg_sweep.registry import MODELS

SWEEPS = sorted((Path(__file__).resolve().parents[1] / "sweeps").glob("*.yaml"))
TINY = ["dataset=synthetic", "epochs=1", "train_subset=64", "batch_size=32", "device=cpu",
        "plots=false", "count_flops=false"]


def test_every_reference_system_has_a_sweep():
    names = {path.stem for path in SWEEPS}
    assert names >= {"vgg6", "vgg6_grid", "resnet18_cifar10", "resnet18_cosine",
                     "simplecnn_cifar10", "resnet_mnist", "svm_mnist", "hardware", "demo",
                     "smoke"}


@pytest.mark.parametrize("path", SWEEPS, ids=[path.stem for path in SWEEPS])
def test_sweep_runs_one_tiny_trial(path, tmp_path, capsys):
    args = ["sweep", str(path), "--count", "1", "--in-process", "--runs-dir", str(tmp_path)]
    for override in TINY:
        args += ["--override", override]
    assert main(args) == 0, capsys.readouterr().err
    records = [read_record(p.parent) for p in tmp_path.glob("*/*/record.json")]
    assert len(records) == 1 and records[0]["state"] == "finished"
    config = records[0]["config"]
    assert config["dataset"] == "synthetic"
    # epochs applies to the CNNs only: an SVM's record holds only what applied to it
    assert config.get("epochs") == (None if MODELS[config["model"]].family == "svm" else 1)
    parameters = yaml.safe_load(path.read_text())["parameters"]
    model = parameters.get("model", {})
    if "value" in model:  # the YAML's own constants reach the trial
        assert config["model"] == model["value"]
