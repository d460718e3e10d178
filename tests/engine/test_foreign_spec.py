"""A sweep file's own program: when the engine calls it foreign, and what is checked then
(W&B's schema only: any parameter name, any metric, nested parameters, --override of any
name), while our trainer's sweeps keep every check. No run is started here."""

from __future__ import annotations

from pathlib import Path

import pytest
from contract import run_cli

from vgg_sweep.engine.spec import (
    SpecError,
    changed_settings,
    is_foreign,
    load_spec,
    parse_spec,
    settings,
)

SWEEPS = sorted((Path(__file__).parents[2] / "sweeps").glob("*.yaml"))
STUDENT = """
    program: train.py
    method: grid
    metric: {name: my_score, goal: maximize}
    parameters:
      hidden: {values: [64, 128]}
      epochs: {value: 3}
      optimizer:
        parameters:
          name: {values: [adam, sgd]}
          lr: {value: 0.01}
"""


@pytest.mark.parametrize(("program", "command", "foreign"), [
    (None, None, False),  # neither: our trainer, as before
    ("train.py", None, True),  # W&B's default command runs the program
    (None, ["${env}", "${interpreter}", "-m", "vgg_sweep", "train", "${args}"], False),
    (None, ["/opt/venv/bin/vgg-sweep", "train", "${args}"], False),
    ("train.py", ["${env}", "python3", "${program}", "${args_json_file}"], True),
    (None, ["python", "my_vgg_sweep_copy.py"], True),  # a word that only contains the name
])
def test_which_sweeps_run_their_own_program(program, command, foreign):
    assert is_foreign(program, command) is foreign


@pytest.mark.parametrize("path", SWEEPS, ids=[path.stem for path in SWEEPS])
def test_our_sweep_files_run_our_trainer(path):
    assert not load_spec(path).foreign


def test_a_foreign_program_takes_any_name_and_metric_and_nests_parameters(write_sweep):
    spec = load_spec(write_sweep(STUDENT))
    assert spec.foreign and spec.program == "train.py" and spec.metric == "my_score"
    assert list(spec.params) == ["hidden", "epochs", "optimizer.name", "optimizer.lr"]
    assert spec.params["optimizer.name"].keys == ("optimizer", "name")
    assert spec.search.describe(spec) == "4 grid points (hidden x2, optimizer.name x2)"
    point = {"hidden": 64, "optimizer.name": "sgd", "epochs": 3, "optimizer.lr": 0.01}
    assert spec.program_params(point) == {"hidden": 64, "epochs": 3,
                                          "optimizer": {"name": "sgd", "lr": 0.01}}


def test_the_same_file_for_our_trainer_is_refused(write_sweep):
    text = STUDENT.replace("program: train.py", "")
    with pytest.raises(SpecError, match="parameters.hidden: not a TrialConfig field"):
        load_spec(write_sweep(text))
    text = text.replace("hidden: {values: [64, 128]}", "lr: {values: [0.1]}")
    with pytest.raises(SpecError, match="nested parameters: reach the trainer as one dict"):
        load_spec(write_sweep(text))


@pytest.mark.parametrize(("parameters", "problem"), [
    ({"lr": {"min": 0.5, "max": 0.1}}, "parameters.lr: min 0.5 is not less than max 0.1"),
    ({"lr": {"distribution": "log_uniform_values", "min": 0.0, "max": 1.0}},
     "parameters.lr.min: log_uniform_values needs min > 0"),
    ({"lr": {"values": []}}, "parameters.lr.values: write a non-empty list"),
    ({"opt": {"parameters": {"lr": {"value": 1}}, "value": 2}},
     "parameters.opt: a nested parameter holds parameters: and nothing else"),
    ({"opt": {"parameters": {}}}, "parameters.opt: write at least one parameter"),
    ({"opt": {"parameters": {"lr": {"mu": 1}}}}, "parameters.opt.lr: no distribution"),
    ({"a.b": {"value": 1}, "a": {"parameters": {"b": {"value": 2}}}},
     "parameters.a.b: named twice"),
])
def test_a_foreign_program_still_gets_w_and_b_schema_checks(parameters, problem):
    raw = {"program": "train.py", "method": "random", "parameters": parameters}
    with pytest.raises(SpecError, match=problem.replace(".", r"\.").replace("(", r"\(")):
        parse_spec(raw)


def test_overrides_pin_any_name_as_yaml_reads_the_value(write_sweep):
    path = write_sweep(STUDENT)
    spec = load_spec(path, {"epochs": "5", "optimizer.name": "rmsprop", "new": "1e-3",
                            "flag": "true"})
    assert spec.constants == {"epochs": 5, "optimizer.name": "rmsprop", "optimizer.lr": 0.01,
                              "new": "1e-3", "flag": True}  # YAML 1.1 reads 1e-3 as text
    assert spec.program_params(spec.constants)["optimizer"] == {"name": "rmsprop", "lr": 0.01}
    saved = settings(load_spec(path))
    assert saved == {"epochs": 3, "optimizer.lr": 0.01}
    assert changed_settings(saved, spec) == ["epochs=3 (now 5)", "optimizer.name=None "
                                             "(now rmsprop)", "new=None (now 1e-3)",
                                             "flag=None (now True)"]


def test_in_process_is_refused_and_preflight_skipped_for_a_foreign_program(write_sweep,
                                                                            tmp_path):
    path = write_sweep(STUDENT)
    result = run_cli(["sweep", path, "--in-process", "--runs-dir", tmp_path / "runs"])
    assert result.code == 2 and result.error_lines == [
        f"vgg-sweep: error: --in-process runs our trainer only, and {path} runs its own "
        "program (program:/command:); drop --in-process"]
    result = run_cli(["preflight", path])
    assert result.code == 0 and "preflight probes our trainer only" in result.err
    result = run_cli(["validate", path])
    assert result.code == 0 and result.out.startswith(
        f"OK {path}: sweep 'sweep': runs train.py; method=grid; 4 grid points")
