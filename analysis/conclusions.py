"""Conclusions: one plain sentence per swept parameter, never claiming more than the runs do.

Read from the effects (analysis/effects.py) and the lints: which value is best and what it is
detectably better than, by how much and how sure (a family-wise 95 % interval and the chance
that a run with it beats an otherwise identical run); "no difference detectable" where every
interval holds zero; "never changed the metric" for a parameter the no-effect lint caught;
"too few runs" and "confounded with X" where the runs cannot say.
"""

from __future__ import annotations

import math

import pandas as pd

from analysis.effects import LEVEL, MEASURED, NOT_ESTIMABLE
from analysis.lints import (
    MIN_GROUP_RUNS,
    NEVER_ARRIVED,
    NO_EFFECT,
    Finding,
)


def decimals(effects: pd.Series) -> int:
    """Decimals that show a table's typical effect with two significant digits."""
    typical = effects.abs().median()
    return max(0, 1 - math.floor(math.log10(typical))) if typical > 0 else 1


def _gap(row: pd.Series, sign: float, places: int) -> tuple[float, str]:
    """The effect times `sign` (so that the best value's advantage is positive) and its
    interval as text (`95% CI 10.6 to 22.4`, empty when there is none)."""
    low, high = sorted((sign * row["ci_low"], sign * row["ci_high"]))
    interval = (f"{LEVEL:.0%} CI {low:.{places}f} to {high:.{places}f}" if pd.notna(low)
                else "")
    return sign * row["effect"], interval


def _signed(row: pd.Series, sign: float, places: int) -> str:
    """`+3.6, 95% CI -0.1 to 7.2`"""
    gap, interval = _gap(row, sign, places)
    return ", ".join(filter(None, (f"{gap:+.{places}f}", interval)))


def _detectable(row: pd.Series) -> bool:
    return bool(row["ci_low"] > 0 or row["ci_high"] < 0)


def from_lints(findings: list[Finding], metric: str) -> tuple[dict[str, str],
                                                               dict[str, list[str]]]:
    """What the lints settle before any effect is estimated: the statement for each
    parameter the no-effect lint caught, and the parameters each one moved together with."""
    dead, confounded = {}, {}
    for finding in findings:
        evidence = finding.evidence
        if finding.lint == "no-effect parameter":
            for param, rows in evidence.groupby("parameter", sort=False):
                count = int(rows["comparisons"].iloc[0])
                dead[param] = {
                    NEVER_ARRIVED: f"never reached the trainer (identical fingerprints in "
                                   f"{count} comparisons): its values say nothing about "
                                   f"{metric}; see the lints",
                    NO_EFFECT: f"no effect: it reached the trainer and {metric} was identical "
                               f"in all {count} comparisons",
                }.get(rows["verdict"].iloc[0], f"never changed {metric} (identical in all "
                      f"{count} comparisons): most likely it never reached the trainer; see "
                      "the lints")
        elif finding.lint == "confounded parameters":
            for a, b in zip(evidence["parameter a"], evidence["parameter b"], strict=True):
                confounded.setdefault(a, []).append(b)
                confounded.setdefault(b, []).append(a)
    return dead, confounded


def conclusions(effects: pd.DataFrame, params: list[str], metric: str, goal: str,
                dead: dict[str, str] | None = None,
                confounded: dict[str, list[str]] | None = None) -> list[str]:
    """One sentence per parameter, in `params` order. `dead` maps a parameter the no-effect
    lint caught to its statement; `confounded` a parameter to those it moved with."""
    dead, confounded = dead or {}, confounded or {}
    places = decimals(effects["effect"].dropna())
    lines = []
    for param in params:
        if param in dead:
            lines.append(f"{param}: {dead[param]}")
            continue
        pairs = effects[effects["parameter"] == param]
        if len(pairs):
            lines.append(parameter_conclusion(param, pairs, metric, goal, places,
                                              confounded.get(param, [])))
    return lines


def parameter_conclusion(param: str, pairs: pd.DataFrame, metric: str, goal: str,
                         places: int, confounded_with: list[str] = ()) -> str:
    """The sentence for one parameter from its rows of `pairwise_effects`."""
    measured = pairs[pairs["status"] == MEASURED]
    small = sorted(_small_values(pairs))
    tail = []
    if small:
        tail.append("too few runs to compare " + ", ".join(small))
    if confounded_with:
        tail.append("confounded with " + ", ".join(confounded_with)
                    + " (the sampler moved them together)")
    elif (pairs["status"] == NOT_ESTIMABLE).any():
        tail.append("some values never ran apart from other parameters' values")
    suffix = "".join(f"; {part}" for part in tail)
    if measured.empty:
        return f"{param}: nothing to compare" + suffix
    better = 1.0 if goal == "max" else -1.0
    # Levels relative to one value: every measured pair is a difference of two of them.
    base = measured.iloc[0]["against"]
    level = {base: 0.0}
    for row in measured.itertuples():
        if row.against == base:
            level[row.value] = row.effect
        elif row.value == base:
            level[row.against] = -row.effect
    best = max(level, key=lambda value: better * level[value])
    against_best = []
    for row in measured.itertuples():
        if best in (row.value, row.against):
            flip = row.against == best
            against_best.append((row.against if not flip else row.value,
                                 pd.Series(row._asdict()), flip))
    wins = [(other, row, flip) for other, row, flip in against_best if _detectable(row)]
    ties = [(other, row, flip) for other, row, flip in against_best if not _detectable(row)]

    def sign(flip: bool) -> float:
        return better * (-1.0 if flip else 1.0)

    if not wins:
        return (f"{param}: no difference in {metric} detectable with these runs"
                + (f" (best estimate {best}: " + "; ".join(
                    f"vs {other} {_signed(row, sign(flip), places)}"
                    for other, row, flip in ties) + ")" if ties else "") + suffix)
    direction = "higher" if goal == "max" else "lower"
    sentence = f"{param}: {best} is best; {metric} {direction} than " + "; ".join(
        f"{other} by {_gap(row, sign(flip), places)[0]:.{places}f} "
        f"({_gap(row, sign(flip), places)[1]}, P(better run) {_p_better(row, flip):.2f})"
        for other, row, flip in wins)
    if ties:
        sentence += "; no difference detectable from " + ", ".join(
            f"{other} ({_signed(row, sign(flip), places)})" for other, row, flip in ties)
    return sentence + suffix


def _p_better(row: pd.Series, flip: bool) -> float:
    return 1.0 - row["p_improve"] if flip else row["p_improve"]


def _small_values(pairs: pd.DataFrame) -> set[str]:
    """Values of the parameter that had fewer runs than a comparison needs."""
    sides = pd.concat([pairs[["value", "runs"]],
                       pairs[["against", "against_runs"]].set_axis(["value", "runs"], axis=1)])
    return {f"{value} ({runs} run{'s' if runs != 1 else ''})"
            for value, runs in sides.drop_duplicates().itertuples(index=False)
            if runs < MIN_GROUP_RUNS}
