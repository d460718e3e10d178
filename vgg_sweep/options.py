"""Command-line options that several commands share, each defined once (click's shared
option decorators): the same name, spelling, default and help wherever it appears.

Imports click only, so every command's `--help` stays fast.
"""

from __future__ import annotations

from pathlib import Path

import click


def runs_dir_option(help: str = "where run records go"):
    return click.option("--runs-dir", "--runs_dir", "runs_dir", default="runs",
                        show_default=True, type=click.Path(file_okay=False, path_type=Path),
                        help=help)


def override_option(help: str = "pin a parameter to a value, e.g. --override epochs=1"):
    return click.option("--override", "overrides", multiple=True, metavar="KEY=VALUE",
                        help=help)


def metric_option(command):
    return click.option("--metric", help="metric column (default: the first of val_acc, "
                        "best_val_acc, test_acc)")(command)


def goal_option(command):
    return click.option("--goal", type=click.Choice(["max", "min"]),
                        help="max or min (default: min for losses and errors, else max)"
                        )(command)


def workers_option(command):
    return click.option("--workers", type=click.IntRange(min=1), default=1, show_default=True,
                        help="worker processes on this machine")(command)


def in_process_option(command):
    return click.option("--in-process", "in_process", is_flag=True,
                        help="run trials inside the worker's process: no process per trial, "
                        "and no isolation (a crash in a trial ends the worker)"
                        )(command)
