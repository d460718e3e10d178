"""A sweep file's command, expanded by wandb's own agent and by the engine, side by side:
the same argv for every macro, and `wandb.config` carries the parameters offline."""

import json
import os
import sys
import textwrap
from pathlib import Path

import pytest
from wandb.wandb_agent import Agent

from vgg_sweep.engine.program import agent_command, agent_environment

ECHO = textwrap.dedent("""
    import json, os, sys
    keys = ("WANDB_RUN_ID", "WANDB_SWEEP_ID")
    with open(os.environ["ECHO_TO"], "w") as out:
        json.dump({"argv": sys.argv[1:], "env": {k: os.environ.get(k) for k in keys}}, out)
""")
PARAMS = {"lr": 0.01, "epochs": 3, "augment": False, "bn": True, "act": "GELU",
          "name": "with space"}
STYLES = {
    "default": None,
    "no-hyphens": ["${env}", "${interpreter}", "${program}", "${args_no_hyphens}"],
    "no-boolean-flags": ["${env}", "${interpreter}", "${program}", "${args_no_boolean_flags}"],
    "json": ["${env}", "${interpreter}", "${program}", "${args_json}"],
    "json-file": ["${env}", "${interpreter}", "${program}", "--config", "${args_json_file}"],
    "envvar-and-literals": ["${env}", "${interpreter}", "${program}", "--tag=${envvar:TAG}",
                            "${args_no_equals}", "${unknown}"],
}


def _run_agent(tmp_path: Path, monkeypatch, command, program: Path) -> dict:
    """wandb's agent running one run of `command` (its run path, without its server loop)."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("WANDB_SWEEP_ID", "sw")
    monkeypatch.setenv("WANDB_DIR", str(tmp_path))
    monkeypatch.setenv("ECHO_TO", str(tmp_path / "agent.json"))
    monkeypatch.setenv("TAG", "t1")
    # the agent writes `python`: make that the interpreter running these tests
    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    agent = Agent.__new__(Agent)
    agent._sweep_command = list(command or Agent.DEFAULT_SWEEP_COMMAND)
    agent._function, agent._in_jupyter, agent._forward_signals = None, False, False
    agent._run_processes = {}
    agent._command_run({"type": "run", "run_id": "r1", "program": str(program),
                        "args": {key: {"value": value} for key, value in PARAMS.items()}})
    assert agent._run_processes["r1"].wait() == 0
    return json.loads((tmp_path / "agent.json").read_text())


@pytest.mark.parametrize("style", list(STYLES))
def test_every_macro_expands_as_wandbs_agent_expands_it(style, tmp_path, monkeypatch):
    import subprocess

    program = tmp_path / "echo.py"
    program.write_text(ECHO)
    by_agent = _run_agent(tmp_path, monkeypatch, STYLES[style], program)
    folder = tmp_path / "ours"
    argv = agent_command(STYLES[style], str(program), PARAMS, folder, "r1")
    env = agent_environment(PARAMS, folder, "r1", "sw",
                            base={**os.environ, "ECHO_TO": str(tmp_path / "ours.json")})
    subprocess.run(argv, env=env, check=True)
    ours = json.loads((tmp_path / "ours.json").read_text())
    assert argv[:2] == ["/usr/bin/env", sys.executable]
    if style == "json-file":  # each writes its own file with the same content
        assert json.loads(Path(ours["argv"][-1]).read_text()) == \
            json.loads(Path(tmp_path, by_agent["argv"][-1]).read_text()) == PARAMS
        ours["argv"][-1] = by_agent["argv"][-1] = "FILE"
    assert ours == by_agent


def test_wandb_config_carries_the_parameters_offline(tmp_path):
    import subprocess

    program = tmp_path / "reads_config.py"
    program.write_text(textwrap.dedent("""
        import json, os, wandb
        run = wandb.init(project="p")
        json.dump({"config": dict(run.config), "id": run.id, "mode": run.settings.mode},
                  open(os.environ["ECHO_TO"], "w"))
        run.finish()
    """))
    folder = tmp_path / "run"
    params = {"lr": 0.003, "act": "SiLU", "nested": {"width": 16, "depth": 2}}
    env = agent_environment(params, folder, "r9", "sw",
                            base={"PATH": os.environ["PATH"], "HOME": str(tmp_path),
                                  "ECHO_TO": str(tmp_path / "out.json"), "WANDB_SILENT": "true"})
    subprocess.run(agent_command(["${env}", "${interpreter}", "${program}"], str(program),
                                 params, folder, "r9"), env=env, check=True, cwd=tmp_path)
    seen = json.loads((tmp_path / "out.json").read_text())
    assert seen == {"config": params, "id": "r9", "mode": "offline"}
    assert list(folder.glob("wandb/offline-run-*-r9/run-r9.wandb"))
