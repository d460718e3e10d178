"""Lints: ways a sweep misleads, each reported with the runs that show it.

Every lint is a plain function returning a `Finding` (or None when the sweep is clean):
a one-line message and an evidence table. `run_lints` runs them all in a fixed order.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations

import numpy as np
import pandas as pd

from analysis.runs import (
    FINISHED,
    PRUNED,
    RUNNING,
    accuracy_scale,
    as_categories,
    as_numbers,
    state_counts,
)
from vgg_sweep.registry import DATASETS, squash

MIN_GROUP_RUNS = 3
CONFOUNDED_V = 0.8
CHANCE_FACTOR = 1.5  # "at chance": accuracy at most 1.5 x 100/num_classes
# Class counts of data sets the trainer does not have, met in W&B projects and CSV exports;
# the trainer's own come from its registry (vgg_sweep.registry.DATASETS).
OTHER_NUM_CLASSES = {"cifar100": 100, "svhn": 10, "imagenet": 1000}
DEFAULT_CLASSES = 10
ACCURACY_COLUMNS = ("val_acc", "best_val_acc", "test_acc", "train_acc")
FINGERPRINT = "fingerprint/"  # the summary's fingerprint parts, flattened (sources.py)
NEVER_ARRIVED = "never reached the trainer"
NO_EFFECT = "reached the trainer, no effect"
NO_FINGERPRINT = "no effect (no fingerprint)"


@dataclass
class Finding:
    lint: str
    message: str
    evidence: pd.DataFrame


def _names(frame: pd.DataFrame, key: pd.Series) -> pd.Series:
    return frame["name"].astype(str).groupby(key).agg(", ".join)


def no_effect_params(frame: pd.DataFrame, params: list[str], metric: str) -> Finding | None:
    """Parameters whose change never changes the metric between otherwise identical runs, or
    never reached the trainer at all.

    Runs agreeing on every other swept parameter form a group; a group where the parameter
    takes two or more values is a comparison. If every comparison has one identical metric
    value, the trainer most likely ignores the parameter (a plumbing bug, not a result).
    A parameter that only exists with some of its values (cutout_size with use_cutout=True:
    the record holds only the fields that apply) is not held fixed.

    Where every compared run has a fingerprint (`fingerprint/*` in its summary: what its
    config reached the trainer as, vgg_sweep/fingerprint.py), the verdict says which:
    identical fingerprints in every comparison mean the values never reached the trainer
    (flagged even when the metric moved: that was noise); different ones that the parameter
    reached the trainer and did not change the metric.
    """
    rows, verdicts = [], {}
    finished = frame[frame[metric].notna()].assign(_print=_fingerprints)
    for param in params:
        others = [p for p in params if p != param and not _follows(finished, p, param)]
        key = (finished.groupby(others, dropna=False, sort=False).ngroup() if others
               else pd.Series(0, index=finished.index))
        spread = finished.groupby(key).agg(values=(param, "nunique"), metrics=(metric, "nunique"),
                                           value=(metric, "first"), runs=(param, "size"),
                                           prints=("_print", "nunique"),
                                           printed=("_print", "count"))
        compared = spread[spread["values"] >= 2]
        if compared.empty:
            continue
        known = bool((compared["printed"] == compared["runs"]).all())
        if known and (compared["prints"] == 1).all():
            verdict = NEVER_ARRIVED
        elif (compared["metrics"] > 1).any():
            continue
        else:
            verdict = NO_EFFECT if known else NO_FINGERPRINT
        verdicts[param] = verdict
        names = _names(finished, key).reindex(compared.index)
        rows += [{"parameter": param, "comparisons": len(compared), metric: value,
                  "verdict": verdict, "runs": runs}
                 for value, runs in zip(compared["value"], names, strict=True)]
    if not rows:
        return None
    said = {
        NEVER_ARRIVED: "never reached the trainer (identical fingerprints in every comparison: "
                       "the trainer ignores it; vgg-sweep preflight catches this before a "
                       "sweep)",
        NO_EFFECT: f"reached the trainer (its fingerprints differ) but never changed {metric}",
        NO_FINGERPRINT: f"changing only this parameter never changed {metric} (identical "
                        "values in every comparison); check that the trainer uses it",
    }
    message = "; ".join(f"{', '.join(p for p, v in verdicts.items() if v == verdict)}: {text}"
                        for verdict, text in said.items() if verdict in verdicts.values())
    return Finding("no-effect parameter", message, pd.DataFrame(rows))


def _follows(frame: pd.DataFrame, other: str, param: str) -> bool:
    """Whether `other` is recorded or not according to the value of `param` alone."""
    missing = frame[other].isna()
    return bool(missing.any() and not missing.all()
                and (missing.groupby(frame[param].astype(str)).nunique() == 1).all())


def _fingerprints(frame: pd.DataFrame) -> pd.Series:
    """Each run's fingerprint as one text (NaN where it has none, or an incomplete one)."""
    parts = [column for column in frame if column.startswith(FINGERPRINT)]
    if FINGERPRINT + "weights" not in parts:
        return pd.Series(np.nan, index=frame.index, dtype=object)
    return frame[parts].apply(lambda row: "|".join(f"{k}={v}" for k, v in row.items()
                                                   if pd.notna(v))
                              if pd.notna(row[FINGERPRINT + "weights"]) else np.nan, axis=1)


