"""`vgg-sweep rerun-best`: is the sweep's best configuration reproducible?

Finds the best run of SOURCE (analysis side), re-trains its configuration with N seeds as
local grid sweeps over `seed` (engine side: resumable, parallel, one record per run), then
asks the analysis side for the verdict and writes it where the report reads it.

The re-runs of one best run live in `<runs-dir>/<name>/`, name `<source>_rerun_<best run>`
(or `--name`): a new best gets its own folder. The seeds are fixed (base seed + 1000 k), and
each call trains only those of the first N that have no finished re-run yet, as a grid
sweep `<name>_seeds<first>-<last>` inside that folder; so `--seeds 5` after `--seeds 3`
trains two more runs and reports all five. This command needs both sides, so it lives here,
in the CLI layer (docs/architecture.md, "Dependency direction").
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import click

from vgg_sweep.config import FIELDS, ConfigError, parse_value
from vgg_sweep.errors import UserError
from vgg_sweep.options import (
    goal_option,
    in_process_option,
    metric_option,
    override_option,
    runs_dir_option,
    workers_option,
)


def best_config(best) -> dict:
    """The TrialConfig part of the best run's row: missing values and foreign keys dropped.

    A value our trainer does not accept (from a W&B export of another trainer) is an error:
    re-running something else than the sweep's best would make the verdict meaningless."""
    config = {}
    for key, value in best.items():
        if key not in FIELDS or key == "seed" or value is None:
            continue
        if isinstance(value, float) and math.isnan(value):
            continue
        try:
            config[key] = parse_value(key, value)
        except ConfigError as error:
            raise UserError(f"the best run's config cannot be re-run: {error}") from None
    return config


def rerun_spec_dict(name: str, config: dict, seeds: list[int], metric: str, goal: str) -> dict:
    """A W&B grid sweep that varies only the seed: what `wandb sweep` would accept too."""
    parameters = {key: {"value": value} for key, value in config.items()}
    parameters["seed"] = {"values": seeds}
    return {"name": name, "method": "grid",
            "metric": {"name": metric, "goal": "maximize" if goal == "max" else "minimize"},
            "command": ["${env}", "${interpreter}", "-m", "vgg_sweep", "train", "${args}"],
            "parameters": parameters}


def rerun_seeds(base_seed: int, count: int) -> list[int]:
    """The re-runs' seeds: base + 1000, base + 2000, ... (never the sweep's own seed)."""
    return [base_seed + 1000 * (index + 1) for index in range(count)]


def rerun_name(source_name: str, best) -> str:
    """`<source>_rerun_<best run>`: a folder name of its own for every best run."""
    run = best.get("id") if isinstance(best.get("id"), str) else None
    return f"{source_name}_rerun_" + re.sub(r"[^0-9A-Za-z._-]", "_", run or str(best["name"]))


@click.command("rerun-best")
@click.argument("source")
@click.option("--seeds", type=click.IntRange(min=2), default=3, show_default=True,
              help="how many seeds the best configuration is re-run with in all; seeds "
                   "already re-run are kept, only the missing ones are trained")
@click.option("--name", metavar="NAME",
              help="folder (under --runs-dir) of the re-runs; default "
                   "<source name>_rerun_<best run id>")
@metric_option
@goal_option
@click.option("-o", "--output", type=click.Path(file_okay=False, path_type=Path),
              help="report directory that receives rerun.json (default: "
              "reports/<source name>)")
