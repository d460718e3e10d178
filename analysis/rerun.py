"""Does the sweep's best hold up when re-run with other seeds?

`vgg-sweep rerun-best --seeds N` (in the cli, which owns the trainer) re-trains the best
config N times and hands the metric values here. The verdict: the sweep's best is
*reproduced* when it lies inside mean +- 2 std of the re-runs (std with ddof=1: about 95 %
of re-runs fall there if they are roughly normal). The [min, max] of the re-runs is reported
too, but not used: with a handful of seeds it is narrow by chance, and a sweep's best, picked
as the maximum of many noisy runs, sits above the typical run by construction.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from vgg_sweep.errors import UserError

RERUN_FILE = "rerun.json"
SPREAD = 2.0


def rerun_verdict(sweep_best: float, values: list[float]) -> dict:
    """mean, std, min, max of the re-runs and whether `sweep_best` is inside mean +- 2 std."""
    runs = np.asarray(values, dtype="float64")
    if len(runs) < 2 or not np.isfinite(runs).all():
        raise UserError(f"rerun-best needs at least 2 finite metric values, got {values!r}; "
                        "re-run with --seeds 2 or more")
    mean, std = float(runs.mean()), float(runs.std(ddof=1))
    low, high = mean - SPREAD * std, mean + SPREAD * std
    inside = bool(low <= sweep_best <= high)
    verdict = (f"reproduced: the sweep's best {sweep_best:.4g} is inside mean +- {SPREAD:g} std "
               f"[{low:.4g}, {high:.4g}]" if inside else
               f"not reproduced: the sweep's best {sweep_best:.4g} is outside mean +- "
               f"{SPREAD:g} std [{low:.4g}, {high:.4g}]; it was partly luck")
    return {"sweep_best": float(sweep_best), "runs": len(runs), "mean": mean, "std": std,
            "min": float(runs.min()), "max": float(runs.max()), "low": low, "high": high,
            "inside": inside, "verdict": verdict}


def read_rerun(path: Path) -> dict:
    """A rerun file: `{"metric": "val_acc", "values": [...], "seeds": [...]}` (seeds optional)."""
    try:
        data = json.loads(Path(path).read_text())
        values = [float(value) for value in data["values"]]
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise UserError(f"{path}: not a rerun file ({error}); expected JSON with a "
                        '"values" list of metric values') from None
    return {"metric": data.get("metric"), "values": values, "seeds": data.get("seeds")}
