"""Every name a sweep may write, and what it is: one torch-free table per kind.

`optimizer: Nadam`, `scheduler: onecycle`, `model: resnet20`, `dataset: fashion_mnist`,
`activation: GELU`: each name lives here once, with the facts the rest of the code asks about
it (does this optimizer use momentum? does this schedule step per batch? how many classes has
this data set? is this model a CNN or the SVM?) and how to build it: a `"module:attr"` path
imported on first use, so that the config (the `train` options, the sweep-YAML checks) and
`analysis` (the lints) read these tables without importing torch. timm's registry idea
(`list_models`, `OptimInfo`), without the import-time side effects.

Adding an optimizer is one line in `OPTIMIZERS`, a schedule one entry in `SCHEDULERS`; a
model or a data set is one entry here plus its builder or loader (models.py, data.py).
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar


def squash(name: str) -> str:
    """A name as matched: lower case, letters and digits only (`Fashion-MNIST` ->
    `fashionmnist`). W&B users write names every way; records keep the canonical one."""
    return "".join(ch for ch in name.lower() if ch.isalnum())


def canonical(spelling: str, names: tuple[str, ...] | Mapping[str, Any],
              aliases: Mapping[str, str] | None = None) -> str | None:
    """The name among `names` that `spelling` means (by `squash`, then by the squashed
    `aliases`), or None."""
    wanted = squash(spelling)
    for name in names:
        if squash(name) == wanted:
            return name
    return (aliases or {}).get(wanted)


@dataclass(frozen=True)
class Entry:
    """A name and how to build what it names.

    `build`: `"module:attr"`, imported by `load()` on first use. `options`: keyword arguments
    fixed by the entry (`nesterov=True`, `depth=20`), bound by `load()`. `aliases`: other
    spellings accepted for the name (matched like it, case- and punctuation-insensitively).
    """

    name: str
    build: str | None
    aliases: tuple[str, ...] = ()
    options: Mapping[str, Any] = field(default_factory=dict)

    def load(self) -> Callable:
        module, _, attribute = self.build.partition(":")
        target = getattr(importlib.import_module(module), attribute)
        return functools.partial(target, **self.options) if self.options else target


@dataclass(frozen=True, kw_only=True)
class OptimizerInfo(Entry):
    """A `torch.optim` class, built as `build(params, lr=, weight_decay=, **options)`, plus
    `momentum=` when it `uses_momentum`. `needs_momentum`: momentum 0 cannot work."""

    uses_momentum: bool = False
    needs_momentum: bool = False


@dataclass(frozen=True, kw_only=True)
class SchedulerInfo(Entry):
    """A `torch.optim.lr_scheduler` class (None: the learning rate stays constant), built as
    `build(optimizer, **arguments(optimizer, config, steps_per_epoch))`.

    `steps_per_batch`: stepped after every batch (else after every epoch).
    `cycles_momentum`: sets the optimizer's momentum itself, so the config's has no effect.
    """

    arguments: Callable[[Any, Any, int], dict[str, Any]] = lambda optimizer, config, steps: {}
    steps_per_batch: bool = False
    cycles_momentum: bool = False


@dataclass(frozen=True, kw_only=True)
class ModelInfo(Entry):
    """`family` "cnn": built as `build(in_shape, num_classes, *, act, batch_norm, dropout)`
    -> `torch.nn.Module`, trained by vgg_sweep.train; "svm": `build(config)` -> a
    scikit-learn classifier, fitted by vgg_sweep.svm. `has_batch_norm_option`: the model
    honours the config's batch_norm and dropout (the ResNets fix both)."""

    family: str = "cnn"
    has_batch_norm_option: bool = False


@dataclass(frozen=True, kw_only=True)
class DataSetInfo(Entry):
    """A loader `build(data_dir) -> vgg_sweep.data.DataSet` of images of `image_shape`
    (channels, height, width) in `num_classes` classes (chance = 1 / num_classes)."""

    num_classes: int
    image_shape: tuple[int, int, int]


E = TypeVar("E", bound=Entry)


class Table(Mapping[str, E], Generic[E]):
    """Entries of one kind by canonical name, in the order written (the order of the `train`
    choices). `find` forgives case, punctuation and aliases."""

    def __init__(self, *entries: E):
        self.entries: dict[str, E] = {entry.name: entry for entry in entries}

    def __getitem__(self, name: str) -> E:
        return self.entries[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self.entries)

    def __len__(self) -> int:
        return len(self.entries)

    def aliases(self) -> dict[str, str]:
        """Squashed alias -> canonical name."""
        return {squash(alias): entry.name for entry in self.entries.values()
                for alias in entry.aliases}

    def find(self, spelling: str) -> E | None:
        name = canonical(spelling, self.entries, self.aliases())
        return None if name is None else self.entries[name]


# --- the tables ----------------------------------------------------------------------------

OPTIMIZERS: Table[OptimizerInfo] = Table(
    OptimizerInfo("SGD", "torch.optim:SGD", uses_momentum=True),
    OptimizerInfo("Nesterov", "torch.optim:SGD", options={"nesterov": True},
                  aliases=("Nesterov-SGD", "SGD-Nesterov", "NAG"), uses_momentum=True,
                  needs_momentum=True),
    OptimizerInfo("Adam", "torch.optim:Adam"),
    OptimizerInfo("AdamW", "torch.optim:AdamW"),
    OptimizerInfo("Nadam", "torch.optim:NAdam"),
    OptimizerInfo("Adagrad", "torch.optim:Adagrad"),
    OptimizerInfo("RMSprop", "torch.optim:RMSprop"),
)


