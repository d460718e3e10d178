"""W&B's grid: the same points in the same order as its open-source engine.

`sweeps.grid_search_next_runs` sorts parameters by name, turns int_uniform into
`range(min, max + 1)` and q_uniform into `numpy.arange(min, max, q)` (max excluded), takes
`itertools.product` over the non-constant parameters and skips repeated points. Reproducing
that order exactly is what makes a local grid and a W&B grid the same experiment;
tests/engine/golden/ holds the engine's own output to prove it.
"""

from __future__ import annotations

import itertools
import math
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # methods.Grid checks a grid's size with grid_count before listing it
    from vgg_sweep.engine.spec import SweepSpec


def grid_values(kind: str, args: dict[str, Any]) -> list[Any]:
    """The finite values a grid parameter takes, in W&B's order."""
    if kind == "constant":
        return [args["value"]]
    if kind == "categorical":
        return list(args["values"])
    if kind == "int_uniform":
        return list(range(args["min"], args["max"] + 1))
    if kind == "q_uniform":
        return np.arange(args["min"], args["max"], args["q"]).tolist()
    raise ValueError(f"{kind} is not a grid distribution")


def grid_count(kind: str, args: dict[str, Any]) -> int | float:
    """len(grid_values(kind, args)) without listing them; inf when the count overflows."""
    if kind == "constant":
        return 1
    if kind == "categorical":
        return len(args["values"])
    if kind == "int_uniform":
        return max(args["max"] - args["min"] + 1, 0)
    if kind == "q_uniform":  # numpy.arange's length: ceil((stop - start) / step)
        steps = (args["max"] - args["min"]) / args["q"]
        return max(math.ceil(steps), 0) if math.isfinite(steps) else math.inf
    return math.inf  # not a grid kind: spec refuses it on a grid anyway


def grid_points(spec: SweepSpec) -> list[dict[str, Any]]:
    """Every grid point as {field: value}, constants included, in W&B's order."""
    constants = spec.constants
    swept = [n for n in sorted(spec.params) if n not in constants]
    values = [grid_values(spec.params[n].kind, spec.params[n].args) for n in swept]
    points, seen = [], set()
    for combination in itertools.product(*values):
        key = tuple((type(v).__name__, repr(v)) for v in combination)
        if key not in seen:
            seen.add(key)
            points.append({**constants, **dict(zip(swept, combination, strict=True))})
    return points