@runs_dir_option("where re-runs go")
@workers_option
@in_process_option
@override_option("change a parameter of the re-runs, e.g. --override data_dir=data")
def rerun_best(source, seeds, name, metric, goal, output, runs_dir, workers, in_process,
               overrides):
    """Re-train the best configuration of SOURCE with new seeds; report mean +- std of the
    metric and of the test metrics, and how far the sweep's best lies from them."""
    from analysis.report import ReportOptions, analysis_plan, build_report
    from analysis.rerun import RERUN_FILE, rerun_test_table, rerun_verdict
    from analysis.sources import load_source, report_dir
    from analysis.stats import best_run

    table = load_source(source, metric=metric)
    # The same plan as `report` and `stats`: metric, goal and finished runs.
    plan = analysis_plan(table, ReportOptions(metric=metric, goal=goal))
    table, metric, goal = plan.table, plan.metric, plan.goal
    best = best_run(plan.analysed, metric, goal)
    if best is None:
        raise UserError(f"no finished run of {source} has a value of {metric}")
    unknown = [param for param in plan.params if param not in FIELDS]
    if unknown:
        raise UserError(f"{source}: swept {', '.join(unknown)} are not options of our trainer: "
                        "these runs came from another program; re-run its best configuration "
                        "with that program (vgg-sweep sweep SWEEP.yaml --seeds N with the "
                        "point fixed)")
    base_seed = int(best["seed"]) if "seed" in best and best["seed"] == best["seed"] else 0
    seed_list = rerun_seeds(base_seed, seeds)
    name = name or rerun_name(report_dir(source).name, best)
    if not re.fullmatch(r"[0-9A-Za-z._-]+", name) or name in (".", ".."):
        raise UserError(f"--name {name!r}: use letters, digits, '.', '_' and '-' (a folder "
                        "name)")
    folder = Path(runs_dir) / name
    done = _finished_reruns(folder, metric, seed_list)
    missing = [seed for seed in seed_list if seed not in set(done["seed"])]
    click.echo(f"re-runs of {best['name']} ({metric}={best[metric]:.4g}) in {folder}: "
               f"{len(seed_list) - len(missing)} of {len(seed_list)} seeds done"
               + (f", training seeds {missing}" if missing else ", nothing to train"))
    if missing:
        _train(best, missing, metric, goal, folder, source, overrides, workers, in_process)
        done = _finished_reruns(folder, metric, seed_list)
    values = [float(v) for v in done[metric]]
    verdict = rerun_verdict(float(best[metric]), values)
    test = {column: [None if v != v else float(v) for v in done[column]]
            for column in done.columns if str(column).startswith("test_")}
    seeds_done = [int(seed) for seed in done["seed"]]
    output = output or report_dir(source)
    output.mkdir(parents=True, exist_ok=True)
    (output / RERUN_FILE).write_text(json.dumps(
        {"metric": metric, "values": values, "seeds": seeds_done,
         "test": test, "best_run": str(best["name"]), "runs_dir": str(folder), **verdict},
        indent=1))
    build_report(table, output, ReportOptions(metric=metric, goal=goal,
                                              rerun=output / RERUN_FILE))
    click.echo(f"{metric}: {verdict['mean']:.4g} +- {verdict['std']:.2g} over "
               f"{verdict['runs']} seeds; {verdict['verdict']}")
    for _, row in rerun_test_table({"seeds": seeds_done, "test": test}).iterrows():
        if row["runs"] >= 2:
            click.echo(f"{row['metric']}: {row['mean']:.4g} +- {row['std']:.2g} over "
                       f"{row['runs']} seeds ({row['per seed']})")
    click.echo(f"wrote {output / RERUN_FILE} and {output / 'report.html'}")


def _finished_reruns(folder: Path, metric: str, seeds: list[int]):
    """The finished re-runs among `seeds` in `folder` (every batch), one per seed, by seed."""
    import pandas as pd

    from analysis.runs import numeric_metric
    from analysis.sources import load_source
    from analysis.stats import included_runs

    if not any(folder.rglob("record.json")):
        return pd.DataFrame({"seed": pd.Series(dtype="int64"), metric: pd.Series(
            dtype="float64")})
    reruns = load_source(str(folder), metric=metric)
    if metric in reruns.frame:
        reruns = numeric_metric(reruns, metric)
    done, _ = included_runs(reruns, ("finished",))
    if "seed" not in done or metric not in done:
        return pd.DataFrame({"seed": pd.Series(dtype="int64"), metric: pd.Series(
            dtype="float64")})
    done = done[done["seed"].isin(seeds) & done[metric].notna()]
    return done.drop_duplicates("seed").sort_values("seed")


def _train(best, seeds: list[int], metric: str, goal: str, folder: Path, source: str,
           overrides, workers: int, in_process: bool) -> None:
    """Train the best configuration with `seeds`: one grid sweep inside `folder`."""
    from vgg_sweep.engine.commands import parse_overrides
    from vgg_sweep.engine.local import run_sweep
    from vgg_sweep.engine.spec import parse_spec, with_overrides

    batch = f"{folder.name}_seeds{seeds[0]}-{seeds[-1]}"
    spec = parse_spec(rerun_spec_dict(batch, best_config(best), seeds, metric, goal),
                      f"rerun of {source}")
    spec = with_overrides(spec, parse_overrides(overrides))
    run_sweep(spec, runs_dir=folder, workers=workers, create=True, in_process=in_process)
