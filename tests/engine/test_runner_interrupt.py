"""A Ctrl-C to the terminal's process group reaches a subprocess trial too; one still starting
(before its handler is installed) dies of SIGINT: interrupted, like the trials that stop at
the end of their batch, not crashed (which would use up its retry)."""

import sys
from pathlib import Path

from vgg_sweep.engine.runner import run_subprocess
from vgg_sweep.outcome import State

# SIGINT at its default first: a test run in a background job inherits it ignored.
DIES_OF_CTRL_C = (sys.executable, "-c", "import os, signal; signal.signal(signal.SIGINT, "
                  "signal.SIG_DFL); os.kill(os.getpid(), signal.SIGINT)")


def run(tmp_path: Path, stopping: bool):
    return run_subprocess(DIES_OF_CTRL_C, {}, tmp_path / "run", runs_dir=tmp_path, run_id="r1",
                          sweep="s", resume=False, on_epoch=lambda *_: False,
                          should_stop=lambda: stopping)


def test_a_trial_killed_by_the_ctrl_c_that_stops_its_worker_is_interrupted(tmp_path):
    outcome = run(tmp_path, stopping=True)
    assert outcome.state == State.KILLED and outcome.reason == "interrupted (exit code -2)"


def test_a_trial_dying_of_sigint_on_its_own_has_crashed(tmp_path):
    outcome = run(tmp_path, stopping=False)
    assert outcome.state == State.CRASHED and outcome.reason.startswith("exit code -2: ")
