"""`vgg-sweep report`, `export` and `stats`: the analysis side of the command line.

Registered lazily by `vgg_sweep.cli`; this module imports only click and the standard
library at import time, so `vgg-sweep report --help` answers at once. pandas, matplotlib
and scikit-learn are imported when a command runs.
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from vgg_sweep.errors import UserError
from vgg_sweep.options import goal_option, metric_option

SOURCE_HELP = ("SOURCE is a runs directory (runs/<sweep>/), a W&B CSV export, or "
               "wandb:ENTITY/PROJECT[/SWEEP_ID] (W&B API; needs `wandb login`).")


def _parse_states(value: str) -> tuple[str, ...] | None:
    if value.strip().lower() == "all":
        return None
    states = tuple(state.strip().lower() for state in value.split(",") if state.strip())
    if not states:
        raise UserError("--states: no state given; pass e.g. --states finished,crashed or all")
    return states


def _parse_by(values: tuple[str, ...]) -> list[list[str]]:
    groups = [[name.strip() for name in value.split(",") if name.strip()] for value in values]
    if not all(groups):
        raise UserError("--by: no parameter given; pass e.g. --by optimizer or --by lr,optimizer")
    return groups


def _parse_formats(value: str) -> tuple[str, ...]:
    formats = tuple(dict.fromkeys(name.strip().lower() for name in value.split(",")
                                  if name.strip()))
    unknown = [name for name in formats if name not in ("png", "pdf", "svg")]
    if unknown:
        raise UserError(f"--format: unknown figure format {unknown[0]!r}; choose from png, "
                        "pdf, svg (comma-separated)")
    return formats


def _parse_filters(value: str | None) -> dict | None:
    if value is None:
        return None
    try:
        filters = json.loads(value)
    except json.JSONDecodeError as error:
        raise UserError(f"--filters: not JSON ({error.msg}); e.g. "
                        '\'{"config.optimizer": "Adam"}\'') from None
    if not isinstance(filters, dict):
        raise UserError('--filters: expected a JSON object, e.g. {"state": "finished"}')
    return filters


def _load(source: str, metric: str | None, filters: str | None):
    from analysis.sources import load_source

    return load_source(source, metric=metric, filters=_parse_filters(filters))


def _common(function):
    """Options shared by every analysis command."""
    options = [
        click.argument("source"),
        metric_option,
        click.option("--filters", metavar="JSON",
                     help="W&B sources only: MongoDB-style run filter, e.g. "
                          '\'{"config.optimizer": "Adam"}\''),
    ]
    for option in reversed(options):
        function = option(function)
    return function


def _analysis_options(function):
    """Options of the commands that compute statistics."""
    options = [
        goal_option,
        click.option("--states", default="finished", show_default=True,
                     help="run states to analyse: comma-separated, or 'all'"),
        click.option("--by", multiple=True, metavar="PARAM[,PARAM]",
                     help="group by this parameter, or by a comma-separated combination "
                          "(repeatable; default: every swept parameter)"),
    ]
    for option in reversed(options):
        function = option(function)
    return function


@click.command(epilog=SOURCE_HELP)
@_common
@_analysis_options
@click.option("-o", "--output", type=click.Path(file_okay=False, path_type=Path),
              help="report directory (default: reports/<source name>)")
@click.option("--top-k", default=5, show_default=True, type=click.IntRange(1, 50),
              help="runs whose training curves are drawn")
@click.option("--rerun", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="rerun-best results (JSON with a 'values' list; default: "
                   "<output>/rerun.json when present)")
@click.option("--format", "formats", default="png,pdf,svg", show_default=True,
              metavar="FORMATS", help="figure formats, comma-separated, of png, pdf, svg: "
              "PDF and SVG go to <output>/figures/ (the PNG is always written)")
def report(source, metric, filters, goal, states, by, output, top_k, rerun, formats):
    """Write a sweep report: HTML and Markdown pages, figures (PNG, PDF, SVG) and tables
    (CSV, Markdown, LaTeX)."""
    from analysis.report import ReportOptions, build_report
    from analysis.sources import report_dir

    table = _load(source, metric, filters)
    output = output or report_dir(source)
    options = ReportOptions(metric=metric, goal=goal, states=_parse_states(states),
                            by=_parse_by(by), top_k=top_k, rerun=rerun,
                            formats=_parse_formats(formats))
    build_report(table, output, options)
    click.echo(f"wrote {output / 'report.html'} ({len(table.frame)} runs)")


@click.command(epilog=SOURCE_HELP)
@_common
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="CSV file to write (W&B export format)")
def export(source, metric, filters, output):
    """Write the runs of SOURCE as a W&B-compatible CSV export."""
    from analysis.wandb_csv import write_csv_export

    table = _load(source, metric, filters)
    write_csv_export(table, output)
    click.echo(f"wrote {output} ({len(table.frame)} runs)")


@click.command(epilog=SOURCE_HELP)
@_common
@_analysis_options
@click.option("--format", "fmt", type=click.Choice(["md", "csv"]), default="md",
              show_default=True, help="output format")
def stats(source, metric, filters, goal, states, by, fmt):
    """Print group statistics of the metric: per swept parameter, or exactly the tables
    asked for with --by (--by A,B: the A x B table alone)."""
    from analysis.report import ReportOptions, analysis_plan, markdown_table
    from analysis.stats import group_stats, one_way_stats

    table = _load(source, metric, filters)
    groups = [list(dict.fromkeys(group)) for group in _parse_by(by)]  # --by A,A is --by A
    plan = analysis_plan(table, ReportOptions(metric=metric, goal=goal,
                                              states=_parse_states(states), by=groups))
    singles = any(len(group) == 1 for group in groups) or not groups
    tables = [one_way_stats(plan.analysed, plan.params, plan.metric, plan.goal, plan.left_out)
              ] if singles else []
    tables += [group_stats(plan.analysed, group, plan.metric, plan.goal, plan.left_out)
               for group in plan.multi]
    if fmt == "csv" and len(tables) > 1:
        raise UserError("--format csv prints one table: pass one --by (e.g. --by A,B), or "
                        "several single parameters (--by A --by B)")
    for result in tables:
        click.echo(result.to_csv(index=False) if fmt == "csv"
                   else markdown_table(result, None) + "\n", nl=fmt != "csv")
    if len(plan.left_out):
        click.echo(f"excluded: {len(plan.left_out)} runs not in states {states} "
                   "(--states all includes them)", err=True)
