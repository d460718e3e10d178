"""Sweep YAML validation: W&B's schema plus TrialConfig, one-line errors naming the key."""

import pytest

from vgg_sweep.cli import main
from vgg_sweep.engine.spec import load_spec, parse_spec

VALID = """
name: all-kinds
method: random
metric: {name: val_acc, goal: maximize}
run_cap: 20
early_terminate: {type: hyperband, min_iter: 2, eta: 3, strict: true}
command:
  - ${env}
  - ${interpreter}
  - -m
  - vgg_sweep
  - train
  - ${args}
parameters:
  optimizer: {values: [SGD, adam, Nadam], probabilities: [0.2, 0.5, 0.3]}
  activation: {values: [ReLU, swish]}
  dataset: {value: synthetic}
  epochs: {min: 1, max: 4}
  dropout: {min: 0.0, max: 0.5}
  lr: {distribution: log_uniform_values, min: 0.0001, max: 0.1}
  weight_decay: {distribution: log_uniform, min: -9.2, max: -4.6}
  momentum: {distribution: beta, a: 8, b: 2}
  label_smoothing: {distribution: q_beta, a: 1, b: 9, q: 0.05}
  batch_size: {distribution: q_log_uniform_values, min: 32, max: 256, q: 32}
  cutout_size: {distribution: q_uniform, min: 4, max: 16, q: 4}
  val_split: {distribution: normal, mu: 0.2, sigma: 0.02}
  seed: {distribution: q_normal, mu: 100, sigma: 10, q: 1}
  train_subset: {distribution: q_log_normal, mu: 7, sigma: 0.3, q: 16}
  grad_flow_every: {distribution: int_uniform, min: 0, max: 10}
"""


def test_every_distribution_kind_loads_with_w_and_b_defaults(write_sweep):
    spec = load_spec(write_sweep(VALID))
    kinds = {name: p.kind for name, p in spec.params.items()}
    assert kinds["optimizer"] == "categorical_w_probabilities"
    assert kinds["activation"] == "categorical"
    assert kinds["dataset"] == "constant"
    assert kinds["epochs"] == "int_uniform"  # inferred from integer bounds, as W&B does
    assert kinds["dropout"] == "uniform"  # inferred from float bounds
    assert spec.params["momentum"].args == {"a": 8, "b": 2}
    assert spec.params["val_split"].args == {"mu": 0.2, "sigma": 0.02}
    assert spec.name == "all-kinds" and spec.goal == "maximize" and spec.run_cap == 20
    assert spec.hyperband.bands[:4] == (2, 6, 18, 54) and spec.hyperband.strict
    assert spec.warnings == ()


def test_hyperband_bands_from_max_iter_follow_w_and_b():
    spec = parse_spec({"method": "random", "metric": {"name": "val_loss"},
                       "early_terminate": {"type": "hyperband", "max_iter": 27, "s": 3},
                       "parameters": {"lr": {"values": [0.1]}}})
    assert spec.hyperband.bands == (1, 3, 9) and spec.hyperband.eta == 3
    assert spec.goal == "minimize"  # W&B's default goal


def test_name_defaults_to_file_stem_and_overrides_pin_constants(write_sweep):
    path = write_sweep("method: grid\nparameters:\n  lr: {values: [0.1, 0.01]}\n", "vgg6-lr")
    spec = load_spec(path, {"epochs": "2", "lr": "0.5"})
    assert spec.name == "vgg6-lr"
    assert spec.params["epochs"].args == {"value": 2}
    assert spec.params["lr"].kind == "constant"


def test_string_numbers_in_values_warn_with_the_fix(write_sweep):
    spec = load_spec(write_sweep("method: grid\nparameters:\n  lr: {values: [1e-3, 0.01]}\n"))
    assert len(spec.warnings) == 1
    assert "parameters.lr" in spec.warnings[0] and "!!float 1e-3" in spec.warnings[0]


