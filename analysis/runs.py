"""The run table: one row per run, whatever the source; see docs/architecture.md.

Every source (a local runs directory, the W&B API, a W&B UI CSV export) ends in a
`RunTable`: a pandas DataFrame with the meta columns `name, id, state, created, runtime`
(and `sweep` when known), then one column per config key, then one column per summary key,
plus the lists saying which column is which. Column types are inferred from the values alone
(`typed_column`), the same way for every source, so a table exported to CSV and read back is
the same table.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from vgg_sweep.errors import UserError

META = ("name", "id", "state", "created", "runtime", "sweep")
FINISHED = "finished"
# Default metric: the first of these that the runs have.
METRIC_PREFERENCE = ("val_acc", "best_val_acc", "test_acc")
_TRUE_FALSE = {"true", "false"}
_TRAILING_NUMBER = r"(\d+)$"


@dataclass
class RunTable:
    """Runs of one sweep or project as a tidy DataFrame, with column roles and histories.

    `history(label)` returns the per-epoch history of the run at index label `label` (a
    DataFrame with `epoch`, `train_loss`, `val_acc`, ...) or None when the source has none.
    Index labels survive filtering, so a filtered frame still finds its histories.
    """

    frame: pd.DataFrame
    config: list[str]
    summary: list[str]
    source: str
    skipped: int = 0
    history_loader: Callable[[object], pd.DataFrame | None] | None = field(default=None,
                                                                           repr=False)

    def history(self, label) -> pd.DataFrame | None:
        return None if self.history_loader is None else self.history_loader(label)


def typed_column(raw: pd.Series) -> pd.Series:
    """A column of raw values (strings from a CSV, or Python values) as its natural type.

    Missing (None, NaN, "") stays missing. All values true/false -> nullable boolean; all
    numbers -> Int64 when every value is integral, else float64; anything else -> str. The
    decision looks at the text of the values only, so CSV text and Python values agree.
    """
    text = raw.map(_as_text, na_action="ignore").astype(object)
    text = text.where(text.notna() & (text != ""), None)
    present = text.dropna()
    if present.empty:
        return pd.Series(np.nan, index=raw.index, dtype="float64", name=raw.name)
    words = present.str.lower()
    if words.isin(_TRUE_FALSE).all():
        return (text.str.lower() == "true").astype("boolean").where(text.notna(), pd.NA)
    numbers = pd.to_numeric(present, errors="coerce")
    if numbers.notna().all():
        values = pd.to_numeric(text, errors="coerce").astype("float64")
        finite = np.isfinite(numbers)
        if finite.all() and (numbers == np.round(numbers)).all() and (numbers.abs() < 2**53).all():
            return values.astype("Int64")
        return values
    return text.astype("str")


def _as_text(value) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def typed_meta(frame: pd.DataFrame) -> pd.DataFrame:
    """Meta columns with fixed types: names and ids as text, states lower-case, created as
    UTC timestamps (microseconds), runtime as seconds."""
    out = frame.copy()
    for column in ("name", "id", "sweep"):
        if column in out:
            out[column] = out[column].map(_as_text, na_action="ignore").astype("str")
    if "state" in out:
        out["state"] = out["state"].astype("str").str.strip().str.lower()
    if "created" in out:
        created = out["created"].where(out["created"].astype("str").str.strip() != "", None)
        out["created"] = pd.to_datetime(created, utc=True, format="ISO8601",
                                        errors="coerce").dt.as_unit("us")
    if "runtime" in out:
        out["runtime"] = pd.to_numeric(out["runtime"], errors="coerce").astype("float64")
    return out


def make_table(frame: pd.DataFrame, config: list[str], summary: list[str], source: str,
               **extra) -> RunTable:
    """A RunTable with typed columns in the canonical order: meta, config, summary."""
    meta = [column for column in META if column in frame]
    typed = typed_meta(frame[meta])
    for column in config + summary:
        typed[column] = typed_column(frame[column])
    return RunTable(typed[meta + config + summary], list(config), list(summary), source, **extra)


def choose_metric(table: RunTable, metric: str | None) -> str:
    """The metric to analyse: the one asked for, else the first of METRIC_PREFERENCE."""
    columns = table.config + table.summary
    if metric is not None:
        if metric not in table.frame:
            raise UserError(f"metric {metric!r} is not a column of {table.source}; "
                            f"choose one of: {', '.join(table.summary) or '(no summary columns)'}")
        column = table.frame[metric]
        if not (pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column)):
            raise UserError(f"metric {metric!r} in {table.source} is not numeric; "
                            "pass --metric with a numeric summary column")
        return metric
    for name in METRIC_PREFERENCE:
        if name in columns and pd.api.types.is_numeric_dtype(table.frame[name]):
            return name
    raise UserError(f"{table.source} has none of the default metrics "
                    f"({', '.join(METRIC_PREFERENCE)}); pass --metric NAME")


def default_goal(metric: str) -> str:
    """max for accuracies and scores, min for losses and errors."""
    return "min" if any(word in metric.lower() for word in ("loss", "err", "time")) else "max"


def accuracy_scale(values: pd.Series) -> float:
    """100 when accuracies are stored in percent, 1 when stored as fractions in [0, 1]."""
    present = values.dropna()
    return 1.0 if len(present) and present.abs().max() <= 1.0 else 100.0



def run_step(frame: pd.DataFrame) -> pd.Series:
    """Each run's position in the sweep (1 = first): by creation time when every run has
    one, else by the number W&B puts at the end of sweep run names (`icy-sweep-108`), else
    by row order."""
    if "created" in frame and frame["created"].notna().all():
        return frame["created"].rank(method="first").astype(int)
    numbers = frame["name"].astype(str).str.extract(_TRAILING_NUMBER, expand=False)
    if numbers.notna().all() and numbers.nunique() == len(frame):
        return numbers.astype(int).rank(method="first").astype(int)
    return pd.Series(np.arange(1, len(frame) + 1), index=frame.index)


def as_categories(column: pd.Series, bins: int = 5) -> pd.Series:
    """A parameter as text categories; continuous numbers (over 10 values) in quantile bins,
    so that a log-uniform learning rate can be counted and cross-tabulated."""
    if pd.api.types.is_float_dtype(column) and column.nunique() > 10:
        return pd.qcut(column, bins, duplicates="drop").astype(str)
    return column.astype(str)
