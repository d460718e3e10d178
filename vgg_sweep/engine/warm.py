"""Warm trials: every trial of our trainer still runs in a process of its own, forked from a
server that has already imported torch, the trainer, W&B, scikit-learn and matplotlib.

A fresh interpreter per trial (what a W&B agent starts) pays ~3 s of imports, and the first
optimizer another second (torch imports `torch._dynamo`), before the first batch. Here each
worker starts one fork server (Python's `multiprocessing` forkserver) when it starts, which
imports all that (what the sweep's trials need: `preload_for`) and freezes it out of the
garbage collector's sight; a trial is a fork of it that runs `vgg-sweep train ...` with the
arguments, environment, output file and epoch channel it would have had as a subprocess, so
the run, its record and its exit code are the same (tests/engine/test_warm.py). Isolation is
kept: a trial that crashes, leaks or calls `os._exit` ends its own process only, and the
worker goes on to the next.

Safe with CUDA: the server imports and does nothing else, so CUDA is first initialised in
each trial after its fork (tested: no CUDA context and no Python thread in the server). Each
worker's GPU (`CUDA_VISIBLE_DEVICES`) and thread count are set before its server starts.
With W&B enabled, the worker also starts W&B's service once (`wandb.setup()`, W&B's own
advice for runs in child processes), and every trial's run connects to it instead of
starting its own. The server and its trials end with their worker (a kill -9 too).
"""

from __future__ import annotations

import multiprocessing
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from multiprocessing import reduction
from pathlib import Path

from vgg_sweep.engine.spec import SweepSpec, field_values
from vgg_sweep.outcome import CHANNEL_ENV
from vgg_sweep.registry import MODELS

# What a trial imports, once per worker: the trainer and everything it imports lazily, in
# groups that a sweep's trials may not need (sklearn alone is 0.9 s of a server's ~4 s;
# which trial imports what: tests/engine/test_warm.py).
TRAINER = ("torch", "torch._dynamo", "torchvision", "torchvision.transforms.v2", "tqdm",
           "ptflops", "vgg_sweep.cli", "vgg_sweep.train_command", "vgg_sweep.train",
           "vgg_sweep.telemetry_plots")
SVM = ("sklearn.svm", "vgg_sweep.svm")
PLOTS = ("matplotlib.figure", "seaborn")
# wandb.init imports W&B's launch package (0.5 s), its first log W&B's OpenTelemetry (0.35 s),
# its tables pandas (0.5 s)
WANDB = ("wandb", "wandb.sdk.launch", "wandb.sdk.launch.inputs.internal", "requests", "yaml",
         "pandas", "PIL.Image", "opentelemetry.sdk.metrics", "opentelemetry.sdk.trace",
         "opentelemetry.sdk._logs.export", "opentelemetry.exporter.otlp.proto.http._log_exporter",
         "opentelemetry.exporter.otlp.proto.http.metric_exporter")


def preload_for(spec: SweepSpec, wandb_enabled: bool) -> tuple[str, ...]:
    """The modules the sweep's trials import: the trainer's, and scikit-learn when a trial
    may train an SVM, matplotlib when one may draw plots, W&B when it is enabled (a field
    drawn from a distribution may take any value)."""
    models = field_values(spec, "model")
    plots = field_values(spec, "plots")
    svm = models is None or any(MODELS[model].family == "svm" for model in models)
    return (TRAINER + (SVM if svm else ()) + (PLOTS if plots is None or True in plots else ())
            + (WANDB if wandb_enabled else ()))


def _context(modules: tuple[str, ...] = ()):
    """The forkserver context; its server, started by the first fork, imports `modules`,
    then `warm_server` (gc.freeze)."""
    context = multiprocessing.get_context("forkserver")
    if modules:
        context.set_forkserver_preload([*modules, "vgg_sweep.engine.warm_server"])
    return context


@contextmanager
def warm_server(spec: SweepSpec, wandb_enabled: bool) -> Iterator[None]:
    """Start this process's fork server and wait until it has imported what the sweep's
    trials import (seconds, once per worker: the first trial's time is its own); when the
    trials use W&B, start W&B's service too, and stop it at the end."""
    # Forked once the imports are done: no trial is claimed, its lease running, meanwhile.
    ready = _context(preload_for(spec, wandb_enabled)).Process(target=_ready, name="ready")
    ready.start()
    shared = wandb_enabled and _wandb_setup()  # while the server imports
    ready.join()
    try:
        yield
    finally:
        if shared:
            import wandb

            with suppress(Exception):  # the worker is ending anyway
                wandb.teardown()


def _wandb_setup() -> bool:
    """W&B's service for this worker's trials (`wandb.setup` sets WANDB_SERVICE in
    os.environ, which each trial's environment copies); False when it cannot start: each
    trial then starts W&B itself, and fails with W&B's own error if that fails too."""
    import wandb

    try:
        wandb.setup()
    except Exception:
        return False
    return True


def _ready() -> None:
    """The first fork of a server: forked, so the server has finished its imports."""


class WarmTrial:
    """`vgg-sweep train ARGS` forked from the warm server, its output appended to `output`,
    with `env` as its environment and the epoch channel's `fds` (EpochChannel.fds); it has
    the methods of `subprocess.Popen` the runner uses."""

    def __init__(self, args: list[str], output: Path, env: dict[str, str],
                 fds: tuple[int, ...]):
        self.args = args
        self._process = _context().Process(
            target=_trial_main, name="trial", daemon=False,
            args=(args, str(output), env, tuple(_Inherited(fd) for fd in fds)))
        self._process.start()
        self.pid = self._process.pid

    @property
    def returncode(self) -> int | None:
        return self._process.exitcode

    def poll(self) -> int | None:
        return self._process.exitcode

    def send_signal(self, signum: int) -> None:
        if self._process.exitcode is None:
            os.kill(self._process.pid, signum)

    def kill(self) -> None:
        self._process.kill()

    def wait(self, timeout: float | None = None) -> int:
        self._process.join(timeout)
        if self._process.exitcode is None:
            raise subprocess.TimeoutExpired(self.args, timeout)
        return self._process.exitcode


class _Inherited:
    """A file descriptor the trial inherits through the fork server (its number there)."""

    def __init__(self, fd: int):
        self.fd = fd

    def __reduce__(self):
        return _detach, (reduction.DupFd(self.fd),)


def _detach(duplicate) -> int:
    return duplicate.detach()


def _trial_main(args: list[str], output: str, env: dict[str, str],
                channel: tuple[int, ...]) -> None:
    """The trial's process: its output to the run's log, the worker's environment (with the
    epoch channel's descriptors as numbered here), then the CLI's `train` as
    `python -m vgg_sweep train ARGS` runs it; its return value is the exit code."""
    from vgg_sweep.cli import main
    from vgg_sweep.engine.runner import die_with_parent

    die_with_parent()
    with open(output, "ab") as log:
        for fd in (1, 2):
            os.dup2(log.fileno(), fd)
    os.environ.clear()
    os.environ.update(env)
    if channel:
        os.environ[CHANNEL_ENV] = ",".join(str(fd) for fd in channel)
    sys.argv = [sys.executable, "-m", "vgg_sweep", *args]
    sys.exit(main(args))