def _onecycle(optimizer, config, steps_per_epoch: int) -> dict[str, Any]:
    # It also cycles momentum (beta1) where the optimizer has one (Adagrad has none).
    return {"max_lr": config.lr, "epochs": config.epochs, "steps_per_epoch": steps_per_epoch,
            "cycle_momentum": "momentum" in optimizer.defaults or "betas" in optimizer.defaults}


SCHEDULERS: Table[SchedulerInfo] = Table(
    SchedulerInfo("none", None),
    SchedulerInfo("cosine", "torch.optim.lr_scheduler:CosineAnnealingLR",
                  arguments=lambda optimizer, config, steps: {"T_max": config.epochs}),
    SchedulerInfo("step", "torch.optim.lr_scheduler:StepLR",
                  arguments=lambda optimizer, config, steps: {
                      "step_size": max(1, config.epochs // 3), "gamma": 0.1}),
    SchedulerInfo("onecycle", "torch.optim.lr_scheduler:OneCycleLR", arguments=_onecycle,
                  steps_per_batch=True, cycles_momentum=True),
)

MODELS: Table[ModelInfo] = Table(
    ModelInfo("vgg6", "vgg_sweep.models:vgg6", has_batch_norm_option=True),
    ModelInfo("simplecnn", "vgg_sweep.models:simplecnn", has_batch_norm_option=True),
    *(ModelInfo(f"resnet{depth}", "vgg_sweep.models:torchvision_resnet",
                options={"arch": f"resnet{depth}"}) for depth in (18, 50)),
    *(ModelInfo(f"resnet{depth}", "vgg_sweep.models:cifar_resnet", options={"depth": depth})
      for depth in (20, 32, 56)),
    ModelInfo("svm", "vgg_sweep.svm:build_svc", family="svm"),
)

ACTIVATIONS: Table[Entry] = Table(
    Entry("ReLU", "torch.nn:ReLU", options={"inplace": True}),
    Entry("LeakyReLU", "torch.nn:LeakyReLU", options={"negative_slope": 0.01, "inplace": True}),
    Entry("ELU", "torch.nn:ELU", options={"inplace": True}),
    Entry("Sigmoid", "torch.nn:Sigmoid"),
    Entry("Tanh", "torch.nn:Tanh"),
    Entry("SiLU", "torch.nn:SiLU", aliases=("swish",), options={"inplace": True}),
    Entry("GELU", "torch.nn:GELU"),
    Entry("Mish", "torch.nn:Mish", options={"inplace": True}),
)

DATASETS: Table[DataSetInfo] = Table(
    DataSetInfo("cifar10", "vgg_sweep.data:load_cifar10", num_classes=10,
                image_shape=(3, 32, 32)),
    DataSetInfo("mnist", "vgg_sweep.data:load_mnist", num_classes=10, image_shape=(1, 28, 28)),
    DataSetInfo("fashion_mnist", "vgg_sweep.data:load_fashion_mnist", num_classes=10,
                image_shape=(1, 28, 28)),
    DataSetInfo("synthetic", "vgg_sweep.data:load_synthetic", num_classes=10,
                image_shape=(3, 16, 16)),
)


# --- what a trial logs -----------------------------------------------------------------------

@dataclass(frozen=True)
class MetricInfo:
    """A number our trainer logs, the names a sweep's `metric.name` may take.

    `per_epoch`: in every history row (hyperband and learning curves read it), else in the
    run's summary only (known at the end). `families`: the model families that log it
    (`ModelInfo.family`). `better`: "max" or "min" where a sweep would optimise it, else None
    (a count or a size). tests/engine/test_validation_person.py trains a tiny CNN and an SVM
    and checks this table against the numbers their records hold, both ways.
    """

    name: str
    per_epoch: bool = False
    families: tuple[str, ...] = ("cnn",)
    better: str | None = None


_BOTH = ("cnn", "svm")
METRICS: dict[str, MetricInfo] = {metric.name: metric for metric in (
    MetricInfo("val_acc", per_epoch=True, families=_BOTH, better="max"),
    MetricInfo("val_loss", per_epoch=True, better="min"),
    MetricInfo("train_acc", per_epoch=True, better="max"),
    MetricInfo("train_loss", per_epoch=True, better="min"),
    MetricInfo("epoch", per_epoch=True, families=_BOTH),
    MetricInfo("lr", per_epoch=True),
    MetricInfo("epoch_time_sec", per_epoch=True, better="min"),
    MetricInfo("images_per_sec", per_epoch=True, better="max"),
    MetricInfo("train_time_ms", per_epoch=True, families=("svm",), better="min"),
    MetricInfo("test_acc", families=_BOTH, better="max"),
    MetricInfo("test_loss", better="min"),
    MetricInfo("best_val_acc", families=_BOTH, better="max"),
    MetricInfo("best_epoch", families=_BOTH),
    MetricInfo("train_time_sec", better="min"),
    MetricInfo("predict_time_ms", families=("svm",), better="min"),
    MetricInfo("support_vectors", families=("svm",)),
    MetricInfo("params", better="min"),
    MetricInfo("params_total"),
    MetricInfo("macs", better="min"),  # these three with count_flops (the default)
    MetricInfo("flops", better="min"),
    MetricInfo("macs_ptflops"),
    MetricInfo("threads"),
    MetricInfo("train_size", families=_BOTH),
    MetricInfo("val_size", families=_BOTH),
)}
