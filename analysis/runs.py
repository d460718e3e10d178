"""The run table: one row per run, whatever the source; see docs/architecture.md.

Every source (a local runs directory, the W&B API, a W&B UI CSV export) ends in a
`RunTable`: a pandas DataFrame with the meta columns `name, id, state, created, runtime`
(and `sweep` when known), then one column per config key, then one column per summary key,
plus the lists saying which column is which. Column types are inferred from the values alone
(`typed_column`), the same way for every source, so a table exported to CSV and read back is
the same table.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from vgg_sweep.errors import UserError, warn
from vgg_sweep.outcome import State
from vgg_sweep.record import STATES

META = ("name", "id", "state", "created", "runtime", "sweep")
FINISHED, PRUNED, RUNNING = State.FINISHED, State.PRUNED, State.RUNNING
UNKNOWN_STATE = "unknown"  # a run whose source gives no state
# Our states and W&B's; `--states` accepts these and any state the runs have.
KNOWN_STATES = (*STATES, "preempted", "preempting", "pending", UNKNOWN_STATE)
# Default metric: the first of these that the runs have.
METRIC_PREFERENCE = ("val_acc", "best_val_acc", "test_acc")
LARGEST = 1e300
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


def state_counts(states: pd.Series) -> str:
    """`8 finished, 3 pruned (hyperband), 1 crashed`: runs per state, most first."""
    return ", ".join(f"{count} {state}" + (" (hyperband)" if state == PRUNED else "")
                     for state, count in states.value_counts().items())


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


def as_numbers(column: pd.Series) -> pd.Series:
    """float64: numbers as they are, numeric text parsed, anything else NaN: text, lists, inf,
    and magnitudes over LARGEST (overflowed values, which also overflow a plot's axes)."""
    scalars = column.astype(object).map(
        lambda value: value if isinstance(value, int | float | str | np.number) else None)
    numbers = pd.to_numeric(scalars, errors="coerce").astype("float64")
    return numbers.where(numbers.abs() <= LARGEST)


def _text(column: pd.Series) -> pd.Series:
    text = column.map(_as_text, na_action="ignore").astype(object)
    return text.where(text.notna() & (text != ""), None).astype("str")


def typed_meta(frame: pd.DataFrame) -> pd.DataFrame:
    """Meta columns with fixed types: names and ids as text (a missing name is the id),
    states lower-case ('unknown' when missing), created as UTC timestamps (microseconds),
    runtime as seconds."""
    out = pd.DataFrame(index=frame.index)
    for column in META:
        if column in ("name", "id", "sweep") and column in frame:
            out[column] = _text(frame[column])
        elif column == "state":
            state = _text(frame[column]) if column in frame else pd.Series(
                UNKNOWN_STATE, index=frame.index, dtype="str")
            out[column] = state.str.lower().fillna(UNKNOWN_STATE)
        elif column == "created" and column in frame:
            out[column] = pd.to_datetime(_text(frame[column]), utc=True, format="ISO8601",
                                         errors="coerce").dt.as_unit("us")
        elif column == "runtime" and column in frame:
            out[column] = as_numbers(frame[column])
    if "name" not in out:
        out.insert(0, "name", out["id"] if "id" in out else pd.Series(np.nan, frame.index,
                                                                       dtype="str"))
    elif "id" in out:
        out["name"] = out["name"].fillna(out["id"])
    return out


def claim(name: str, taken: set[str], prefix: str = "") -> str:
    """A column name not in `taken` (and now in it): `name`, else `prefix + name`, else that
    with ` (2)`, ` (3)`, ... appended."""
    if name in taken:
        name = prefix + name
    unique, count = name, 2
    while unique in taken:
        unique, count = f"{name} ({count})", count + 1
    taken.add(unique)
    return unique


def make_table(meta: pd.DataFrame, config: list[tuple[str, pd.Series]],
               summary: list[tuple[str, pd.Series]], source: str, **extra) -> RunTable:
    """A RunTable with typed columns in the canonical order: meta, config, summary.

    The one place where column names are made unique, whatever the source: a config key
    named like a meta field (`state`, `name`...) becomes `config.<key>`, a summary key named
    like a meta field or a config key becomes `summary/<key>` (the `/` keeps it a summary key
    in CSV exports), and a name still taken gets ` (2)`. Meta fields are never overwritten.
    """
    typed = typed_meta(meta)
    taken = set(META)
    columns = {claim(key, taken, "config."): values for key, values in config}
    config_names = list(columns)
    columns.update({claim(key, taken, "summary/"): values for key, values in summary})
    data = pd.DataFrame({name: typed_column(values.set_axis(typed.index))
                         for name, values in columns.items()}, index=typed.index)
    frame = pd.concat([typed, data], axis=1)
    return RunTable(frame, config_names, [name for name in columns if name not in config_names],
                    source, **extra)


def choose_metric(table: RunTable, metric: str | None) -> str:
    """The metric to analyse: the one asked for (a config or summary column, or runtime),
    else the first of METRIC_PREFERENCE the runs have, numeric or not: a column with a stray
    text cell is still the metric (see `numeric_metric`), never silently replaced."""
    columns = [*table.config, *table.summary, *(["runtime"] if "runtime" in table.frame else [])]
    if metric is None:
        metric = next((name for name in METRIC_PREFERENCE if name in columns), None)
        if metric is None:
            raise UserError(f"{table.source} has none of the default metrics "
                            f"({', '.join(METRIC_PREFERENCE)}); pass --metric NAME")
    elif metric not in columns:
        raise UserError(f"metric {metric!r} is not a column of {table.source}; "
                        f"choose one of: {', '.join(table.summary) or '(no summary columns)'}")
    column = table.frame[metric]
    if pd.api.types.is_bool_dtype(column) or (not pd.api.types.is_numeric_dtype(column)
                                               and as_numbers(column).isna().all()):
        raise UserError(f"metric {metric!r} in {table.source} is not numeric; "
                        "pass --metric with a numeric summary column")
    return metric


def numeric_metric(table: RunTable, metric: str) -> RunTable:
    """The table with its metric column as finite floats: a text cell or an inf (a diverged
    loss) becomes missing, with a warning that counts them."""
    column = table.frame[metric]
    numbers = as_numbers(column)
    lost = int((column.notna() & numbers.isna()).sum())
    if lost:
        warn(f"{lost} values of {metric} are not finite numbers (text, inf or nan); they "
             "count as missing")
    frame = table.frame.copy()
    frame[metric] = numbers
    return replace(table, frame=frame)


def default_goal(metric: str) -> str:
    """max for accuracies and scores, min for losses and errors."""
    return "min" if any(word in metric.lower() for word in ("loss", "err", "time")) else "max"


def accuracy_scale(values: pd.Series) -> float:
    """100 when accuracies are stored in percent, 1 when stored as fractions in [0, 1]."""
    present = values.dropna()
    return 1.0 if len(present) and present.abs().max() <= 1.0 else 100.0


def metric_bounds(metric: str, values: pd.Series) -> tuple[float, float]:
    """The range a metric can take: [0, 100] or [0, 1] for accuracies, [0, inf) for losses,
    errors and times, else unbounded. Intervals are clipped to it."""
    name = metric.lower()
    if "acc" in name:
        return 0.0, accuracy_scale(values)
    if any(word in name for word in ("loss", "err", "time")):
        return 0.0, np.inf
    return -np.inf, np.inf


def run_step(frame: pd.DataFrame) -> pd.Series:
    """Each run's position in the sweep (1 = first): by creation time when every run has
    one, else by the number W&B puts at the end of sweep run names (`icy-sweep-108`), else
    by row order."""
    if "created" in frame and frame["created"].notna().all():
        return frame["created"].rank(method="first").astype(int)
    numbers = frame["name"].astype(str).str.extract(_TRAILING_NUMBER, expand=False)
    if numbers.notna().all() and numbers.nunique() == len(frame):
        return pd.to_numeric(numbers).astype("float64").rank(method="first").astype(int)
    return pd.Series(np.arange(1, len(frame) + 1), index=frame.index)


MISSING = "(missing)"  # the group of runs without a value of a parameter
CONTINUOUS_VALUES = 10  # a numeric parameter with more distinct values than this is binned
BINS = 5
LOG_SPAN = 100  # positive values spanning 100x or more were most likely drawn log-uniformly


def short_number(value: float) -> str:
    """A number for a label: whole numbers as they are (`256`), others with 2 significant
    digits, `1e-4` not `1e-04` nor `0.00012076665792328147`."""
    if float(value).is_integer() and abs(value) < 1e6:
        return str(int(value))
    text = f"{value:.2g}"
    return re.sub(r"e([+-])0*(\d)", lambda m: "e" + m.group(1).replace("+", "") + m.group(2),
                  text)


def is_continuous(column: pd.Series) -> bool:
    """A numeric parameter with many distinct values: a uniform or log-uniform draw, of
    floats or of integers (W&B's int_uniform seed or batch size: a thousand seeds compared
    pairwise were half a million effects)."""
    numeric = (pd.api.types.is_numeric_dtype(column)
               and not pd.api.types.is_bool_dtype(column))
    return numeric and column.nunique() > CONTINUOUS_VALUES


def is_log_scale(values: pd.Series) -> bool:
    """Numbers drawn log-uniformly (a W&B `log_uniform_values` learning rate, a grid of
    1e-4, 1e-3, 1e-2): positive, spanning LOG_SPAN x or more, and with their median nearer
    the middle of the range in log space than in linear space (a uniform draw in [0, 0.5]
    spans decades too, but its median sits in the linear middle). Shown on a log axis,
    binned in log space."""
    present = values[np.isfinite(values)] if len(values) else values
    if not len(present) or present.min() <= 0 or present.max() < LOG_SPAN * present.min():
        return False
    low, high, median = present.min(), present.max(), present.median()
    in_log = (np.log(median) - np.log(low)) / (np.log(high) - np.log(low))
    return bool(abs(in_log - 0.5) <= abs((median - low) / (high - low) - 0.5))


def binned(column: pd.Series) -> pd.Series:
    """A parameter as the groups its runs are compared in: its own values, or for a
    continuous parameter BINS ordered bins (log-spaced when `is_log_scale`, quantiles
    otherwise) labelled `[0.0001, 0.00032)`. Missing values stay missing."""
    if not is_continuous(column):
        return column
    values = as_numbers(column)
    present = values.dropna()
    if is_log_scale(present):
        edges = np.geomspace(present.min(), present.max(), BINS + 1)
    else:
        edges = np.unique(np.quantile(present, np.linspace(0, 1, BINS + 1)))
    labels = [f"[{short_number(low)}, {short_number(high)}" + ("]" if i == len(edges) - 2
                                                                else ")")
              for i, (low, high) in enumerate(zip(edges[:-1], edges[1:], strict=True))]
    codes = np.clip(np.searchsorted(edges, values, side="right") - 1, 0, len(labels) - 1)
    bins = pd.Categorical.from_codes(np.where(values.notna(), codes, -1), labels, ordered=True)
    return pd.Series(bins, index=column.index, name=column.name)


def as_categories(column: pd.Series) -> pd.Series:
    """A parameter as text categories (`binned`), MISSING where it has no value, so that a
    log-uniform learning rate can be counted and cross-tabulated."""
    groups = binned(column)
    return groups.astype(object).where(groups.notna(), MISSING).astype(str)
