"""A sweep file's `command` as a W&B agent turns it into a process: argv, files, environment.

The macros (`${env}`, `${interpreter}`, `${program}`, `${args}`, `${args_no_hyphens}`,
`${args_no_boolean_flags}`, `${args_json}`, `${args_json_file}`, `${envvar:NAME}`, ...) are
expanded by wandb's own agent functions (`wandb.sdk.launch.sweeps.utils`), so they mean here
exactly what they mean under `wandb agent`; the parameter file (`WANDB_SWEEP_PARAM_PATH`)
that makes `wandb.config` carry the parameters is written by wandb's own `config_util`.
One difference, on purpose: `${interpreter}` is the Python running vgg-sweep (its
environment has what the sweep needs), where the agent writes `python`, whichever that is.
tests/engine/test_program.py runs wandb's agent and this module side by side.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

DEFAULT_COMMAND = ("${env}", "${interpreter}", "${program}", "${args}")
# wandb flushes a run's transaction log every 15 s (0.31; only when a 32 KiB block filled,
# before): every second, so the engine sees each epoch's metrics while the program trains.
LOG_FLUSH_SECONDS = "1"


def agent_command(command: list | tuple | None, program: str | None, params: dict[str, Any],
                  folder: Path, run_id: str) -> list[str]:
    """The argv of one run: `command` (W&B's default when None) with its macros expanded for
    `params`. `${args_json_file}` is written into `folder`."""
    from wandb.sdk.launch.sweeps import utils

    template = utils.create_sweep_command([str(part) for part in command or DEFAULT_COMMAND])
    values = utils.create_sweep_command_args({"args": _agent_args(params)})
    json_file = folder / f"config-{run_id}.json"
    if "${args_json_file}" in template:
        folder.mkdir(parents=True, exist_ok=True)
        json_file.write_text(values["args_json"][0])
    values.update(interpreter=[sys.executable], program=[program] if program else [],
                  args_json_file=[str(json_file)], env=["/usr/bin/env"])
    argv = []
    for part in template:
        if part.startswith("${") and part.endswith("}"):
            argv += [str(value) for value in values.get(part[2:-1]) or []]
        else:
            argv.append(part)
    return argv


def agent_environment(params: dict[str, Any], folder: Path, run_id: str, sweep_id: str,
                      base: dict[str, str] | None = None) -> dict[str, str]:
    """The environment a W&B agent gives a run: its id, the sweep's, the parameter file that
    `wandb.init` reads into `wandb.config`; W&B offline unless WANDB_MODE says otherwise,
    writing under `folder` unless WANDB_DIR does, its log flushed every LOG_FLUSH_SECONDS."""
    from wandb.sdk.lib import config_util

    param_file = folder / f"config-{run_id}.yaml"
    folder.mkdir(parents=True, exist_ok=True)
    config_util.save_config_file_from_dict(str(param_file), _agent_args(params))
    env = dict(os.environ if base is None else base)
    env.update(WANDB_RUN_ID=run_id, WANDB_SWEEP_ID=sweep_id,
               WANDB_SWEEP_PARAM_PATH=str(param_file))
    env.setdefault("WANDB_MODE", "offline")
    env.setdefault("WANDB_DIR", str(folder))
    env.setdefault("WANDB_X_TRANSACTION_LOG_FLUSH_INTERVAL", LOG_FLUSH_SECONDS)
    return env


def _agent_args(params: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Parameters as the W&B server sends them to an agent: {name: {"value": value}}."""
    return {name: {"value": value} for name, value in params.items()}
