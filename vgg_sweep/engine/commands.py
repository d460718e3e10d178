"""`vgg-sweep validate`, `vgg-sweep sweep` and `vgg-sweep agent`."""

from __future__ import annotations

from pathlib import Path

import click

from vgg_sweep.engine.spec import SweepSpec, describe_draws, load_spec, with_seeds
from vgg_sweep.errors import UserError, warn
from vgg_sweep.options import in_process_option, override_option, runs_dir_option, workers_option
from vgg_sweep.phases import breakdown
from vgg_sweep.preflight import allow_dead_option
from vgg_sweep.progress import closing
from vgg_sweep.record import make_dir


def parse_overrides(values: tuple[str, ...]) -> dict[str, str]:
    """`KEY=VALUE` strings as {key: value}; keys and values are checked by `load_spec`."""
    pairs = {}
    for item in values:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise click.BadParameter(f"{item!r} is not key=value, e.g. epochs=1",
                                     param_hint="--override")
        pairs[key.strip()] = value.strip()
    return pairs


def _load(path: str, overrides: tuple[str, ...] = ()) -> SweepSpec:
    spec = load_spec(path, parse_overrides(overrides))
    for warning in spec.warnings:
        warn(warning)
    return spec


def space_summary(spec: SweepSpec) -> str:
    """What the sweep will search, in one line."""
    parts = [f"method={spec.method}", spec.search.describe(spec)]
    if spec.foreign:
        parts.insert(0, f"runs {spec.program or ' '.join(spec.command or ())}")
    if spec.constants:
        parts.append("fixed " + " ".join(f"{k}={v}" for k, v in spec.constants.items()))
    if spec.metric:
        parts.append(f"metric {spec.metric} ({spec.goal})")
    if spec.hyperband:
        bands = list(spec.hyperband.bands[:6])
        parts.append(f"hyperband eta={spec.hyperband.eta:g} bands {bands}"
                     + ("..." if len(spec.hyperband.bands) > 6 else ""))
    if spec.run_cap:
        parts.append(f"run_cap {spec.run_cap}")
    if spec.seeds > 1:
        parts.append(f"{spec.seeds} seeds per configuration")
    return "; ".join(parts)


@click.command()
@click.argument("sweep_file", type=click.Path(dir_okay=False))
@override_option()
def validate(sweep_file, overrides):
    """Check a W&B sweep YAML against W&B's schema, the trial config and the metrics trials
    log; show what each swept parameter draws."""
    spec = _load(sweep_file, overrides)
    click.echo(f"OK {click.format_filename(sweep_file)}: sweep {spec.name!r}: "
               f"{space_summary(spec)}")
    for line in describe_draws(spec):
        click.echo(f"  {line}")


def _engine_options(command):
    options = [
        click.argument("sweep_file", type=click.Path(dir_okay=False)),
        workers_option,
        click.option("--gpus", default=None, help="one worker per GPU, e.g. 0,1 (sets "
                     "CUDA_VISIBLE_DEVICES per worker)"),
        click.option("--count", type=click.IntRange(min=1), default=None,
                     help="stop once the sweep has this many trials done (finished, pruned, "
                     "failed, no metric), earlier runs of it included: after Ctrl-C the "
                     "same command runs only the rest [default: the whole grid or run_cap; "
                     "a random or bayes sweep without run_cap runs until Ctrl-C]"),
        click.option("--storage", default=None, help="postgresql://USER:PASS@HOST/DB for "
                     "several machines [default: journal file RUNS_DIR/SWEEP/study.log]"),
        runs_dir_option(),
        in_process_option,
        click.option("--cold-start", is_flag=True, help="start every trial in a fresh Python "
                     "interpreter, as a W&B agent does, instead of forking it from the "
                     "worker's warm server (imports done once per worker); the same runs, "
                     "~3 s slower per trial"),
        override_option(),
        click.option("--seed", type=int, default=0, show_default=True,
                     help="seed of random and bayes search (kept by the study)"),
        click.option("--seeds", type=int, default=None, help="train every configuration with "
                     "N seeds (seed, seed+1, ...; one run each); the search sees their mean "
                     "[default: the YAML's seeds:, else 1]"),
        click.option("--heartbeat", type=click.FloatRange(min=0.1), default=10.0,
                     show_default=True, help="seconds between lease renewals; a trial "
                     "silent for 3x this is retried"),
        click.option("--max-consecutive-failures", "max_failures", type=click.IntRange(min=0),
                     default=5, show_default=True, help="stop the sweep (all workers, all "
                     "machines) after this many trials in a row failed or crashed; 0: never"),
    ]
    for option in reversed(options):
        command = option(command)
    return command


EXIT_CODES = """\b
Exit code: 0 every trial of this run finished or was pruned; 1 a trial failed for
good (crashed twice, or failed), a trial finished without logging the sweep's metric,
a worker stopped on an error, or the sweep stopped after --max-consecutive-failures;
2 a mistake in the command or the YAML; 130 Ctrl-C.
Run the same command again to resume."""


