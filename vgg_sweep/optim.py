"""Optimisers and learning-rate schedules built from their registry entries
(`vgg_sweep.registry.OPTIMIZERS` / `SCHEDULERS`), as the sweep YAML names them."""

from __future__ import annotations

import warnings
from collections.abc import Iterable

import torch

from vgg_sweep.config import TrialConfig
from vgg_sweep.registry import OPTIMIZERS, SCHEDULERS


def build_optimizer(config: TrialConfig, params: Iterable) -> torch.optim.Optimizer:
    """The entry's torch.optim class with the config's lr and weight decay, and its momentum
    where the optimizer uses one."""
    entry = OPTIMIZERS[config.optimizer]
    settings = {"lr": config.lr, "weight_decay": config.weight_decay}
    if entry.uses_momentum:
        settings["momentum"] = config.momentum
    return entry.load()(params, **settings)


def build_scheduler(config: TrialConfig, optimizer: torch.optim.Optimizer, steps_per_epoch: int,
                    epochs_done: int = 0):
    """The schedule of `config` (over config.epochs; None: constant), advanced past
    `epochs_done` epochs: a resumed run, maybe with more epochs than it started with,
    continues its schedule where an uninterrupted run of config.epochs would be."""
    for group in optimizer.param_groups:  # a restored optimizer holds the old schedule's lr
        group["lr"] = config.lr
        group.pop("initial_lr", None)
    entry = SCHEDULERS[config.scheduler]
    if entry.build is None:
        return None
    scheduler = entry.load()(optimizer, **entry.arguments(optimizer, config, steps_per_epoch))
    steps = epochs_done * (steps_per_epoch if entry.steps_per_batch else 1)
    with warnings.catch_warnings():  # "step() before optimizer.step()": intended here
        warnings.simplefilter("ignore", UserWarning)
        for _ in range(steps):
            scheduler.step()
    return scheduler
