"""W&B's hyperband early stopping, as an Optuna pruner.

The rule of W&B's `sweeps/hyperband_stopping.py`: a run's history is its logged values of the
metric (non-finite ones dropped; negated when maximising, so lower is better). At each band
b (an iteration count) the threshold is `sorted(values at index b of every run long enough)
[int(len / eta)]`. A running run past band b is stopped when its best value so far is worse
than the threshold of the last band it has passed. `strict: true` (a W&B option the
open-source engine ignores) compares the run's value at that band instead of its best, the
original Hyperband's rule; the golden-data parity covers the default only.

In the local engine, one iteration is one epoch: each epoch reports the metric to Optuna
(`trial.report(value, epoch)`), and the pruner sees every trial's reported values (a crashed
trial that was retried counts once, through its retry, as a resumed W&B run does).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import optuna

from vgg_sweep.engine.spec import Hyperband


def metric_history(values: Sequence, goal: str) -> list[float]:
    """Finite values in logging order, negated when maximising (W&B's convention)."""
    sign = -1.0 if goal == "maximize" else 1.0
    return [sign * float(v) for v in values
            if isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)]


def thresholds(hyperband: Hyperband, histories: Sequence[list[float]]) -> list[float]:
    """Per band: the value a run must beat at that iteration to stay in the top 1/eta."""
    result = []
    for band in hyperband.bands:
        values = sorted(h[band] for h in histories if len(h) > band)
        result.append(values[int((1.0 / hyperband.eta) * len(values))] if values else math.inf)
    return result


def should_stop(hyperband: Hyperband, history: list[float], band_thresholds: list[float],
                ) -> bool:
    """Whether a running run with this (sign-adjusted) history is stopped."""
    passed = [(band, limit) for band, limit in zip(hyperband.bands, band_thresholds,
                                                   strict=True) if band < len(history)]
    if not passed:
        return False
    band, limit = passed[-1]
    value = history[band] if hyperband.strict else min(history)
    return value > limit


def stop_decisions(hyperband: Hyperband, goal: str, runs: Sequence[tuple[list, bool]],
                   ) -> list[bool]:
    """For each (metric values, running) run of a sweep: is it stopped now? W&B's interface."""
    histories = [metric_history(values, goal) for values, _ in runs]
    band_thresholds = thresholds(hyperband, [h for h in histories if h])
    return [running and should_stop(hyperband, history, band_thresholds)
            for history, (_, running) in zip(histories, runs, strict=True)]


class WandbHyperbandPruner(optuna.pruners.BasePruner):
    """Prune a trial when W&B's hyperband would stop the run."""

    def __init__(self, hyperband: Hyperband, goal: str):
        self.hyperband, self.goal = hyperband, goal

    def prune(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> bool:
        trials = study.get_trials(deepcopy=False)
        repeated = {t.user_attrs.get("retry_of") for t in trials}
        histories = [_reported(t, self.goal) for t in trials
                     if t.number != trial.number and t.number not in repeated]
        mine = _reported(trial, self.goal)
        band_thresholds = thresholds(self.hyperband, [h for h in histories + [mine] if h])
        return should_stop(self.hyperband, mine, band_thresholds)


def _reported(trial: optuna.trial.FrozenTrial, goal: str) -> list[float]:
    values = trial.intermediate_values
    return metric_history([values[step] for step in sorted(values)], goal)