def test_validate_prints_ok_and_the_grid_size(write_sweep, capsys):
    path = write_sweep("""
        method: grid
        parameters:
          lr: {values: [0.1, 0.01, 0.001]}
          optimizer: {values: [SGD, Adam]}
          seed: {min: 1, max: 2}
          epochs: {value: 2}
    """)
    assert main(["validate", str(path)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("OK ") and "12 grid points" in out and "fixed epochs=2" in out


INVALID = [
    ("method: grid\nparamters:\n  lr: {value: 0.1}\n", "paramters"),
    ("parameters:\n  lr: {value: 0.1}\n", "method"),
    ("method: hyperopt\nparameters:\n  lr: {value: 0.1}\n", "method"),
    ("method: grid\nmetric: {name: val_acc, goal: max}\nparameters:\n  lr: {value: 0.1}\n",
     "metric.goal"),
    ("method: grid\nmetric: {goal: maximize}\nparameters:\n  lr: {value: 0.1}\n", "metric"),
    ("method: grid\nmetric: {name: a, mode: max}\nparameters:\n  lr: {value: 0.1}\n",
     "metric.mode"),
    ("method: grid\nparameters: {}\n", "parameters"),
    ("method: grid\nparameters:\n  learning_rate: {value: 0.1}\n",
     "parameters.learning_rate"),
    ("method: grid\nparameters:\n  optimizer: {values: [SGD, Lion]}\n", "parameters.optimizer"),
    ("method: grid\nparameters:\n  activation: {value: Swish2}\n", "parameters.activation"),
    ("method: random\nparameters:\n  lr: {min: 0.1, max: 0.01}\n", "parameters.lr"),
    ("method: random\nparameters:\n  lr: {min: 0, max: 0.1}\n", "parameters.lr"),
    ("method: random\nparameters:\n  lr: {min: 1e-4, max: 0.1}\n", "parameters.lr.min"),
    ("method: random\nparameters:\n  lr: {min: 0.1, max: 1000.0}\n", "parameters.lr"),
    ("method: random\nparameters:\n  lr: {distribution: loguniform, min: 0.1, max: 1.0}\n",
     "parameters.lr.distribution"),
    ("method: random\nparameters:\n  lr: {distribution: uniform, min: 0.1, max: 1.0, q: 1}\n",
     "parameters.lr.q"),
    ("method: grid\nparameters:\n  lr: {min: 0.01, max: 0.1}\n", "parameters.lr"),
    ("method: grid\nparameters:\n  optimizer: {values: [SGD, Adam], probabilities: [0.5, 0.5]}"
     "\n", "parameters.optimizer"),
    ("method: random\nparameters:\n  optimizer: {values: [SGD, Adam], probabilities: [1.0]}\n",
     "parameters.optimizer.probabilities"),
    ("method: random\nparameters:\n  optimizer: {values: [SGD, Adam], probabilities: [0.5, "
     "0.4]}\n", "parameters.optimizer.probabilities"),
    ("method: grid\nparameters:\n  optim:\n    parameters:\n      lr: {value: 0.1}\n",
     "parameters.optim"),
    ("method: grid\nparameters:\n  lr:\n    parameters:\n      x: {value: 0.1}\n",
     "parameters.lr"),
    ("method: random\nparameters:\n  activation: {min: 0.0, max: 1.0}\n",
     "parameters.activation"),
    ("method: random\nparameters:\n  batch_size: {min: 16.0, max: 64.0}\n",
     "parameters.batch_size"),
    ("method: random\nparameters:\n  epochs: {distribution: int_uniform, min: 1.5, max: 4}\n",
     "parameters.epochs"),
    ("method: random\nparameters:\n  lr: {distribution: log_uniform_values, min: 0, max: 0.1}"
     "\n", "parameters.lr.min"),
    ("method: random\nparameters:\n  lr: {distribution: normal, mu: 0.01, sigma: 0.1}\n",
     "parameters.lr"),
    ("method: random\nparameters:\n  lr: {distribution: q_uniform, min: 0.0, max: 1.0, q: 0}\n",
     "parameters.lr.q"),
    ("method: random\nparameters:\n  lr: {values: []}\n", "parameters.lr.values"),
    ("method: random\nparameters:\n  lr: 0.1\n", "parameters.lr"),
    ("method: random\nparameters:\n  lr: {max: 0.1}\n", "parameters.lr"),
    ("method: random\nmetric: {name: val_acc}\nearly_terminate: {type: median}\n"
     "parameters:\n  lr: {value: 0.1}\n", "early_terminate.type"),
    ("method: random\nmetric: {name: val_acc}\nearly_terminate: {type: hyperband, eta: 3}\n"
     "parameters:\n  lr: {value: 0.1}\n", "early_terminate"),
    ("method: random\nmetric: {name: val_acc}\nearly_terminate: {type: hyperband, min_iter: 1,"
     " eta: 1}\nparameters:\n  lr: {value: 0.1}\n", "early_terminate.eta"),
    ("method: random\nmetric: {name: val_acc}\nearly_terminate: {type: hyperband, max_iter: 9}"
     "\nparameters:\n  lr: {value: 0.1}\n", "early_terminate.s"),
    ("method: random\nmetric: {name: val_acc}\nearly_terminate: {type: hyperband, min_iter: 1,"
     " strict: maybe}\nparameters:\n  lr: {value: 0.1}\n", "early_terminate.strict"),
    ("method: random\nmetric: {name: val_acc}\nearly_terminate: {type: hyperband, min_iter: 1,"
     " max_iter_: 3}\nparameters:\n  lr: {value: 0.1}\n", "early_terminate.max_iter_"),
    ("method: random\nearly_terminate: {type: hyperband, min_iter: 1}\n"
     "parameters:\n  lr: {value: 0.1}\n", "early_terminate"),
    ("method: bayes\nparameters:\n  lr: {min: 0.01, max: 0.1}\n", "metric"),
    ("method: random\nrun_cap: 0\nparameters:\n  lr: {value: 0.1}\n", "run_cap"),
    ("method: random\nname: a/b\nparameters:\n  lr: {value: 0.1}\n", "name"),
    ("- method: grid\n", "yaml"),
    ("method: grid\ncommand: [${env}, ${interpreter}, ${args}]\nparameters:\n"
     "  lr: {value: 0.1}\n", "yaml"),
    ("method: grid\ncommand: python train.py\nparameters:\n  lr: {value: 0.1}\n", "command"),
]


@pytest.mark.parametrize("text, key", INVALID, ids=[key for _, key in INVALID])
def test_invalid_sweep_is_one_line_naming_the_key(text, key, write_sweep, capsys):
    path = write_sweep(text)
    code = main(["validate", str(path)])
    err = capsys.readouterr().err
    assert code == 2
    assert len(err.strip().splitlines()) == 1, err
    assert "Traceback" not in err
    assert f"{path}: {key}" in err, err


def test_hint_for_yaml_string_number_says_what_to_write(write_sweep, capsys):
    main(["validate", str(write_sweep("method: random\nparameters:\n  lr: {min: 1e-4, max: "
                                      "0.1}\n"))])
    assert "write 0.0001 or !!float 1e-4" in capsys.readouterr().err


def test_missing_file_and_bad_override_are_one_line(tmp_path, write_sweep, capsys):
    assert main(["validate", str(tmp_path / "nope.yaml")]) == 2
    assert "nope.yaml" in capsys.readouterr().err
    path = write_sweep("method: grid\nparameters:\n  lr: {values: [0.1]}\n")
    assert main(["sweep", str(path), "--override", "epochs=0"]) == 2
    err = capsys.readouterr().err
    assert "--override epochs=0" in err and len(err.strip().splitlines()) == 1
