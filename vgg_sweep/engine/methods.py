"""Sweep methods as objects: each says what it checks in a sweep file, what it plans up front,
which Optuna sampler the study uses, how a trial's point is drawn and how it describes itself.

`METHODS` maps the W&B name (`method:` in the YAML) to its method; `spec.py` accepts exactly
these names. A new method is one class here and one entry in the table.

Every point holds the swept values and this worker's constants: constants come from the
worker's spec (its `--override`s), never from the study.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import optuna

from vgg_sweep import config as trial_config
from vgg_sweep.config import ConfigError
from vgg_sweep.engine.bayes import suggest_point, tpe_sampler
from vgg_sweep.engine.distributions import draw_point, point_rng
from vgg_sweep.engine.grid import grid_count, grid_points, grid_values

if TYPE_CHECKING:
    from vgg_sweep.engine.spec import SweepSpec

MAX_RUNS = 10_000  # grid points, and run_cap (random search draws all of them up front)
Problem = tuple[str, str]  # (key, what is wrong; what to write instead), for SpecError


class Method:
    """A search over a sweep's parameters; the base plans nothing and draws nothing."""

    name = ""

    def problem(self, spec: SweepSpec) -> Problem | None:
        """What this method cannot run in an otherwise valid spec, or None."""
        return None

    def plans(self, spec: SweepSpec) -> bool:
        """Whether every trial is known up front (enqueued once, never asked for)."""
        return False

    def planned(self, spec: SweepSpec, seed: int) -> list[dict[str, Any]]:
        """The points enqueued up front, in order (constants included)."""
        return []

    def sampler(self, seed: int) -> optuna.samplers.BaseSampler:
        """The study's sampler: asked for nothing unless `point` suggests values."""
        return optuna.samplers.RandomSampler(seed=seed)

    def point(self, spec: SweepSpec, trial: optuna.Trial, seed: int) -> dict[str, Any]:
        """The point a claimed trial runs: an enqueued trial (planned, or a retry) carries it."""
        return {**trial.user_attrs["params"], **spec.constants}

    def describe(self, spec: SweepSpec) -> str:
        swept = [p for p in spec.params.values() if p.kind != "constant"]
        return "searching " + (", ".join(f"{p.name} ({p.kind})" for p in swept) or "nothing")


class Grid(Method):
    """W&B's grid (`grid.py`), capped by run_cap; every point enqueued once."""

    name = "grid"

    def problem(self, spec: SweepSpec) -> Problem | None:
        for name, param in spec.params.items():
            if not param.finite:
                return (f"parameters.{name}", f"{param.kind} is not allowed with method: grid; "
                        "use values: [...], int_uniform or q_uniform")
        counts = {name: grid_count(p.kind, p.args) for name, p in spec.params.items()}
        size = math.prod(counts.values())
        if size > MAX_RUNS:
            sizes = ", ".join(f"{name} x{n:g}" for name, n in counts.items() if n > 1)
            return ("parameters", f"a grid of {size:.3g} points ({sizes}) is over the limit of "
                    f"{MAX_RUNS}; use fewer values, or method: random with run_cap")
        if spec.foreign:  # which combinations train is the program's business
            return None
        for index, point in enumerate(grid_points(spec)):
            try:
                trial_config.make_config(point)
            except ConfigError as error:
                return ("parameters", f"grid point {index + 1} "
                        f"({', '.join(f'{k}={v}' for k, v in point.items())}): {error}; "
                        "leave that combination out of the grid")
        return None

    def plans(self, spec: SweepSpec) -> bool:
        return True

    def planned(self, spec: SweepSpec, seed: int) -> list[dict[str, Any]]:
        return grid_points(spec)[:spec.run_cap]

    def describe(self, spec: SweepSpec) -> str:
        swept = [p for p in spec.params.values() if p.kind != "constant"]
        sizes = [f"{p.name} x{len(grid_values(p.kind, p.args))}" for p in swept]
        size = len(grid_points(spec))
        return f"{size} grid point{'s' * (size != 1)} ({', '.join(sizes) or 'constants'})"


class Random(Method):
    """W&B's random draws (`distributions.py`), draw i seeded by (seed, i): run_cap draws are
    enqueued up front; without run_cap each new trial draws its own."""

    name = "random"

    def plans(self, spec: SweepSpec) -> bool:
        return spec.run_cap is not None

    def planned(self, spec: SweepSpec, seed: int) -> list[dict[str, Any]]:
        return [draw_point(spec, point_rng(seed, index)) for index in range(spec.run_cap or 0)]

    def point(self, spec: SweepSpec, trial: optuna.Trial, seed: int) -> dict[str, Any]:
        if "params" in trial.user_attrs:
            return super().point(spec, trial, seed)
        return draw_point(spec, point_rng(seed, trial.number))


class Bayes(Method):
    """Optuna's TPE over the W&B distributions (`bayes.py`); asked for one trial at a time."""

    name = "bayes"

    def problem(self, spec: SweepSpec) -> Problem | None:
        if spec.metric is None:
            return ("metric", "method: bayes needs metric: {name: ..., goal: ...}")
        return None

    def sampler(self, seed: int) -> optuna.samplers.BaseSampler:
        return tpe_sampler(seed)

    def point(self, spec: SweepSpec, trial: optuna.Trial, seed: int) -> dict[str, Any]:
        # Seeded by (seed, trial number), not once per worker: workers that started with the
        # same seed would draw the same points. A retry gets its enqueued values back.
        trial.study.sampler = tpe_sampler((seed * 1_000_003 + trial.number) % 2**32)
        return suggest_point(trial, spec)


METHODS: dict[str, Method] = {method.name: method for method in (Grid(), Random(), Bayes())}
