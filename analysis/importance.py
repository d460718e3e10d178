"""Parameter importance, as W&B's panel computes it: a random forest's feature importance
plus each feature's linear correlation with the metric.

Features: numeric parameters as they are, booleans as 0/1, categoricals one-hot
(`optimizer=Nadam`), so a correlation has a sign for every value. The forest sees at most
MAX_ROWS runs (sampled with a fixed seed): importances settle long before 10,000 runs.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

MAX_ROWS = 3000
TREES = 100


def feature_matrix(frame: pd.DataFrame, params: list[str]) -> pd.DataFrame:
    """Parameters as numeric features; missing numbers filled with the column median."""
    columns = {}
    for param in params:
        column = frame[param]
        if pd.api.types.is_bool_dtype(column):
            columns[param] = column.astype("float64").fillna(0.0)
        elif pd.api.types.is_numeric_dtype(column):
            values = column.astype("float64")
            columns[param] = values.fillna(values.median())
        else:
            dummies = pd.get_dummies(column.astype(str), prefix=param, prefix_sep="=")
            columns.update({name: dummies[name].astype("float64") for name in dummies})
    return pd.DataFrame(columns, index=frame.index)


def parameter_importance(frame: pd.DataFrame, params: list[str], metric: str,
                         seed: int = 0) -> pd.DataFrame:
    """feature, importance (forest, sums to 1) and correlation (Pearson) with the metric,
    most important first; empty when there are fewer than 3 runs with a metric value."""
    from sklearn.ensemble import RandomForestRegressor

    rows = frame[frame[metric].notna()]
    if len(rows) < 3 or not params:
        return pd.DataFrame(columns=["feature", "importance", "correlation"])
    if len(rows) > MAX_ROWS:
        rows = rows.sample(MAX_ROWS, random_state=seed)
    features = feature_matrix(rows, params)
    target = rows[metric].astype("float64")
    forest = RandomForestRegressor(n_estimators=TREES, min_samples_leaf=2, random_state=seed,
                                   n_jobs=-1).fit(features.to_numpy(), target.to_numpy())
    centred = features - features.mean()
    spread = np.sqrt((centred**2).sum()) * np.sqrt(((target - target.mean()) ** 2).sum())
    correlation = (centred.mul(target - target.mean(), axis=0).sum() / spread).where(spread > 0)
    table = pd.DataFrame({"feature": features.columns, "importance": forest.feature_importances_,
                          "correlation": correlation.to_numpy()})
    return table.sort_values("importance", ascending=False, ignore_index=True)
