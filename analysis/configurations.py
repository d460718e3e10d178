"""Configurations: runs identical in every swept parameter but their seed.

Runs of one configuration with different seeds (`vgg-sweep sweep --seeds N`, a rerun-best, or
a `seed` swept in a grid on W&B) measure the same thing: their mean estimates it, and the
best single run of a sweep is partly luck (the winner's curse: the maximum of noisy values
overstates the mean it was drawn from). From any source: only the columns matter.
"""

from __future__ import annotations

import pandas as pd

from analysis.runs import claim

SEED = "seed"


def configuration_ids(frame: pd.DataFrame, params: list[str]) -> pd.Series:
    """Each run's configuration, numbered from 1 in order of first appearance."""
    keys = [param for param in params if param != SEED]
    if not keys:
        return pd.Series(1, index=frame.index)
    return frame.groupby(keys, dropna=False, sort=False).ngroup() + 1


def configuration_table(frame: pd.DataFrame, params: list[str], metric: str,
                        goal: str) -> pd.DataFrame:
    """One row per configuration with a metric value: its number, runs, distinct seeds, mean,
    std and best of the metric, the runs' names, then its swept values (the seed left out).
    Runs repeated with the same seed count once in `seeds`: they are duplicates, not
    evidence."""
    rows = frame[frame[metric].notna()]
    ids = configuration_ids(rows, params)
    values = rows[metric].astype("float64").groupby(ids)
    seeds = (rows[SEED].groupby(ids).nunique(dropna=False) if SEED in rows
             else values.size())
    table = pd.DataFrame({"runs": values.size(), "seeds": seeds, "mean": values.mean(),
                          "std": values.std(),
                          "best": values.max() if goal == "max" else values.min(),
                          "names": rows["name"].astype(str).groupby(ids).agg(", ".join)})
    first = rows.groupby(ids).head(1)
    keys = [param for param in params if param != SEED]
    taken = {"configuration", *table.columns}
    settings = first[keys].set_axis(ids[first.index].to_numpy()).set_axis(
        [claim(name, taken, "param:") for name in keys], axis=1)  # a parameter named `mean`
    return table.join(settings).rename_axis("configuration").reset_index()


def best_configuration(table: pd.DataFrame, goal: str) -> pd.Series | None:
    """The configuration with the best mean; when some configurations ran with several seeds,
    only those compete (one lucky run must not beat a mean of three)."""
    if table.empty:
        return None
    repeated = table[table["seeds"] >= 2]
    pool = repeated if len(repeated) else table
    return pool.loc[pool["mean"].idxmax() if goal == "max" else pool["mean"].idxmin()]


def winners_curse(frame: pd.DataFrame, params: list[str], metric: str,
                  goal: str) -> dict | None:
    """The best single run against the mean of its own configuration (`gap` = best - mean);
    None when that configuration ran with one seed (nothing to compare)."""
    rows = frame[frame[metric].notna()]
    if rows.empty:
        return None
    values = rows[metric].astype("float64")
    label = values.idxmax() if goal == "max" else values.idxmin()
    ids = configuration_ids(rows, params)
    home = values[ids == ids[label]]
    if (rows.loc[home.index, SEED].nunique() if SEED in rows else len(home)) < 2:
        return None
    return {"run": str(rows.at[label, "name"]), "best": float(values[label]),
            "mean": float(home.mean()), "runs": len(home),
            "gap": float(values[label] - home.mean()), "configuration": int(ids[label])}
