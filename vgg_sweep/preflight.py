"""Preflight: before a sweep spends its budget, prove that every swept value reaches training.

For every swept parameter (each value of a `values` list; a distribution's two ends and its
middle) the other parameters are held at one base point and a probe runs: the trainer's own
`Trial` (`vgg_sweep.train`) on the sweep's data set, same seed, in this process, with no run
record and no W&B. Its fingerprint (`vgg_sweep.fingerprint`) says what the value reached.
A probe first builds the Trial (model, optimizer, lr schedule, planned steps); only when all
of those equal the base value's does it train STEPS steps of the first epoch for the rest
(first batch, loss, weights), as the base does then. A value whose fingerprint equals the
base value's in every part is dead: the trainer never received it. SVM trials are probed by
fitting on the first SVM_IMAGES training images (`vgg_sweep.svm`).

Fields that by design cannot change training (`inert` in `vgg_sweep.config`: data_dir,
device, telemetry switches...) are not probed; sweeping them is a warning. `vgg-sweep
sweep` runs this before a new sweep (`--no-preflight` skips it). Cost and sample output:
docs/preflight.md; tests/test_preflight.py patches the trainer to drop a flag and sees it
named.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, field
from itertools import combinations
from typing import Any

import click

from vgg_sweep.config import ConfigError, TrialConfig, applies, field_type, inert, make_config
from vgg_sweep.engine.distributions import quantise, support
from vgg_sweep.engine.spec import CHOICE_KINDS, Param, SweepSpec
from vgg_sweep.errors import UserError, warn
from vgg_sweep.options import override_option

SVM_IMAGES = 200  # an SVC fit on 200 images takes milliseconds; enough to move its weights

allow_dead_option = click.option(
    "--allow-dead", is_flag=True, help="run even when preflight finds a swept value that "
    "trains exactly as the base value (a warning instead of exit 2)")


def probe_values(param: Param) -> list[Any]:
    """The values preflight probes, the base value first: a list's values; a distribution's
    middle (geometric for log kinds), then its two ends."""
    if param.kind in CHOICE_KINDS:
        return list(param.args["values"])
    low, high = support(param)
    middle = math.sqrt(low * high) if "log" in param.kind else (low + high) / 2
    values = [middle, low, high]
    if "q" in param.args:
        values = [quantise(value, param.args["q"]) for value in values]
    if field_type(param.name) is int:
        values = [int(round(value)) for value in values]
    return list(dict.fromkeys(values))


@dataclass
class Evidence:
    """What one probed value changed against its base value (no parts: dead)."""

    name: str
    value: Any
    base: Any
    parts: list[str]
    complete: bool  # the training parts were compared too
    needs: dict[str, Any] = field(default_factory=dict)  # other values it needs to apply

    @property
    def dead(self) -> bool:
        return not self.parts

    def line(self) -> str:
        from vgg_sweep.fingerprint import describe

        where = "".join(f" (with {k}={v})" for k, v in self.needs.items())
        said = (describe(self.parts, self.complete) if self.parts
                else f"trains exactly as {self.base}")
        return f"{self.name}={self.value}{where}: {said}"


@dataclass
class Result:
    evidence: list[Evidence]
    probes: int  # Trials built (or SVMs fitted)
    trained: int  # of which trained STEPS steps
    seconds: float
    inert: list[str]

    @property
    def dead(self) -> list[Evidence]:
        return [item for item in self.evidence if item.dead]


class Prober:
    """Runs probes in this process; loads each data set once, probes each config once (once
    more to train it)."""

    def __init__(self):
        self.data: dict[tuple[str, str], Any] = {}
        self.fingerprints: dict[tuple[TrialConfig, bool], dict[str, Any]] = {}

    def fingerprint(self, config: TrialConfig, train: bool = True) -> dict[str, Any]:
        key = (dataclasses.replace(config, compile=False), train)  # inert; costs a minute
        if key not in self.fingerprints:
            self.fingerprints[key] = probe(key[0], self._dataset(config), train)
        return self.fingerprints[key]

    @property
    def trained(self) -> int:
        return sum(train for _, train in self.fingerprints)

    def compare(self, a: TrialConfig, b: TrialConfig) -> tuple[list[str], bool]:
        """The parts in which a and b differ, and whether the training parts were compared:
        the built Trials first, their first steps only when those agree."""
        from vgg_sweep.fingerprint import differing

        parts = differing(self.fingerprint(a, train=False), self.fingerprint(b, train=False))
        if parts:
            return parts, False
        return differing(self.fingerprint(a), self.fingerprint(b)), True

    def _dataset(self, config: TrialConfig):
        from vgg_sweep.data import load_dataset

        key = (config.dataset, config.data_dir)
        if key not in self.data:
            try:
                self.data[key] = load_dataset(*key)
            except UserError as error:
                raise UserError(f"preflight needs the sweep's data set: {error} (in a sweep: "
                                "--override data_dir=FOLDER)") from None
        return self.data[key]


@contextmanager
def _deterministic():
    """cuDNN's deterministic kernels: the same config gives the same loss and weights, so a
    dead value shows as dead on a GPU too."""
    import torch

    before = torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark
    torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = True, False
    try:
        yield
    finally:
        torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = before


def probe(config: TrialConfig, data, train: bool = True) -> dict[str, Any]:
    """The fingerprint of `config` after STEPS steps of the trainer's own Trial (`train`),
    or of the Trial as built; an SVM's after a fit on SVM_IMAGES images. No run record, no
    W&B."""
    from vgg_sweep.data import split
    from vgg_sweep.registry import MODELS
    from vgg_sweep.svm import fit_svc, svm_fingerprint
    from vgg_sweep.train import Trial, TrialFailed, resolve_device, torch_threads

    splits = split(data, config)
    if MODELS[config.model].family == "svm":
        x, y = splits.train_x[:SVM_IMAGES], splits.train_y[:SVM_IMAGES]
        # images: the size of the whole fit, which the slice does not show
        return {**svm_fingerprint(fit_svc(config, x, y), x, y), "images": len(splits.train_x)}
    try:
        device = resolve_device(config)
    except TrialFailed as failure:
        raise UserError(f"preflight cannot probe here: {failure}; run it where the sweep "
                        "runs, or pass --no-preflight") from None
    with torch_threads(config.threads), _deterministic():
        trial = Trial(config, splits, len(data.classes), data.mean, data.std, device)
        if not train:
            return trial.fingerprint.parts
        try:
            trial.train_epoch(should_stop=lambda: trial.fingerprint.complete)
        except TrialFailed as failure:  # diverged: live, and the sweep will say so
            return {**trial.fingerprint.parts, "outcome": str(failure)}
    return trial.fingerprint.parts


def context(name: str, base: dict[str, Any], swept: dict[str, list]) -> dict[str, Any]:
    """Values of other swept parameters (one, else two) under which `name` applies, when it
    does not at the base point (momentum needs an optimizer with momentum; degree an SVM
    with the poly kernel); {} when none is needed or none helps."""
    settings = [(other, value) for other, values in swept.items() if other != name
                for value in values]
    for size in range(3):
        for chosen in combinations(settings, size):
            extra = dict(chosen)
            if len(extra) == size and _applies(name, {**base, **extra}):
                return extra
    return {}


def _applies(name: str, values: dict[str, Any]) -> bool:
    try:
        return applies(name, make_config(values))
    except ConfigError:  # a combination that cannot train (momentum 0 with Nesterov)
        return False


def run_preflight(spec: SweepSpec, echo: Callable[[str], None] = click.echo) -> Result:
    """Probe every swept value of `spec` against its base value; print the evidence."""
    from vgg_sweep.fingerprint import STEPS

    start = time.perf_counter()
    swept = {name: probe_values(param) for name, param in spec.params.items()
             if param.kind != "constant"}
    inert_names = [name for name in swept if inert(name)]
    for name in inert_names:
        warn(f"sweeping `{name}` cannot change what is trained ({inert(name)})")
    probed = {name: values for name, values in swept.items() if not inert(name)}
    # swept inert fields keep their defaults: device=cuda first must not stop a CPU probe
    base = {**spec.constants, **{name: values[0] for name, values in probed.items()}}
    echo(f"preflight {spec.path}: base point "
         + " ".join(f"{name}={values[0]}" for name, values in probed.items()))
    prober, evidence = Prober(), []
    for name, values in probed.items():
        needs = context(name, base, probed)
        point = {**base, **needs}
        for value in values[1:]:
            parts, complete = prober.compare(make_config(point),
                                             make_config({**point, name: value}))
            item = Evidence(name, value, f"{name}={values[0]}", parts, complete, needs)
            evidence.append(item)
            echo("  " + item.line())
    result = Result(evidence, len(prober.fingerprints), prober.trained,
                    time.perf_counter() - start, inert_names)
    dead = {item.name for item in result.dead}
    echo(f"preflight: {len(probed) - len(dead)} of {len(probed)} swept parameters reach "
         f"the trainer; {result.probes} probes ({result.trained} trained {STEPS} steps) in "
         f"{result.seconds:.1f} s")
    return result


def check(spec: SweepSpec, allow_dead: bool, echo: Callable[[str], None] = click.echo,
          ) -> Result | None:
    """run_preflight, then refuse dead values (UserError, exit 2) unless `allow_dead`; a
    sweep that runs its own program is not probed (None)."""
    if spec.foreign:
        warn(f"preflight probes our trainer only; {spec.path} runs its own program "
             "(program:/command:), which is not probed")
        return None
    result = run_preflight(spec, echo)
    if result.dead:
        what = "; ".join(item.line() for item in result.dead)
        message = (f"preflight: {what}: the trainer never receives these values; fix the "
                   "trainer or drop them from the sweep")
        if not allow_dead:
            raise UserError(message + " (--allow-dead runs the sweep anyway)")
        warn(message)
    return result


@click.command()
@click.argument("sweep_file", type=click.Path(dir_okay=False))
@override_option()
@allow_dead_option
def preflight(sweep_file, overrides, allow_dead):
    """Probe every swept value for a few steps: does it reach the training? (exit 2: no)"""
    from vgg_sweep.engine.commands import _load

    check(_load(sweep_file, overrides), allow_dead)