def _run(create: bool, sweep_file, workers, gpus, count, storage, runs_dir, in_process,
         cold_start, overrides, seed, seeds, heartbeat, max_failures, retry_failed=False,
         no_preflight=True, allow_dead=False):
    from vgg_sweep.engine.local import run_sweep
    from vgg_sweep.engine.storage import check_storage, storage_kind

    spec = _load(sweep_file, overrides)
    spec = spec if seeds is None else with_seeds(spec, seeds)
    if in_process and spec.foreign:
        raise UserError(f"--in-process runs our trainer only, and {sweep_file} runs its own "
                        "program (program:/command:); drop --in-process")
    gpu_list = [g.strip() for g in gpus.split(",") if g.strip()] if gpus else None
    if gpu_list and workers != 1 and workers != len(gpu_list):
        raise click.UsageError(f"--workers {workers} and --gpus {gpus}: one worker per GPU; "
                               "drop --workers")
    if storage is None or storage_kind(storage).local_dir:  # say now if it cannot be made
        make_dir(Path(runs_dir) / spec.name, "--runs-dir")
    if storage is not None:  # a storage several workers cannot share: said before preflight
        check_storage(storage, len(gpu_list) if gpu_list else workers)
    if create and not no_preflight and _is_new(spec, storage, runs_dir):
        from vgg_sweep.preflight import check

        check(spec, allow_dead)
    if count is None and spec.unbounded:
        warn(f"{spec.method} search without --count or run_cap draws trials until Ctrl-C (the "
             "same command resumes); bound it with --count N or run_cap: in the YAML")
    click.echo(f"sweep {spec.name!r}: {space_summary(spec)}")
    summary = run_sweep(spec, storage=storage, runs_dir=Path(runs_dir), workers=workers,
                        count=count, gpus=gpu_list, create=create, seed=seed,
                        retry_failed=retry_failed, in_process=in_process,
                        cold_start=cold_start, heartbeat=heartbeat, max_failures=max_failures)
    counts = ", ".join(f"{summary.states.get(k, 0)} {k}" for k in
                       ("finished", "pruned", "failed", "no metric", "retried")
                       if k != "no metric" or summary.states.get(k))
    rerun = f" ({summary.rerun} failed trials run again)" if retry_failed else ""
    click.echo(f"sweep {spec.name!r}: {counts}{rerun}; records in {Path(runs_dir) / spec.name}")
    if summary.timed_runs:
        click.echo(breakdown(summary.seconds, summary.timed_runs))
    click.echo(closing(spec.metric, summary.best, spec.constants,
                       f"vgg-sweep report {Path(runs_dir) / spec.name}"))
    if count is not None and summary.done_before >= count:
        click.echo(f"--count {count}: the sweep had {summary.done_before} trials done already; "
                   "raise --count to run more")
    for line in summary.errors:
        click.echo(f"vgg-sweep: error: {line}", err=True)
    if summary.no_metric:
        click.echo(f"vgg-sweep: error: {len(summary.no_metric)} trial(s) finished without "
                   f"logging {spec.metric} (runs {', '.join(summary.no_metric)}): counted as "
                   "'no metric', not ranked" + ("; the note in each run's record.json names "
                                                "what the program logged" if spec.foreign
                                                else ""), err=True)
    if summary.broken_workers and not summary.errors:
        warn(f"{summary.broken_workers} worker(s) died; run the same command again to resume")
    if summary.interrupted:
        click.echo("interrupted: run the same command again to resume", err=True)
        raise click.exceptions.Abort()
    if summary.stopped:
        click.echo(f"vgg-sweep: error: sweep stopped: {summary.stopped}; fix that and run the "
                   "same command again (`vgg-sweep sweep --retry-failed` also reruns the failed "
                   "trials; --max-consecutive-failures 0 never stops)", err=True)
    elif summary.new_failures:
        click.echo(f"vgg-sweep: {summary.new_failures} trial(s) of this run failed; "
                   "`vgg-sweep sweep --retry-failed` runs them again", err=True)
    if summary.stopped or summary.new_failures or summary.broken_workers or summary.no_metric:
        raise click.exceptions.Exit(1)


def _is_new(spec: SweepSpec, storage: str | None, runs_dir) -> bool:
    """No study of this sweep in the storage yet (a resume skips preflight)."""
    import optuna

    from vgg_sweep.engine.storage import default_journal, open_storage

    url = storage or default_journal(runs_dir, spec.name)
    return spec.name not in optuna.study.get_all_study_names(open_storage(url))


@click.command(epilog=EXIT_CODES)
@_engine_options
@click.option("--retry-failed", is_flag=True, help="first enqueue the trials that failed for "
              "good again, as new runs (new run ids; finished trials are not run again)")
@click.option("--no-preflight", is_flag=True, envvar="VGG_SWEEP_NO_PREFLIGHT", show_envvar=True,
              help="start a new sweep without first probing that every swept value reaches "
              "the training (vgg-sweep preflight)")
@allow_dead_option
def sweep(**options):
    """Create (or resume) a local sweep from a W&B sweep YAML and run it: our trainer, or
    the file's own program:/command: as `wandb agent` runs it (W&B offline)."""
    _run(True, **options)


@click.command(epilog=EXIT_CODES)
@_engine_options
def agent(**options):
    """Join a sweep started elsewhere (same YAML, same --storage) and run its trials."""
    _run(False, **options)
