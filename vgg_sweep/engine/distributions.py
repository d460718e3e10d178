"""W&B's random search: each distribution drawn as W&B's `sweeps` engine draws it.

W&B samples through inverse CDFs (`sweeps/params.py`); drawing from the same distributions
with numpy gives the same laws: log_uniform_values = exp(uniform(log min, log max)); the
legacy log_uniform takes exponents; inv_log_uniform = exp(-uniform); q_* = round(x / q) * q,
an int when q is an int; categorical with probabilities picks the first value whose
cumulative probability exceeds u; int_uniform includes max. tests/engine/ compares 10k draws
with quantiles computed by W&B's engine.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # spec checks ranges with `support` before any point is drawn
    from vgg_sweep.engine.spec import Param, SweepSpec

# Unbounded distributions are checked on their central 1 - 2e-4 mass: a draw outside the
# field's bounds is possible but rare, and fails that one trial with the reason.
TAIL_Z = 3.719


def _continuous(kind: str, args: dict[str, Any], rng: np.random.Generator) -> float:
    """A draw from the unquantised distribution behind `kind`."""
    if kind == "uniform":
        return rng.uniform(args["min"], args["max"])
    if kind == "log_uniform":
        return math.exp(rng.uniform(args["min"], args["max"]))
    if kind == "log_uniform_values":
        return math.exp(rng.uniform(math.log(args["min"]), math.log(args["max"])))
    if kind == "inv_log_uniform":
        return math.exp(-rng.uniform(args["min"], args["max"]))
    if kind == "inv_log_uniform_values":
        return math.exp(-rng.uniform(-math.log(args["max"]), -math.log(args["min"])))
    if kind == "normal":
        return rng.normal(args["mu"], args["sigma"])
    if kind == "log_normal":
        return math.exp(rng.normal(args["mu"], args["sigma"]))
    if kind == "beta":
        return rng.beta(args["a"], args["b"])
    raise ValueError(f"{kind} is not a continuous distribution")


def quantise(value: float, q: float) -> int | float:
    """W&B's `np.round(x / q) * q` (half to even), as int when q is an int."""
    rounded = float(np.round(value / q) * q)
    return int(rounded) if isinstance(q, int) else rounded


def draw(param: Param, rng: np.random.Generator) -> Any:
    """One value of `param`, drawn as W&B's random search draws it."""
    kind, args = param.kind, param.args
    if kind == "constant":
        return args["value"]
    if kind == "categorical":
        return args["values"][int(rng.integers(len(args["values"])))]
    if kind == "categorical_w_probabilities":
        cdf = np.cumsum(args["probabilities"])
        index = min(int(np.searchsorted(cdf, rng.uniform(), side="right")), len(cdf) - 1)
        return args["values"][index]
    if kind == "int_uniform":
        return int(rng.integers(args["min"], args["max"] + 1))
    if kind.startswith("q_"):
        return quantise(_continuous(kind.removeprefix("q_"), args, rng), args["q"])
    return float(_continuous(kind, args, rng))


def draw_point(spec: SweepSpec, rng: np.random.Generator) -> dict[str, Any]:
    """One random-search point; parameters drawn in sorted order, as W&B does."""
    return {name: draw(spec.params[name], rng) for name in sorted(spec.params)}


def point_rng(seed: int, index: int) -> np.random.Generator:
    """The generator of draw `index`: any worker, on any machine, draws the same point."""
    return np.random.default_rng([seed, index])


def support(param: Param) -> tuple[float, float]:
    """The range a numeric distribution draws from (central mass for unbounded ones)."""
    args, kind = param.args, param.kind
    base = kind.removeprefix("q_")
    if base in ("int_uniform", "uniform", "log_uniform_values", "inv_log_uniform_values"):
        low, high = args["min"], args["max"]
    elif base == "log_uniform":
        low, high = _exp(args["min"]), _exp(args["max"])
    elif base == "inv_log_uniform":
        low, high = _exp(-args["max"]), _exp(-args["min"])
    elif base == "normal":
        low, high = (args["mu"] - TAIL_Z * args["sigma"], args["mu"] + TAIL_Z * args["sigma"])
    elif base == "log_normal":
        low, high = (_exp(args["mu"] - TAIL_Z * args["sigma"]),
                     _exp(args["mu"] + TAIL_Z * args["sigma"]))
    else:  # beta; scipy comes with scikit-learn, and only beta sweeps pay for its import
        from scipy.stats import beta

        tail = 1e-4  # the mass outside +-TAIL_Z sigma of a normal, for the same reason
        low, high = (float(beta.ppf(tail, args["a"], args["b"])),
                     float(beta.ppf(1 - tail, args["a"], args["b"])))
    if "q" in args:
        low, high = _quantise_bound(low, args["q"]), _quantise_bound(high, args["q"])
    return low, high


def _exp(x: float) -> float:
    return math.exp(x) if x < 709.78 else math.inf  # exp(709.78) is the largest float


def _quantise_bound(x: float, q: float) -> float:
    """round(x / q) * q, as the draws quantise; inf or nan when that overflows."""
    steps = x / q
    return round(steps) * q if math.isfinite(steps) else steps
