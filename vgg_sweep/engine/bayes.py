"""Bayesian search: W&B distributions mapped onto Optuna's, searched by TPE.

Exact where Optuna can express the law's support: categorical (probabilities are dropped:
TPE sets its own), int_uniform, uniform, log_uniform_values and the legacy log_uniform
(log scale), q_uniform (a stepped range from round(min/q)*q to round(max/q)*q). Approximate
elsewhere: inverse-log and q-log kinds search the log range and round the value; normal,
log_normal and beta (and their q_ forms) search their central range (see `distributions.support`)
uniformly or on a log scale and round. TPE only needs the space; W&B's own bayes is a
Gaussian process, so no parity with it is claimed.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import optuna
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)

from vgg_sweep.engine.distributions import quantise, support

if TYPE_CHECKING:
    from vgg_sweep.engine.spec import Param, SweepSpec

LOG_KINDS = ("log_uniform", "log_uniform_values", "inv_log_uniform", "inv_log_uniform_values",
             "log_normal")


def optuna_distribution(param: Param) -> BaseDistribution:
    """The Optuna search distribution standing in for a W&B one."""
    kind, args = param.kind, param.args
    if kind in ("categorical", "categorical_w_probabilities"):
        return CategoricalDistribution(args["values"])
    if kind == "int_uniform":
        return IntDistribution(args["min"], args["max"])
    low, high = support(param)
    if kind == "q_uniform":
        if isinstance(args["q"], int):
            return IntDistribution(int(low), int(high), step=args["q"])
        return FloatDistribution(low, high, step=args["q"])
    base = kind.removeprefix("q_")
    if base in LOG_KINDS:
        return FloatDistribution(max(low, math.ulp(0.0)), high, log=True)
    return FloatDistribution(low, high)


def suggest_point(trial: optuna.Trial, spec: SweepSpec) -> dict[str, Any]:
    """Ask TPE for one point; constants pass through, approximated q_ kinds are rounded."""
    point = {}
    for name in sorted(spec.params):
        param = spec.params[name]
        if param.kind == "constant":
            point[name] = param.args["value"]
            continue
        value = _suggest(trial, name, optuna_distribution(param))
        if "q" in param.args and param.kind != "q_uniform":
            value = quantise(value, param.args["q"])
        point[name] = value
    return point


def _suggest(trial: optuna.Trial, name: str, distribution: BaseDistribution) -> Any:
    if isinstance(distribution, CategoricalDistribution):
        return trial.suggest_categorical(name, distribution.choices)
    if isinstance(distribution, IntDistribution):
        return trial.suggest_int(name, distribution.low, distribution.high,
                                 step=distribution.step)
    return trial.suggest_float(name, distribution.low, distribution.high,
                               step=distribution.step, log=distribution.log)


def tpe_sampler(seed: int) -> optuna.samplers.TPESampler:
    """constant_liar: running trials count as bad guesses, so parallel workers spread out."""
    return optuna.samplers.TPESampler(seed=seed, constant_liar=True)
