"""`vgg-sweep train`: one trial, and the program a W&B agent runs.

Its options are generated from TrialConfig, one per field, in the form the W&B agent passes
them (`--lr=0.001 --autoaugment=True --activation=GELU`; `--batch-norm` works too). Started
by the local engine, it also reports each epoch to it and stops when pruned (the epoch channel
of `vgg_sweep.outcome`). Exit code 0: finished, pruned or interrupted; 1: failed.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
import uuid
from pathlib import Path

import click

from vgg_sweep.config import (
    FIELDS,
    ConfigError,
    choices,
    describe_allowed,
    field_type,
    make_config,
    parse_value,
    value_range,
)
from vgg_sweep.errors import UserError
from vgg_sweep.options import runs_dir_option
from vgg_sweep.outcome import State, engine_on_epoch
from vgg_sweep.record import make_dir


class FieldValue(click.ParamType):
    """Parses one TrialConfig field with the config's own rules (case-insensitive names,
    True/false booleans); a bad value is one line naming the allowed ones."""

    def __init__(self, name: str):
        self.field_name = name
        self.name = field_type(name).__name__

    def get_metavar(self, param, ctx=None) -> str:
        """What `--help` shows after the option: the choices in their canonical spelling
        (`[ReLU|GELU|...]`), `[true|false]`, `INTEGER in [1, 65536]`, or PATH/TEXT. Read on
        every call, so a choice registered after import is listed."""
        kind = field_type(self.field_name)
        if choices(self.field_name):
            return f"[{'|'.join(choices(self.field_name))}]"
        if kind is bool:
            return "[true|false]"
        if kind is str:
            return FIELDS[self.field_name].metadata["metavar"] or "TEXT"
        return " ".join(filter(None, ("INTEGER" if kind is int else "NUMBER",
                                      value_range(self.field_name))))

    def convert(self, value, param, ctx):
        try:
            return parse_value(self.field_name, value)
        except ConfigError as error:
            self.fail(f"{value!r} is not {describe_allowed(self.field_name)}", param, ctx)
            raise AssertionError from error  # fail() raises; keeps linters content


def config_options(command):
    """Add one `--field=value` option per TrialConfig field (default: the config's)."""
    for name in reversed(list(FIELDS)):
        field = FIELDS[name]
        flags = [f"--{name}"] + ([f"--{name.replace('_', '-')}"] if "_" in name else [])
        command = click.option(*flags, name, type=FieldValue(name), default=None,
                               help=f"{field.metadata['help']} [default: {field.default}]",
                               )(command)
    return command


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@config_options
@click.option("--sweep", default=None, help="sweep name: the run goes to RUNS_DIR/SWEEP/ "
              "[default: $WANDB_SWEEP_ID, else adhoc]")
@runs_dir_option()
@click.option("--run_id", "--run-id", default=None,
              help="run id [default: $WANDB_RUN_ID, else a new random id]")
@click.option("--name", default=None, help="display name of the run")
@click.option("--group", default=None, help="the configuration this run is one seed of (W&B's "
              "group) [default: the sweep]")
@click.option("--resume", is_flag=True, help="continue RUN_ID from its last checkpoint")
@click.option("--wandb_mode", "--wandb-mode", type=click.Choice(["online", "offline",
              "disabled"]), default=None, help="W&B mode [default: $WANDB_MODE, else online "
              "with an API key, else offline]")
def train(sweep, runs_dir, run_id, name, group, resume, wandb_mode, **values):
    """Train and evaluate one configuration; write its run record and log to W&B."""
    from vgg_sweep.phases import Phases, process_age
    from vgg_sweep.train import run_trial

    startup = process_age()  # the interpreter's start and the imports (torch), so far

    if resume and not run_id:
        raise click.UsageError("--resume needs --run_id=ID of the run to continue")
    config = make_config({key: value for key, value in values.items() if value is not None})
    # Under `wandb agent` the run and sweep ids come from the environment: the record then
    # sits in runs/<sweep id>/<run id>/, named like the W&B run.
    run_id = run_id or os.environ.get("WANDB_RUN_ID") or uuid.uuid4().hex[:8]
    sweep = sweep or os.environ.get("WANDB_SWEEP_ID")
    run_dir = Path(runs_dir) / (sweep or "adhoc") / run_id
    created = [folder for folder in (run_dir, *run_dir.parents) if not folder.exists()]
    make_dir(run_dir)
    try:
        result = run_trial(config, run_dir, run_id=run_id, sweep=sweep, name=name,
                           group=group, resume=resume, on_epoch=engine_on_epoch(),
                           show_progress=sys.stderr.isatty(), wandb_mode=wandb_mode,
                           phases=Phases(startup))
    except UserError:  # refused before training (data missing, a config that does not fit
        # it): leave no folder behind; the parents only when empty (another run may use them)
        if created:
            shutil.rmtree(run_dir, ignore_errors=True)
        for folder in created[1:]:
            with contextlib.suppress(OSError):
                folder.rmdir()
        raise
    summary = result.summary
    line = ", ".join(f"{key}={summary[key]:.2f}" for key in ("train_acc", "val_acc", "test_acc")
                     if isinstance(summary.get(key), float))
    click.echo(f"{run_id} {result.state}: {line} -> {run_dir}")
    if result.state == State.FAILED:
        click.echo(f"reason: {result.reason}", err=True)
        raise click.exceptions.Exit(1)