def duplicate_configs(frame: pd.DataFrame, config: list[str], metric: str) -> Finding | None:
    """Runs with exactly the same config: budget spent twice (or a sampler that repeats)."""
    if not config:
        return None
    key = frame.groupby(config, dropna=False, sort=False).ngroup()
    sizes = key.value_counts()
    repeated = key[key.isin(sizes[sizes > 1].index)]
    if repeated.empty:
        return None
    group = frame.loc[repeated.index]
    values = group[metric].astype("float64").groupby(repeated)
    evidence = pd.DataFrame({"runs": values.size(), f"{metric} min": values.min(),
                             f"{metric} max": values.max(),
                             "names": _names(group, repeated)}).reset_index(drop=True)
    return Finding("duplicate configs",
                   f"{len(evidence)} configurations were run more than once "
                   f"({int(evidence['runs'].sum())} runs)", evidence)


def unfinished_runs(frame: pd.DataFrame, metric: str) -> Finding | None:
    """Crashed, failed or killed (interrupted) runs, with how far they got and why. Pruned
    runs are not among them: hyperband stopped them on purpose (the overview counts them)."""
    bad = frame[~frame["state"].isin([FINISHED, PRUNED, RUNNING])]
    if bad.empty:
        return None
    columns = [c for c in dict.fromkeys(("name", "state", "runtime", "epoch", metric,
                                          "failure_reason")) if c in bad]
    return Finding("unfinished runs", f"{state_counts(bad['state'])} (left out of the "
                   "statistics unless --states all)", bad[columns].reset_index(drop=True))


def num_classes(dataset: str) -> int:
    """The class count of a data set named any way (`FashionMNIST`, `cifar-100`); 10 when
    unknown."""
    entry = DATASETS.find(dataset)
    return entry.num_classes if entry else OTHER_NUM_CLASSES.get(squash(dataset),
                                                                  DEFAULT_CLASSES)


def chance_level_runs(frame: pd.DataFrame, metric: str) -> Finding | None:
    """Runs marked finished whose accuracy is at chance: they diverged or never learned.

    Chance is 100 / num_classes percent (or 1 / num_classes for fractions), num_classes from
    the `dataset` column, 10 when there is none.
    """
    column = metric if "acc" in metric.lower() else next(
        (c for c in ACCURACY_COLUMNS if c in frame), None)
    finished = frame[frame["state"] == FINISHED]
    if column is None or finished.empty:
        return None
    if "dataset" in finished:
        classes = finished["dataset"].astype(str).map(num_classes)
    else:
        classes = pd.Series(DEFAULT_CLASSES, index=finished.index)
    accuracy = as_numbers(frame[column])
    chance = accuracy_scale(accuracy) / classes
    hit = finished[accuracy[finished.index] <= CHANCE_FACTOR * chance]
    if hit.empty:
        return None
    columns = [c for c in dict.fromkeys(("name", column, "train_loss", "val_loss")) if c in hit]
    evidence = hit[columns].assign(chance=chance[hit.index]).reset_index(drop=True)
    return Finding("chance-level runs",
                   f"{len(hit)} finished runs ended at chance level ({column} <= "
                   f"{CHANCE_FACTOR:g} x chance): they diverged or never learned", evidence)


