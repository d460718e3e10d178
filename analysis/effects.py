"""Effects: what changing one parameter does to the metric, the other parameters held fixed.

Group means confound parameters that a sampler drew together (R4's three Adam runs also had
ReLU or Sigmoid). Here the metric is modelled as the sum of one effect per parameter value:
ordinary least squares on the one-hot swept parameters (continuous ones binned by
`as_categories`). The difference between two values of one parameter is then estimated with
every other parameter held fixed, with a t-interval whose level holds for all the
comparisons of a table together (Bonferroni over every pair of values of every parameter),
and the probability that a run with one value beats an otherwise identical run with the
other (Bouthillier et al. 2021, "Accounting for variance in machine learning benchmarks"),
from the model's residual spread. A difference the runs cannot tell apart from another
parameter's (no runs vary one without the other) is not estimable and says so.

tests/analysis/test_effects.py checks the numbers against statsmodels' OLS on R4's export,
and the intervals' coverage on sweeps with planted effects.
"""

from __future__ import annotations

from itertools import combinations

import numpy as np
import pandas as pd

from analysis.lints import MIN_GROUP_RUNS
from analysis.runs import as_categories, metric_bounds

LEVEL = 0.95
EFFECT_COLUMNS = ("parameter", "value", "against", "effect", "ci_low", "ci_high",
                  "p_improve", "runs", "against_runs", "status")
MEASURED, TOO_FEW, NOT_ESTIMABLE = "measured", "too few runs", "not separable"


def _natural_order(values) -> list[str]:
    """Category labels in numeric order when they are numbers, else alphabetical."""
    def key(label: str):
        try:
            return (0, float(label), "")
        except ValueError:
            return (1, 0.0, label)
    return sorted(values, key=key)


def pairwise_effects(frame: pd.DataFrame, params: list[str], metric: str, goal: str,
                     level: float = LEVEL) -> pd.DataFrame:
    """Every pair of values of every parameter: `effect` = metric with `value` minus metric
    with `against`, the rest held fixed, its `level` interval (family-wise over the pairs
    measured), `p_improve` (the probability that a run with `value` is better, by the goal,
    than an otherwise identical run with `against`) and the runs behind each side.

    `status` says whether the pair was measured; numbers are NaN for a pair with fewer than
    MIN_GROUP_RUNS runs on a side ("too few runs"), for one the design cannot separate from
    other parameters ("not separable"), and intervals are NaN when no residual degrees of
    freedom are left to measure the noise."""
    from scipy.stats import norm, t

    rows = frame[np.isfinite(frame[metric].astype("float64"))]
    coded = {param: as_categories(rows[param]) for param in params}
    levels = {param: _natural_order(coded[param].unique()) for param in params
              if coded[param].nunique() > 1}
    columns, position = [np.ones(len(rows))], {}
    for param, values in levels.items():
        for value in values[1:]:  # the first value is the model's baseline
            position[param, value] = len(columns)
            columns.append((coded[param] == value).to_numpy(dtype="float64"))
    design = np.column_stack(columns)
    inverse = np.linalg.pinv(design)
    row_space = inverse @ design  # c is estimable iff c lies in the row space of the design
    pairs = []
    for param, values in levels.items():
        runs = coded[param].value_counts()
        for value, against in combinations(values, 2):
            contrast = np.zeros(design.shape[1])
            for label, sign in ((value, 1.0), (against, -1.0)):
                if (param, label) in position:
                    contrast[position[param, label]] += sign
            status = (TOO_FEW if min(runs[value], runs[against]) < MIN_GROUP_RUNS
                      else MEASURED if np.allclose(contrast @ row_space, contrast, atol=1e-8)
                      else NOT_ESTIMABLE)
            pairs.append((param, value, against, runs[value], runs[against], status, contrast))
    if not pairs:
        return pd.DataFrame(columns=EFFECT_COLUMNS)

    y = rows[metric].to_numpy(dtype="float64")
    beta = inverse @ y
    dof = len(y) - np.linalg.matrix_rank(design)
    residual = y - design @ beta
    sigma = float(np.sqrt(residual @ residual / dof)) if dof > 0 else np.nan
    measured = sum(pair[5] == MEASURED for pair in pairs)
    critical = t.ppf(1 - (1 - level) / (2 * max(measured, 1)), dof) if dof > 0 else np.nan
    bottom, top = metric_bounds(metric, rows[metric])
    span = top - bottom  # no difference of two values lies outside +-span
    better = 1.0 if goal == "max" else -1.0
    table = []
    for param, value, against, runs, against_runs, status, contrast in pairs:
        effect = low = high = improve = np.nan
        if status == MEASURED:
            effect = float(contrast @ beta)
            error = sigma * float(np.sqrt(contrast @ inverse @ inverse.T @ contrast))
            low = max(effect - critical * error, -span)
            high = min(effect + critical * error, span)
            if sigma > 0:
                improve = float(norm.cdf(better * effect / (sigma * np.sqrt(2))))
        table.append((param, value, against, effect, low, high, improve, int(runs),
                      int(against_runs), status))
    return pd.DataFrame(table, columns=EFFECT_COLUMNS)
