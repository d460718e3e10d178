"""Optimisers and learning-rate schedules by name, as the sweep YAML spells them."""

from __future__ import annotations

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
    "onecycle": lambda opt, c, steps: torch.optim.lr_scheduler.OneCycleLR(
        opt, max_lr=c.lr, epochs=c.epochs, steps_per_epoch=steps),
}


def build_optimizer(config: TrialConfig, params: Iterable) -> torch.optim.Optimizer:
    return OPTIMIZERS[config.optimizer](params, config)


def build_scheduler(config: TrialConfig, optimizer: torch.optim.Optimizer, steps_per_epoch: int):
    return SCHEDULERS[config.scheduler](optimizer, config, steps_per_epoch)
