"""Helpers for engine tests: the fake trial's command, study inspection."""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

import optuna
from optuna.trial import TrialState

from vgg_sweep.engine.storage import open_storage

HERE = Path(__file__).resolve().parent
FAKE_COMMAND = (sys.executable, str(HERE / "fake_trial.py"))
# The whole `vgg-sweep` program, its in-process trials being fake_trial's: FAKE_CLI + ["sweep",
# ...] runs a real sweep process (exit code, stdout, stderr) in a fraction of a second a trial.
FAKE_CLI = (sys.executable, "-c", "import functools, sys; "
            f"sys.path.insert(0, {str(HERE)!r}); import fake_trial, study_helpers; "
            "import vgg_sweep.engine.local as local; "
            "local.run_sweep = functools.partial(local.run_sweep, trial_fn=fake_trial.run_trial,"
            " trial_command=study_helpers.FAKE_COMMAND); "
            "from vgg_sweep.cli import main; sys.exit(main(sys.argv[1:]))")


def load_study(name: str, url: str) -> optuna.Study:
    return optuna.load_study(study_name=name, storage=open_storage(url))


def completed_points(study: optuna.Study) -> Counter:
    """How many COMPLETE trials each planned point (by index) has."""
    return Counter(t.user_attrs["point"] for t in study.get_trials(states=(TrialState.COMPLETE,)))
