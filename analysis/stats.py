"""Group statistics of a sweep: what each hyperparameter value did to the metric.

For every swept parameter (or the groups asked for with `--by`; continuous parameters in
bins, `analysis.runs.binned`): runs, mean, std, best and a 95 % interval of the mean
(`mean_interval`); the best run; and the expected best metric after n trials
(Dodge et al. 2019), which says whether the sweep ran long enough to trust its best.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.runs import RunTable, as_categories, as_numbers, binned, claim, metric_bounds

STAT_COLUMNS = ("runs", "mean", "std", "best", "ci_low", "ci_high", "excluded")
CONFIDENCE = 0.95
MIN_RUNS = 3  # a group needs this many runs for an interval
TOO_FEW = "too few runs"


def swept_params(frame: pd.DataFrame, config: list[str]) -> list[str]:
    """Config columns that take more than one value (missing counts as a value)."""
    return [column for column in config if frame[column].nunique(dropna=False) > 1]


def mean_interval(mean: pd.Series, std: pd.Series, runs: pd.Series,
                  bounds: tuple[float, float] = (-np.inf, np.inf), level: float = CONFIDENCE,
                  ) -> tuple[pd.Series, pd.Series]:
    """The interval of a group's mean, the one place the report's intervals come from: a
    two-sided t-interval clipped to the metric's range `bounds` (an accuracy's [0, 100]:
    the t-interval of a few spread values runs past it, the true mean cannot); NaN for
    groups of fewer than MIN_RUNS runs, shown as TOO_FEW (two values say nothing of the
    spread)."""
    from scipy.stats import t

    dof = (runs - 1).where(runs >= MIN_RUNS)
    half = t.ppf(0.5 + level / 2, dof) * std / np.sqrt(runs)
    return (mean - half).clip(lower=bounds[0]), (mean + half).clip(upper=bounds[1])


def interval_text(low: float, high: float) -> str:
    """`[83.1, 86.2]`, or TOO_FEW where there is no interval."""
    if not (np.isfinite(low) and np.isfinite(high)):
        return TOO_FEW
    return f"[{low:.4g}, {high:.4g}]"


def group_stats(frame: pd.DataFrame, by: list[str], metric: str, goal: str,
                excluded: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per value (combination) of `by`: runs, mean, std, best, ci_low, ci_high of the
    metric, and how many runs of that value were left out (crashed, failed...).

    The first len(by) columns hold the values, named after the parameters (a parameter named
    like a statistic, `runs` say, is `param:runs`), then STAT_COLUMNS."""
    values = frame[metric].astype("float64")
    grouped = values.groupby(_keys(frame, by), dropna=False, sort=True, observed=True)
    table = grouped.agg(runs="count", mean="mean", std="std",
                        best="max" if goal == "max" else "min")
    table["ci_low"], table["ci_high"] = mean_interval(table["mean"], table["std"], table["runs"],
                                                      metric_bounds(metric, values))
    if excluded is not None and len(excluded):
        left_out = excluded.groupby(_keys(excluded, by), dropna=False, observed=True).size()
        table["excluded"] = left_out.reindex(table.index, fill_value=0).astype(int)
    else:
        table["excluded"] = 0
    taken = set(STAT_COLUMNS)
    keys = table.index.to_frame(index=False).set_axis(
        [claim(name, taken, "param:") for name in by], axis=1)
    return pd.concat([keys, table.reset_index(drop=True)], axis=1)


def _keys(frame: pd.DataFrame, by: list[str]) -> list[pd.Series]:
    """The grouping columns, continuous ones binned, named by position (parameter names may
    repeat a statistic's)."""
    return [binned(frame[column]).rename(position) for position, column in enumerate(by)]


def one_way_stats(frame: pd.DataFrame, params: list[str], metric: str, goal: str,
                  excluded: pd.DataFrame | None = None) -> pd.DataFrame:
    """group_stats of each parameter alone, stacked in long form (parameter, value, ...)."""
    tables = []
    for param in params:
        table = group_stats(frame, [param], metric, goal, excluded)
        table = table.set_axis(["value", *table.columns[1:]], axis=1)
        tables.append(table.astype({"value": object}).assign(parameter=param))
    if not tables:
        return pd.DataFrame(columns=["parameter", "value", *STAT_COLUMNS])
    stacked = pd.concat(tables, ignore_index=True)
    return stacked[["parameter", "value", *STAT_COLUMNS]]


def top_decile_shares(frame: pd.DataFrame, params: list[str], metric: str, goal: str,
                      ) -> pd.DataFrame:
    """The parallel-coordinates summary: for the best 10 % of runs (at least one), the share
    of each parameter value against its share among all runs. A lift well above 1 is a value
    the good runs favour; the top decile of a bayes sweep is also where the sampler looked."""
    rows = frame[frame[metric].notna()]
    if rows.empty or not params:
        return pd.DataFrame(columns=["parameter", "value", "top_share", "all_share", "lift"])
    count = max(1, int(np.ceil(len(rows) / 10)))
    order = rows[metric].astype("float64").sort_values(ascending=goal == "min", kind="stable")
    top = rows.loc[order.index[:count]]
    tables = []
    for param in params:
        every = as_categories(rows[param])
        shares = pd.DataFrame({
            "top_share": every.loc[top.index].value_counts(normalize=True),
            "all_share": every.value_counts(normalize=True)}).fillna(0.0)
        tables.append(shares.rename_axis("value").reset_index().assign(parameter=param))
    table = pd.concat(tables, ignore_index=True)
    table["lift"] = table["top_share"] / table["all_share"]
    return table[["parameter", "value", "top_share", "all_share", "lift"]]


def best_run(frame: pd.DataFrame, metric: str, goal: str) -> pd.Series | None:
    """The row of the best run by the metric (ties: the earliest row), None if no values."""
    values = as_numbers(frame[metric])
    if values.notna().sum() == 0:
        return None
    return frame.loc[values.idxmax() if goal == "max" else values.idxmin()]


def expected_best(values: pd.Series, goal: str, points: int = 60) -> pd.DataFrame:
    """Expected best metric (and its std) of n runs drawn from the sweep's runs.

    Dodge et al. 2019 ("Show Your Work"), with the empirical CDF of the N observed values
    v_(1) <= ... <= v_(N): P(max of n = v_(i)) = (i/N)^n - ((i-1)/N)^n. Evaluated at up to
    `points` values of n spaced geometrically in 1..N, so 10,000 runs cost a 60 x N product.
    """
    sign = 1.0 if goal == "max" else -1.0
    ordered = np.sort(sign * values.dropna().to_numpy(dtype="float64"))
    total = len(ordered)
    if total == 0:
        return pd.DataFrame(columns=["trials", "expected", "std"])
    trials = np.unique(np.geomspace(1, total, num=min(points, total)).round().astype(int))
    cdf = np.arange(total + 1) / total
    weights = cdf[None, 1:] ** trials[:, None] - cdf[None, :-1] ** trials[:, None]
    mean = weights @ ordered
    spread = np.sqrt(np.clip(weights @ ordered**2 - mean**2, 0, None))
    return pd.DataFrame({"trials": trials, "expected": sign * mean, "std": spread})


def included_runs(table: RunTable, states: tuple[str, ...] | None,
                  ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(runs analysed, runs left out) for the given states; None means every state."""
    frame = table.frame
    keep = frame["state"].isin(states) if states is not None else pd.Series(True, frame.index)
    return frame[keep], frame[~keep]
