"""Does the sweep's best hold up when re-run with other seeds?

`vgg-sweep rerun-best --seeds N` (in the cli, which owns the trainer) re-trains the best
config N times and hands the metric values here (and the re-runs' test metrics). The
verdict states the gap between the sweep's best and the re-runs' mean, and whether the best
lies inside mean +- 2 std of the re-runs (std with ddof=1: about 95 % of re-runs fall there
if they are roughly normal): *consistent with the re-runs* or *not reproduced*. With fewer
than CAUTION_SEEDS seeds the std itself is a rough guess and mean +- 2 std very wide, so the
verdict says so instead of a plain "reproduced". The [min, max] of the re-runs is reported
too, but not used: with a handful of seeds it is narrow by chance, and a sweep's best,
picked as the maximum of many noisy runs, sits above the typical run by construction.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from vgg_sweep.errors import UserError

RERUN_FILE = "rerun.json"
SPREAD = 2.0
CAUTION_SEEDS = 5  # fewer seeds: the verdict carries a caution


def finite_values(values) -> list[float]:
    """The re-runs' metric values: a list of at least 2 finite numbers, else UserError."""
    if not isinstance(values, list) or not all(
            isinstance(value, int | float) and not isinstance(value, bool) for value in values):
        raise UserError(f"rerun values must be a list of numbers, got {values!r:.80}; re-run "
                        "`vgg-sweep rerun-best` to rewrite the file")
    if len(values) < 2 or not np.isfinite(np.asarray(values, dtype="float64")).all():
        raise UserError(f"rerun-best needs at least 2 finite metric values, got {values!r:.80}; "
                        "re-run with --seeds 2 or more")
    return [float(value) for value in values]


def rerun_verdict(sweep_best: float, values: list[float]) -> dict:
    """mean, std, min, max of the re-runs, the gap (sweep best - mean) and whether
    `sweep_best` is inside mean +- 2 std, with the verdict in words."""
    runs = np.asarray(finite_values(values), dtype="float64")
    mean, std = float(runs.mean()), float(runs.std(ddof=1))
    low, high = mean - SPREAD * std, mean + SPREAD * std
    inside = bool(low <= sweep_best <= high)
    gap = float(sweep_best) - mean
    spread = (f"the sweep's best {sweep_best:.4g} is {abs(gap):.3g} "
              f"{'above' if gap >= 0 else 'below'} the re-runs' mean {mean:.4g} over "
              f"{len(runs)} seeds")
    if inside:
        verdict = (f"consistent with the re-runs: {spread}, inside mean +- {SPREAD:g} std "
                   f"[{low:.4g}, {high:.4g}]")
    else:
        verdict = (f"not reproduced: {spread}, outside mean +- {SPREAD:g} std "
                   f"[{low:.4g}, {high:.4g}]; it was partly luck")
    if len(runs) < CAUTION_SEEDS:
        verdict += (f" (caution: {len(runs)} seeds give a rough std and a wide band; "
                    f"rerun-best --seeds {CAUTION_SEEDS} or more adds seeds)")
    return {"sweep_best": float(sweep_best), "runs": len(runs), "mean": mean, "std": std,
            "gap": gap, "min": float(runs.min()), "max": float(runs.max()), "low": low,
            "high": high, "inside": inside, "verdict": verdict}


def rerun_test_table(rerun: dict) -> pd.DataFrame:
    """The re-runs' test metrics: metric, runs, mean, std and every seed's value."""
    seeds = rerun.get("seeds") or []
    rows = []
    for name, values in rerun["test"].items():
        present = pd.Series(values, dtype="float64")
        per_seed = [f"{seed}: {value:.4g}" for seed, value in zip(seeds, values, strict=False)
                    if value is not None]
        rows.append({"metric": name, "runs": int(present.notna().sum()),
                     "mean": present.mean(), "std": present.std(),
                     "per seed": ", ".join(per_seed)})
    return pd.DataFrame(rows, columns=["metric", "runs", "mean", "std", "per seed"])


def read_rerun(path: Path) -> dict:
    """A rerun file: `{"metric": "val_acc", "values": [...], "seeds": [...], "test":
    {"test_acc": [...]}}` (seeds and test optional, test values per seed), checked
    whole (values: at least 2 finite numbers; metric: text) before a report uses it."""
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError, RecursionError) as error:
        raise UserError(f"{path}: not a rerun file ({error}); expected JSON with a "
                        '"values" list of metric values') from None
    if not isinstance(data, dict) or "values" not in data:
        raise UserError(f"{path}: not a rerun file (no \"values\" list); expected JSON like "
                        '{"metric": "val_acc", "values": [85.1, 84.9]}')
    if not isinstance(data.get("metric"), str | None):
        raise UserError(f"{path}: \"metric\" must be a metric name, got {data['metric']!r:.80}")
    try:
        values = finite_values(data["values"])
    except UserError as error:
        raise UserError(f"{path}: {error}") from None
    test = data.get("test") or {}
    if not isinstance(test, dict) or not all(
            isinstance(v, list) and all(x is None or isinstance(x, int | float) for x in v)
            for v in test.values()):
        raise UserError(f"{path}: \"test\" must map test metrics to lists of numbers; re-run "
                        "`vgg-sweep rerun-best` to rewrite the file")
    return {"metric": data.get("metric"), "values": values, "seeds": data.get("seeds"),
            "test": test}
