"""Optimisers and learning-rate schedules by name, as the sweep YAML spells them."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterable

import torch

from vgg_sweep.config import TrialConfig

OPTIMIZERS: dict[str, Callable[[Iterable, TrialConfig], torch.optim.Optimizer]] = {
    "SGD": lambda params, c: torch.optim.SGD(params, lr=c.lr, momentum=c.momentum,
                                             weight_decay=c.weight_decay),
    "Nesterov": lambda params, c: torch.optim.SGD(params, lr=c.lr, momentum=c.momentum,
                                                  nesterov=True, weight_decay=c.weight_decay),
    "Adam": lambda params, c: torch.optim.Adam(params, lr=c.lr, weight_decay=c.weight_decay),
    "AdamW": lambda params, c: torch.optim.AdamW(params, lr=c.lr, weight_decay=c.weight_decay),
    "Nadam": lambda params, c: torch.optim.NAdam(params, lr=c.lr, weight_decay=c.weight_decay),
    "Adagrad": lambda params, c: torch.optim.Adagrad(params, lr=c.lr,
                                                     weight_decay=c.weight_decay),
    "RMSprop": lambda params, c: torch.optim.RMSprop(params, lr=c.lr,
                                                     weight_decay=c.weight_decay),
}

# Schedules step once per epoch, except onecycle, which steps per batch.
SCHEDULERS: dict[str, Callable] = {
    "none": lambda opt, c, steps: None,
    "cosine": lambda opt, c, steps: torch.optim.lr_scheduler.CosineAnnealingLR(
        opt, T_max=c.epochs),
    "step": lambda opt, c, steps: torch.optim.lr_scheduler.StepLR(
        opt, step_size=max(1, c.epochs // 3), gamma=0.1),
    # One-cycle also cycles momentum (beta1) where the optimizer has one (not Adagrad).
    "onecycle": lambda opt, c, steps: torch.optim.lr_scheduler.OneCycleLR(
        opt, max_lr=c.lr, epochs=c.epochs, steps_per_epoch=steps,
        cycle_momentum="momentum" in opt.defaults or "betas" in opt.defaults),
}


def build_optimizer(config: TrialConfig, params: Iterable) -> torch.optim.Optimizer:
    return OPTIMIZERS[config.optimizer](params, config)


def build_scheduler(config: TrialConfig, optimizer: torch.optim.Optimizer, steps_per_epoch: int,
                    epochs_done: int = 0):
    """The schedule of `config` (over config.epochs), advanced past `epochs_done` epochs: a
    resumed run, maybe with more epochs than it started with, continues its schedule where
    an uninterrupted run of config.epochs would be."""
    for group in optimizer.param_groups:  # a restored optimizer holds the old schedule's lr
        group["lr"] = config.lr
        group.pop("initial_lr", None)
    scheduler = SCHEDULERS[config.scheduler](optimizer, config, steps_per_epoch)
    steps = epochs_done * (steps_per_epoch if config.scheduler == "onecycle" else 1)
    with warnings.catch_warnings():  # "step() before optimizer.step()": intended here
        warnings.simplefilter("ignore", UserWarning)
        for _ in range(steps if scheduler is not None else 0):
            scheduler.step()
    return scheduler
