"""Parameter importance, as W&B's panel computes it: a random forest's feature importance
plus each feature's linear correlation with the metric.

Features: numeric parameters as they are, booleans as 0/1, categoricals one-hot
(`optimizer=Nadam`), so a correlation has a sign for every value. The forest sees at most
MAX_ROWS runs (sampled with a fixed seed): importances settle long before 10,000 runs.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.runs import as_numbers

MAX_ROWS = 3000
TREES = 100


def feature_matrix(frame: pd.DataFrame, params: list[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Parameters as numeric features, and a (feature, parameter) table naming each column.

    Missing and infinite numbers are filled with the column median (0 when there is none).
    Columns are numbered, as feature names may repeat (`a=b` + `c` and `a` + `b=c`)."""
    columns, names = [], []
    for param in params:
        column = frame[param]
        if pd.api.types.is_bool_dtype(column):
            columns.append(column.astype("float64").fillna(0.0))
            names.append((param, param))
        elif pd.api.types.is_numeric_dtype(column):
            values = as_numbers(column)
            columns.append(values.fillna(values.median()).fillna(0.0))
            names.append((param, param))
        else:
            dummies = pd.get_dummies(column.astype(str))
            columns += [dummies[value].astype("float64") for value in dummies]
            names += [(f"{param}={value}", param) for value in dummies]
    features = pd.concat(columns, axis=1, ignore_index=True) if columns else pd.DataFrame(
        index=frame.index)
    return features, pd.DataFrame(names, columns=["feature", "parameter"])


def parameter_importance(frame: pd.DataFrame, params: list[str], metric: str,
                         seed: int = 0) -> pd.DataFrame:
    """feature, parameter, importance (forest, sums to 1) and correlation (Pearson) with the
    metric, most important first; empty when there are fewer than 3 runs with a metric value.

    The forest sees each feature's ranks: its splits, and so its importances, are the same for
    any increasing transform of a feature, and ranks never overflow sklearn's float32."""
    from sklearn.ensemble import RandomForestRegressor

    rows = frame[frame[metric].notna()]
    if len(rows) < 3 or not params:
        return pd.DataFrame(columns=["feature", "parameter", "importance", "correlation"])
    if len(rows) > MAX_ROWS:
        rows = rows.sample(MAX_ROWS, random_state=seed)
    features, names = feature_matrix(rows, params)
    target = rows[metric].astype("float64")
    forest = RandomForestRegressor(n_estimators=TREES, min_samples_leaf=2, random_state=seed,
                                   n_jobs=-1).fit(features.rank().to_numpy(), target.to_numpy())
    with np.errstate(all="ignore"):  # huge values overflow to inf: no correlation, not a crash
        centred = features - features.mean()
        spread = np.sqrt((centred**2).sum()) * np.sqrt(((target - target.mean()) ** 2).sum())
        correlation = (centred.mul(target - target.mean(), axis=0).sum() / spread)
    table = names.assign(importance=forest.feature_importances_,
                         correlation=correlation.where(spread > 0).to_numpy())
    return table.sort_values("importance", ascending=False, ignore_index=True)
