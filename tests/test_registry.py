"""The registries drive the `train` choices, the sweep-YAML checks and the lints; a new entry
is everything a new optimizer (or a data-set variant) needs; reading them costs no torch."""

import json
import subprocess
import sys

import pandas as pd
import pytest
import torch

from analysis.lints import chance_level_runs
from vgg_sweep import registry
from vgg_sweep.cli import main
from vgg_sweep.config import ConfigError, config_dict, make_config, parse_value
from vgg_sweep.engine.spec import SpecError, parse_spec
from vgg_sweep.optim import build_optimizer
from vgg_sweep.registry import DataSetInfo, OptimizerInfo


@pytest.fixture
def registered(monkeypatch):
    """Adamax and a 4-class synthetic set, each registered with one entry, as a new line in
    vgg_sweep/registry.py would (removed again after the test)."""
    monkeypatch.setitem(registry.OPTIMIZERS.entries, "Adamax",
                        OptimizerInfo("Adamax", "torch.optim:Adamax", aliases=("adamaxx",)))
    monkeypatch.setitem(registry.DATASETS.entries, "synthetic4",
                        DataSetInfo("synthetic4", "vgg_sweep.data:load_synthetic",
                                    options={"num_classes": 4}, num_classes=4,
                                    image_shape=(3, 16, 16)))


def help_line(option: str, capsys) -> str:
    assert main(["train", "--help"]) == 0
    return next(line for line in capsys.readouterr().out.splitlines()
                if line.strip().startswith(option + " "))


def test_an_entry_is_a_choice_of_the_cli_the_yaml_and_the_config(registered, capsys):
    assert help_line("--optimizer", capsys).split()[1] == (
        "[SGD|Nesterov|Adam|AdamW|Nadam|Adagrad|RMSprop|Adamax]")
    assert "|synthetic4]" in help_line("--dataset", capsys)
    assert parse_value("optimizer", "ADAMAX") == "Adamax"
    assert parse_value("optimizer", "AdaMaxX") == "Adamax"  # its alias
    spec = parse_spec({"method": "grid", "parameters": {
        "optimizer": {"values": ["adamax", "SGD"]}, "dataset": {"value": "synthetic4"}}})
    assert list(spec.params) == ["optimizer", "dataset"]
    # the entry's facts drive the rules: Adamax uses no momentum, so none is recorded
    assert "momentum" not in config_dict(make_config({"optimizer": "Adamax"}))


def test_an_unregistered_name_is_refused_everywhere(capsys):
    with pytest.raises(ConfigError, match="'Adamax' is not one of SGD, Nesterov"):
        parse_value("optimizer", "Adamax")
    with pytest.raises(SpecError, match="parameters.optimizer"):
        parse_spec({"method": "grid", "parameters": {"optimizer": {"value": "Adamax"}}})
    assert main(["train", "--optimizer=Adamax"]) == 2
    assert "'Adamax' is not one of SGD" in capsys.readouterr().err


def test_the_lints_read_class_counts_from_the_registry(registered):
    frame = pd.DataFrame({"name": ["a", "b", "c"], "state": "finished",
                          "dataset": ["synthetic4", "Synthetic-4", "cifar10"],
                          "val_acc": [30.0, 60.0, 14.0]})
    finding = chance_level_runs(frame, "val_acc")
    assert finding.evidence.to_dict("list") == {"name": ["a", "c"], "val_acc": [30.0, 14.0],
                                                "chance": [25.0, 10.0]}


def test_a_registered_optimizer_and_data_set_train_through_the_cli(registered, tmp_path,
                                                                   capsys):
    assert isinstance(build_optimizer(make_config({"optimizer": "adamax"}),
                                      [torch.zeros(1, requires_grad=True)]), torch.optim.Adamax)
    code = main(["train", "--optimizer=adamax", "--dataset=synthetic4", "--epochs=1",
                 "--train_subset=32", "--batch_size=32", "--plots=false", "--count_flops=false",
                 f"--runs_dir={tmp_path}", "--sweep=s", "--run_id=r", "--wandb_mode=disabled"])
    assert code == 0, capsys.readouterr().err
    record = json.loads((tmp_path / "s" / "r" / "record.json").read_text())
    assert (record["config"]["optimizer"], record["config"]["dataset"]) == ("Adamax",
                                                                           "synthetic4")
    assert record["summary"]["train_size"] == 32 and len(record["history"]) == 1


TORCH_FREE = [
    "import analysis, analysis.report, analysis.lints",
    "import vgg_sweep.engine.commands, vgg_sweep.config, vgg_sweep.registry",
    "from vgg_sweep.cli import main; main(['--help'])",
    "from vgg_sweep.cli import main; main(['report', '--help'])",
    "from vgg_sweep.cli import main; main(['train', '--help'])",
]


@pytest.mark.parametrize("code", TORCH_FREE)
def test_config_registry_analysis_and_help_load_no_torch(code):
    done = subprocess.run([sys.executable, "-c", f"{code}\nimport sys\n"
                           "assert 'torch' not in sys.modules, 'torch was imported'"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
