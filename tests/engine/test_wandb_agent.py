"""The W&B cloud path without a server: wandb's own client code against our YAMLs and trainer.

- `wandb.apis.public.sweeps._validate_config_and_fill_distribution` (what `wandb sweep` runs
  before upload) accepts our YAMLs and infers the distributions we infer.
- `wandb.wandb_agent.Agent._command_run`, the agent's real code path, builds the command line
  from our `command:` block (`create_sweep_command`, `create_sweep_command_args`), writes the
  `{key: {value: v}}` file named by WANDB_SWEEP_PARAM_PATH and starts the trial; the run
  record shows the agent's parameters.
"""

import os
import sys
from pathlib import Path

import pytest
import yaml
from test_spec import VALID
from wandb.apis.public.sweeps import _validate_config_and_fill_distribution
from wandb.sdk.launch.sweeps.utils import create_sweep_command, create_sweep_command_args
from wandb.wandb_agent import Agent

from vgg_sweep.engine.spec import SpecError, load_spec, parse_spec
from vgg_sweep.errors import UserError
from vgg_sweep.record import read_record

REPO = Path(__file__).resolve().parents[2]
COMMAND = ["${env}", "${interpreter}", "-m", "vgg_sweep", "train", "${args}"]
TINY = {"dataset": "synthetic", "epochs": 1, "train_subset": 256, "batch_size": 64,
        "plots": False, "count_flops": False, "grad_flow_every": 0, "weight_flow": False}
AGENT_PARAMS = {**TINY, "lr": 0.01, "activation": "GELU", "autoaugment": True,
                "optimizer": "Nadam"}


def test_wandb_client_accepts_our_yamls_and_infers_the_same_kinds():
    raw = yaml.safe_load(VALID)
    filled = _validate_config_and_fill_distribution(raw)
    ours = parse_spec(raw)
    for name, body in filled["parameters"].items():
        if "distribution" in body:
            assert body["distribution"] == ours.params[name].kind.replace(
                "categorical_w_probabilities", "categorical"), name


def test_repository_sweeps_pass_wandb_and_our_validation():
    files = sorted((REPO / "sweeps").glob("*.yaml"))
    if not files:
        pytest.skip("no sweeps/*.yaml in this checkout")
    problems = []
    for path in files:
        try:
            load_spec(path)
            _validate_config_and_fill_distribution(yaml.safe_load(path.read_text()))
        except (UserError, ValueError) as error:
            problems.append(str(error))
    assert not problems, "\n".join(problems)


def test_wandb_client_and_we_both_reject_ambiguous_bounds():
    raw = {"method": "random", "parameters": {"lr": {"min": 0, "max": 0.1}}}
    with pytest.raises(ValueError, match="ambiguous"):
        _validate_config_and_fill_distribution(raw)
    with pytest.raises(SpecError, match="parameters.lr"):
        parse_spec(raw)


def test_agent_command_line_is_our_train_with_key_value_args():
    command = create_sweep_command(list(COMMAND))
    args = create_sweep_command_args({"args": {"lr": {"value": 0.001},
                                               "autoaugment": {"value": True}}})
    assert command == COMMAND  # macros are the agent's to expand, not the environment's
    assert args["args"] == ["--lr=0.001", "--autoaugment=True"]


@pytest.fixture
def agent_env(tmp_path, monkeypatch):
    """An offline W&B agent's environment, restored afterwards."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SWEEP_ID", "abc123")
    monkeypatch.setenv("WANDB_DIR", str(tmp_path))
    monkeypatch.setenv("WANDB_RUN_ID", "unset")
    monkeypatch.setenv("WANDB_SWEEP_PARAM_PATH", "unset")
    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    return tmp_path


def test_wandb_agent_runs_a_real_trial_with_its_params(agent_env):
    agent = Agent.__new__(Agent)  # the agent's run path, without its server loop
    agent._sweep_command, agent._function, agent._in_jupyter = list(COMMAND), None, False
    agent._forward_signals, agent._run_processes = False, {}
    agent._command_run({"type": "run", "run_id": "run1", "program": "unused.py",
                        "args": {key: {"value": value} for key, value in AGENT_PARAMS.items()}})
    process = agent._run_processes["run1"]._popen
    assert process.args[:5] == ["/usr/bin/env", "python", "-m", "vgg_sweep", "train"]
    assert "--autoaugment=True" in process.args and "--lr=0.01" in process.args
    assert process.wait(timeout=300) == 0
    param_file = Path(os.environ["WANDB_SWEEP_PARAM_PATH"])
    assert yaml.safe_load(param_file.read_text())["lr"] == {"value": 0.01}
    # The record sits where the agent's ids say: runs/<WANDB_SWEEP_ID>/<WANDB_RUN_ID>/.
    record = read_record(agent_env / "runs" / "abc123" / "run1")
    assert record["state"] == "finished"
    assert (record["id"], record["sweep"]) == ("run1", "abc123")
    for key, value in AGENT_PARAMS.items():
        assert record["config"][key] == value, key


def test_params_arrive_through_wandb_config_alone(agent_env):
    """The agent's param file, no command-line args: wandb.config carries them (offline)."""
    import subprocess

    param_file = agent_env / "params.yaml"
    param_file.write_text(yaml.safe_dump({"lr": {"value": 0.02}, "optimizer": {"value": "SGD"},
                                          "batch_norm": {"value": False}}))
    env = {**os.environ, "WANDB_SWEEP_PARAM_PATH": str(param_file), "WANDB_RUN_ID": "run2"}
    args = [f"--{key}={value}" for key, value in TINY.items()]
    done = subprocess.run([sys.executable, "-m", "vgg_sweep", "train", *args, "--run_id=r2"],
                          env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    record = read_record(agent_env / "runs" / "abc123" / "r2")
    assert (record["config"]["lr"], record["config"]["optimizer"]) == (0.02, "SGD")
    assert record["config"]["batch_norm"] is False
