"""A trial's fingerprint: what its configuration actually reached, in named parts.

Two trials with the same fingerprint trained alike, whatever their configs say; a swept value
whose fingerprint equals another's never reached the trainer (`vgg_sweep.preflight`, and the
no-effect lint of `analysis/lints.py`, which reads it from the run record's summary). The
trainer builds it at the start of training (`Trial.fingerprint`), from its own objects:

| part | what it is |
|---|---|
| model | the module tree (types, settings such as dropout p) and the parameter shapes |
| optimizer | the optimizer's class and every param-group hyperparameter (lr, momentum, ...) |
| schedule | the learning rate of every step of the whole run, as planned before the first |
| steps | the planned number of optimisation steps (steps per epoch x epochs) |
| batch | the first training batch after augmentation and normalisation |
| loss | the mean training loss of the first STEPS steps |
| weights | all weights and buffers after the first STEPS steps |

Parts are short digests (sha256) or plain numbers, so a record stays small and two runs
compare part by part. An SVM trial has its own parts (`vgg_sweep.svm.fit_svc`).
"""

from __future__ import annotations

import copy
import hashlib
import warnings
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from vgg_sweep.registry import SCHEDULERS

if TYPE_CHECKING:
    from vgg_sweep.train import Trial

STEPS = 2  # optimisation steps the loss and weights cover: momentum acts from the 2nd on
WORDS = {  # how a report names each part
    "model": "the model", "optimizer": "the optimizer", "schedule": "the lr schedule",
    "steps": "the planned steps", "batch": "the training batches", "loss": "the loss",
    "weights": "the weights", "images": "the training set size", "outcome": "the outcome",
}
PLAN = ("steps", "schedule")  # parts that the first steps of training do not show


def digest(*things: Any) -> str:
    """A short hash of tensors and arrays (their bytes, dtype and shape) and plain values
    (their repr)."""
    hasher = hashlib.sha256()
    for thing in things:
        if isinstance(thing, np.ndarray):
            thing = torch.from_numpy(np.ascontiguousarray(thing))
        if isinstance(thing, torch.Tensor):
            flat = thing.detach().to("cpu").contiguous().reshape(-1)
            hasher.update(f"{thing.dtype}{tuple(thing.shape)}".encode())
            hasher.update(flat.view(torch.uint8).numpy().tobytes())
        else:
            hasher.update(repr(thing).encode())
    return hasher.hexdigest()[:16]


def describe(parts: list[str], complete: bool = True) -> str:
    """`changes the model, the loss and the weights`; `changes only the planned steps` (when
    the fingerprints compared were `complete`: the training parts were taken too)."""
    words = [WORDS.get(part, part) for part in parts]
    listed = words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]
    only = "only " if complete and set(parts) <= set(PLAN) else ""
    return f"changes {only}{listed}"


def differing(a: dict[str, Any], b: dict[str, Any]) -> list[str]:
    """The parts in which two fingerprints differ, in part order."""
    return [part for part in dict.fromkeys([*a, *b]) if a.get(part) != b.get(part)]


def _planned_schedule(trial: Trial) -> str:
    """The lr of every step of the run, stepped as the trainer steps it (per batch or per
    epoch), on the trial's own optimizer and scheduler, which are then restored."""
    optimizer, scheduler = trial.optimizer, trial.scheduler
    total = trial.steps_per_epoch * trial.config.epochs
    if scheduler is None:
        return digest([(group["lr"], total) for group in optimizer.param_groups])
    per_batch = SCHEDULERS[trial.config.scheduler].steps_per_batch
    saved = copy.deepcopy((optimizer.state_dict(), scheduler.state_dict()))
    rates: list[list] = []  # run-length encoded: [lrs, steps]
    with warnings.catch_warnings():  # "step() before optimizer.step()": intended here
        warnings.simplefilter("ignore", UserWarning)
        for step in range(total):
            lrs = tuple(group["lr"] for group in optimizer.param_groups)
            if rates and rates[-1][0] == lrs:
                rates[-1][1] += 1
            else:
                rates.append([lrs, 1])
            last = step == total - 1
            if not last and (per_batch or (step + 1) % trial.steps_per_epoch == 0):
                scheduler.step()
    optimizer.load_state_dict(saved[0])
    scheduler.load_state_dict(saved[1])
    return digest(rates)


class Fingerprint:
    """Built when the trial is (model, optimizer, plan); `after_step` adds the first batch,
    the loss and the weights over the first STEPS steps of the first epoch."""

    def __init__(self, trial: Trial):
        self.parts: dict[str, Any] = {
            "model": digest(repr(trial.model), [(name, tuple(p.shape)) for name, p
                                                in trial.model.named_parameters()]),
            "optimizer": digest(type(trial.optimizer).__name__,
                                [sorted((k, v) for k, v in group.items() if k != "params")
                                 for group in trial.optimizer.param_groups]),
            "schedule": _planned_schedule(trial),
            "steps": trial.steps_per_epoch * trial.config.epochs,
        }
        self._last = min(STEPS, trial.steps_per_epoch) - 1
        self._losses: list[float] = []

    @property
    def complete(self) -> bool:
        return "weights" in self.parts

    def after_step(self, index: int, x: torch.Tensor, loss: torch.Tensor,
                   model: torch.nn.Module) -> None:
        """Called by the trainer after optimisation step `index` of the first epoch, on the
        batch `x` it trained on and that batch's `loss`."""
        if index == 0:
            self.parts["batch"] = digest(x)
        self._losses.append(float(loss.detach()))
        if index == self._last:
            self.parts["loss"] = sum(self._losses) / len(self._losses)
            self.parts["weights"] = digest(*model.state_dict().values())
