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


def load_study(name: str, url: str) -> optuna.Study:
    return optuna.load_study(study_name=name, storage=open_storage(url))


def completed_points(study: optuna.Study) -> Counter:
    """How many COMPLETE trials each planned point (by index) has."""
    return Counter(t.user_attrs["point"] for t in study.get_trials(states=(TrialState.COMPLETE,)))
