"""`vgg-sweep rerun-best`: is the sweep's best configuration reproducible?

Finds the best run of SOURCE (analysis side), re-trains its configuration with N new seeds
as a local grid sweep over `seed` (engine side: resumable, parallel, one record per run),
then asks the analysis side for the verdict and writes it where the report reads it.
This command needs both sides, so it lives here, in the CLI layer
(docs/architecture.md, "Dependency direction").
"""

from __future__ import annotations

import json
import math
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


@click.command("rerun-best")
@click.argument("source")
@click.option("--seeds", type=click.IntRange(min=2), default=3, show_default=True,
              help="how many new seeds to train the best configuration with")
@metric_option
@goal_option
@click.option("-o", "--output", type=click.Path(file_okay=False, path_type=Path),
              help="report directory that receives rerun.json (default: "
              "reports/<source name>)")
@runs_dir_option("where re-runs go")
@workers_option
@in_process_option
@override_option("change a parameter of the re-runs, e.g. --override data_dir=data")
def rerun_best(source, seeds, metric, goal, output, runs_dir, workers, in_process, overrides):
    """Re-train the best configuration of SOURCE with new seeds; report mean +- std and
    whether the sweep's best lies inside that spread."""
    from analysis.report import ReportOptions, analysis_plan, build_report
    from analysis.rerun import RERUN_FILE, rerun_verdict
    from analysis.sources import load_source, report_dir
    from analysis.stats import best_run, included_runs
    from vgg_sweep.engine.commands import parse_overrides
    from vgg_sweep.engine.local import run_sweep
    from vgg_sweep.engine.spec import parse_spec, with_overrides

    table = load_source(source, metric=metric)
    # The same plan as `report` and `stats`: metric, goal and finished runs.
    plan = analysis_plan(table, ReportOptions(metric=metric, goal=goal))
    table, metric, goal = plan.table, plan.metric, plan.goal
    best = best_run(plan.analysed, metric, goal)
    if best is None:
        raise UserError(f"no finished run of {source} has a value of {metric}")
    base_seed = int(best["seed"]) if "seed" in best and best["seed"] == best["seed"] else 0
    seed_list = [base_seed + 1000 * (index + 1) for index in range(seeds)]
    name = f"{report_dir(source).name}_rerun"
    spec = parse_spec(rerun_spec_dict(name, best_config(best), seed_list, metric, goal),
                      f"rerun of {source}")
    spec = with_overrides(spec, parse_overrides(overrides))
    click.echo(f"re-running {best['name']} ({metric}={best[metric]:.4g}) with seeds "
               f"{seed_list}")
    run_sweep(spec, runs_dir=runs_dir, workers=workers, create=True, in_process=in_process)

    reruns = load_source(str(runs_dir / name), metric=metric)
    done, _ = included_runs(reruns, ("finished",))
    done = done[done["seed"].isin(seed_list)].sort_values("seed")
    values = [float(v) for v in done[metric]]
    verdict = rerun_verdict(float(best[metric]), values)
    output = output or report_dir(source)
    output.mkdir(parents=True, exist_ok=True)
    (output / RERUN_FILE).write_text(json.dumps(
        {"metric": metric, "values": values, "seeds": [int(s) for s in done["seed"]],
         "best_run": str(best["name"]), **verdict}, indent=1))
    build_report(table, output, ReportOptions(metric=metric, goal=goal,
                                              rerun=output / RERUN_FILE))
    click.echo(f"{metric}: {verdict['mean']:.4g} +- {verdict['std']:.2g} over "
               f"{verdict['runs']} seeds; {verdict['verdict']}")
    click.echo(f"wrote {output / RERUN_FILE} and {output / 'report.html'}")