def spelling_variants(frame: pd.DataFrame, config: list[str]) -> Finding | None:
    """Categorical values that differ only in case or punctuation (`NAdam`, `Nadam`): the
    same setting split into groups too small to compare."""
    rows = []
    for column in config:
        if not pd.api.types.is_string_dtype(frame[column]):
            continue
        counts = frame[column].dropna().value_counts()
        squashed = counts.index.str.lower().str.replace(r"[^0-9a-z]", "", regex=True)
        for _, spellings in counts.groupby(squashed):
            if len(spellings) > 1:
                rows.append({"parameter": column,
                             "spellings": ", ".join(f"{value} ({count})"
                                                    for value, count in spellings.items())})
    if not rows:
        return None
    return Finding("spelling variants", f"{len(rows)} values are spelled several ways and "
                   "split their groups; merge them before comparing", pd.DataFrame(rows))


def small_groups(one_way: pd.DataFrame) -> Finding | None:
    """Groups with fewer than MIN_GROUP_RUNS runs: their mean and CI prove nothing."""
    small = one_way[one_way["runs"] < MIN_GROUP_RUNS]
    if small.empty:
        return None
    return Finding("too few runs", f"{len(small)} groups have fewer than {MIN_GROUP_RUNS} runs "
                   "to conclude from", small[["parameter", "value", "runs", "mean"]]
                   .reset_index(drop=True))


def cramers_v(a: pd.Series, b: pd.Series) -> float:
    """Bias-corrected Cramér's V (Bergsma 2013) between two categorical series, in [0, 1]."""
    observed = pd.crosstab(a, b).to_numpy(dtype="float64")
    n = observed.sum()
    rows, cols = observed.shape
    if n < 2 or rows < 2 or cols < 2:
        return 0.0
    expected = np.outer(observed.sum(1), observed.sum(0)) / n
    phi2 = ((observed - expected) ** 2 / expected).sum() / n
    phi2 = max(0.0, phi2 - (rows - 1) * (cols - 1) / (n - 1))
    rows_c = rows - (rows - 1) ** 2 / (n - 1)
    cols_c = cols - (cols - 1) ** 2 / (n - 1)
    denominator = min(rows_c - 1, cols_c - 1)
    return float(np.sqrt(phi2 / denominator)) if denominator > 0 else 0.0


def confounded_params(frame: pd.DataFrame, params: list[str]) -> Finding | None:
    """Swept parameters the sampler moved together (Cramér's V > 0.8): their effects cannot
    be told apart, whatever the group tables say."""
    coded = {param: as_categories(frame[param]) for param in params}
    rows = [{"parameter a": a, "parameter b": b, "cramers_v": round(v, 3)}
            for a, b in combinations(params, 2)
            if (v := cramers_v(coded[a], coded[b])) > CONFOUNDED_V]
    if not rows:
        return None
    return Finding("confounded parameters", f"{len(rows)} parameter pairs vary together "
                   f"(Cramér's V > {CONFOUNDED_V}); their effects are not separable",
                   pd.DataFrame(rows))


def run_lints(all_runs: pd.DataFrame, analysed: pd.DataFrame, config: list[str],
              params: list[str], metric: str, one_way: pd.DataFrame) -> list[Finding]:
    """Every lint's finding, in report order; `analysed` is the runs the statistics use."""
    finished = analysed[analysed["state"] == FINISHED]
    findings = [
        no_effect_params(finished, params, metric),
        duplicate_configs(all_runs, config, metric),
        unfinished_runs(all_runs, metric),
        chance_level_runs(all_runs, metric),
        spelling_variants(all_runs, config),
        small_groups(one_way),
        confounded_params(analysed, params),
    ]
    return [finding for finding in findings if finding is not None]
