"""Write tests/engine/golden/sweeps_golden.json with W&B's own open-source sweep engine.

The local engine claims W&B's grid order, random distributions and hyperband decisions; this
script records what W&B's `sweeps` package (0.2.0, the engine behind `wandb` local
controllers) answers, and tests/engine/ compares ours against it. It needs `sweeps`, which
needs numpy<2, so it runs in a throwaway virtual environment, never the project's:

    python3 -m venv /tmp/swenv && /tmp/swenv/bin/pip install sweeps==0.2.0 'numpy<2'
    /tmp/swenv/bin/python scripts/make_sweeps_golden.py
"""

import json
import math
import random
from pathlib import Path

import numpy as np
import yaml
from sweeps.grid_search import grid_search_next_runs
from sweeps.hyperband_stopping import hyperband_stop_runs
from sweeps.params import HyperParameter

from sweeps import RunState, SweepRun

GOLDEN = Path(__file__).resolve().parents[1] / "tests" / "engine" / "golden"
PROBABILITIES = [0.01, 0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99]
UNIFORM_GRID = (np.arange(20_000) + 0.5) / 20_000  # category frequencies via W&B's ppf

DISTRIBUTIONS = {  # name -> W&B parameter config (kinds in sweeps' own vocabulary)
    "uniform": {"distribution": "uniform", "min": 0.0, "max": 0.5},
    "q_uniform": {"distribution": "q_uniform", "min": 0.0, "max": 1.0, "q": 0.25},
    "log_uniform": {"distribution": "log_uniform", "min": -9.2, "max": -2.3},
    "log_uniform_values": {"distribution": "log_uniform_values", "min": 1e-4, "max": 0.1},
    "q_log_uniform_values": {"distribution": "q_log_uniform_values", "min": 16, "max": 512,
                             "q": 16},
    "inv_log_uniform_values": {"distribution": "inv_log_uniform_values", "min": 0.01,
                               "max": 1.0},
    "normal": {"distribution": "normal", "mu": 0.5, "sigma": 0.1},
    "q_normal": {"distribution": "q_normal", "mu": 10.0, "sigma": 3.0, "q": 2},
    "log_normal": {"distribution": "log_normal", "mu": -4.0, "sigma": 1.0},
    "q_log_normal": {"distribution": "q_log_normal", "mu": 4.0, "sigma": 0.5, "q": 8},
    "beta": {"distribution": "beta", "a": 2.0, "b": 5.0},
    "q_beta": {"distribution": "q_beta", "a": 0.5, "b": 0.5, "q": 0.1},
    "int_uniform": {"distribution": "int_uniform", "min": 1, "max": 6},
    "categorical": {"values": ["SGD", "Adam", "Nadam"]},
    "categorical_w_probabilities": {"values": ["SGD", "Adam", "Nadam"],
                                    "probabilities": [0.2, 0.7, 0.1]},
}
DISCRETE = ("int_uniform", "categorical", "categorical_w_probabilities")

HYPERBAND_CONFIGS = [
    {"type": "hyperband", "min_iter": 1, "eta": 2},
    {"type": "hyperband", "min_iter": 2},
    {"type": "hyperband", "min_iter": 3, "eta": 3},
    {"type": "hyperband", "max_iter": 12, "s": 2},
    {"type": "hyperband", "max_iter": 27, "s": 3, "eta": 3},
    {"type": "hyperband", "max_iter": 5, "s": 2, "eta": 2},
    {"type": "hyperband", "min_iter": 1, "eta": 1.5},
]


def grid_cases() -> list[dict]:
    cases = yaml.safe_load((GOLDEN / "grid_cases.yaml").read_text())
    for case in cases:
        runs = grid_search_next_runs([], case, n=10_000)
        case["points"] = [{k: v["value"] for k, v in run.config.items()}
                          for run in runs if run is not None]
    return cases


def quantile_cases() -> list[dict]:
    cases = []
    for name, config in DISTRIBUTIONS.items():
        param = HyperParameter(name, dict(config))
        if name in DISCRETE:
            # scalar calls: sweeps' vectorised ppf of categorical_w_probabilities is wrong
            # (always the first value); its sampler calls ppf on one u at a time
            values = [np.asarray(param.ppf(u)).item() for u in UNIFORM_GRID]
            frequencies = {str(v): values.count(v) / len(values) for v in sorted(set(values),
                                                                               key=str)}
            cases.append({"name": name, "config": config, "frequencies": frequencies})
        else:
            quantiles = [float(np.asarray(param.ppf(p)).item()) for p in PROBABILITIES]
            cases.append({"name": name, "config": config, "probabilities": PROBABILITIES,
                          "quantiles": quantiles})
    return cases


def random_history(rng: random.Random) -> list[dict]:
    """A run's logged rows: a noisy decreasing loss, sometimes NaN or not logged."""
    level, rows = rng.uniform(0.5, 3.0), []
    for _ in range(rng.randint(0, 14)):
        level *= rng.uniform(0.7, 1.05)
        roll = rng.random()
        if roll < 0.05:
            rows.append({"other": 1.0})
        elif roll < 0.08:
            rows.append({"loss": math.nan})
        else:
            rows.append({"loss": round(level, 4)})
    return rows


def hyperband_cases() -> list[dict]:
    rng, cases = random.Random(4), []
    states = [RunState.running, RunState.running, RunState.finished, RunState.killed,
              RunState.crashed]
    for index in range(60):
        early_terminate = HYPERBAND_CONFIGS[index % len(HYPERBAND_CONFIGS)]
        goal = "minimize" if index % 3 else "maximize"
        runs = [{"name": f"r{i}", "state": rng.choice(states).value,
                 "history": random_history(rng)} for i in range(rng.randint(1, 25))]
        config = {"method": "grid", "metric": {"name": "loss", "goal": goal},
                  "early_terminate": early_terminate,
                  "parameters": {"a": {"values": [1, 2]}}}
        stopped = hyperband_stop_runs(
            [SweepRun(name=r["name"], state=RunState(r["state"]), sampledHistory=r["history"])
             for r in runs], config)  # the alias: pydantic 2 ignores `history=` here
        cases.append({"goal": goal, "early_terminate": early_terminate, "runs": runs,
                      "stopped": sorted(run.name for run in stopped)})
    return cases


def main() -> None:
    golden = {"source": "sweeps==0.2.0", "grid": grid_cases(), "random": quantile_cases(),
              "hyperband": hyperband_cases()}
    path = GOLDEN / "sweeps_golden.json"
    path.write_text(json.dumps(golden, indent=1) + "\n")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
