"""Grid order, random distributions and hyperband decisions match W&B's own engine.

tests/engine/golden/sweeps_golden.json was written by scripts/make_sweeps_golden.py with
W&B's open-source `sweeps` 0.2.0.
"""

import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from vgg_sweep.engine.distributions import draw
from vgg_sweep.engine.grid import grid_points
from vgg_sweep.engine.hyperband import stop_decisions
from vgg_sweep.engine.spec import _hyperband, parse_spec

GOLDEN = json.loads((Path(__file__).parent / "golden" / "sweeps_golden.json").read_text())
DRAWS = 10_000


@pytest.mark.parametrize("case", GOLDEN["grid"], ids=[c["name"] for c in GOLDEN["grid"]])
def test_grid_points_and_order_match_w_and_b(case):
    spec = parse_spec({key: case[key] for key in ("name", "method", "parameters")})
    ours = grid_points(spec)
    assert ours == case["points"]
    types = [[(k, type(v)) for k, v in sorted(p.items())] for p in ours]
    assert types == [[(k, type(v)) for k, v in sorted(p.items())] for p in case["points"]]


def _param(case):
    """The golden distribution on a field whose bounds it fits (validation not under test)."""
    from vgg_sweep.engine.spec import Param, _infer_kind

    config = dict(case["config"])
    kind = config.pop("distribution", None) or _infer_kind("x", config, Path("golden"))
    if kind == "categorical" and "probabilities" in config:
        kind = "categorical_w_probabilities"
    defaults = {"q": 1.0, "mu": 0.0, "sigma": 1.0, "a": 1.0, "b": 1.0}
    needed = {"q_": ["q"], "normal": ["mu", "sigma"], "beta": ["a", "b"]}
    for marker, keys in needed.items():
        if marker in kind:
            for key in keys:
                config.setdefault(key, defaults[key])
    return Param("x", kind, config)


QUANTILE_CASES = [c for c in GOLDEN["random"] if "quantiles" in c]
FREQUENCY_CASES = [c for c in GOLDEN["random"] if "frequencies" in c]


@pytest.mark.parametrize("case", QUANTILE_CASES, ids=[c["name"] for c in QUANTILE_CASES])
def test_random_draws_have_w_and_b_quantiles(case):
    param = _param(case)
    rng = np.random.default_rng(0)
    draws = np.array([draw(param, rng) for _ in range(DRAWS)], dtype=float)
    expected = np.array(case["quantiles"])
    spread = expected[-1] - expected[0]
    q = param.args.get("q", 0)
    for p, want in zip(case["probabilities"], expected, strict=True):
        # the empirical quantile of 10k draws: within ~4 standard errors, or one step of q
        got = np.quantile(draws, p)
        assert abs(got - want) <= max(0.04 * spread, q + 1e-9), (p, got, want)
    if isinstance(q, int) and q:
        assert all(isinstance(draw(param, rng), int) for _ in range(20))


@pytest.mark.parametrize("case", FREQUENCY_CASES, ids=[c["name"] for c in FREQUENCY_CASES])
def test_random_choices_have_w_and_b_probabilities(case):
    param = _param(case)
    rng = np.random.default_rng(1)
    counts = Counter(str(draw(param, rng)) for _ in range(DRAWS))
    assert set(counts) == set(case["frequencies"])
    for value, probability in case["frequencies"].items():
        assert abs(counts[value] / DRAWS - probability) < 0.015, value


def test_hyperband_stop_decisions_match_w_and_b():
    checked = stops = 0
    for case in GOLDEN["hyperband"]:
        hyperband = _hyperband(case["early_terminate"], Path("golden"))
        runs = [([row["loss"] for row in run["history"] if "loss" in row],
                 run["state"] == "running") for run in case["runs"]]
        decisions = stop_decisions(hyperband, case["goal"], runs)
        ours = sorted(run["name"] for run, stop in zip(case["runs"], decisions, strict=True)
                      if stop)
        assert ours == case["stopped"], case["early_terminate"]
        checked += len(runs)
        stops += len(ours)
    assert checked > 500 and stops > 30  # the golden set exercises the rule
