"""The trial configuration: every hyperparameter, its type, default and allowed values.

`TrialConfig` is the single source of truth. The `train` command's options, the sweep-YAML
validation and the W&B run config are all derived from its fields, so adding a hyperparameter
is one line here (plus the code that uses it). The names of data sets, models, activations,
optimizers and schedules, and their aliases, are read from `vgg_sweep.registry`, as are the
facts the rules below ask (does the optimizer use momentum, is the model the SVM). Names are
matched case- and punctuation-insensitively (`nadam`, `NAdam`, `Nadam`; `fashion-mnist`,
`FashionMNIST`) because W&B users write them every way; the record always stores the
canonical spelling.

This module imports nothing heavy: the sweep validator and the analysis side use it without
paying for torch.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

from vgg_sweep.errors import UserError
from vgg_sweep.registry import (
    ACTIVATIONS,
    DATASETS,
    MODELS,
    OPTIMIZERS,
    SCHEDULERS,
    Table,
    canonical,
)


class ConfigError(UserError):
    """A user-supplied value is not allowed; the message names the key and the fix."""

    def __init__(self, key: str, message: str):
        super().__init__(f"{key}: {message}")
        self.key = key
        self.message = message


def _cnn(config: TrialConfig) -> bool:
    return MODELS[config.model].family == "cnn"


def _own_layers(config: TrialConfig) -> bool:
    """Models that take batch_norm and dropout (vgg6, simplecnn; the ResNets fix both)."""
    return MODELS[config.model].has_batch_norm_option


def _svm(config: TrialConfig) -> bool:
    return MODELS[config.model].family == "svm"


def _momentum_applies(config: TrialConfig) -> bool:
    return (_cnn(config) and OPTIMIZERS[config.optimizer].uses_momentum
            and not SCHEDULERS[config.scheduler].cycles_momentum)


def _those(table: Table, fact: str) -> str:
    """The names in `table` whose entry has `fact`, for help texts: `SGD, Nesterov`."""
    return ", ".join(name for name, entry in table.items() if getattr(entry, fact))


def _field(default, help: str, choices: tuple[str, ...] | Table | None = None, low=None,
           high=None, low_open=False, applies=lambda config: True, resume_may_change=False,
           metavar=None, inert=None):
    """A dataclass field carrying its own validation metadata.

    `choices`: the allowed names, a tuple or a registry table (whose aliases are accepted
    too; read on every use, so an entry added to the table is a choice at once).
    `applies(config)`: whether the value has any effect in that config (the run record and
    W&B hold only those that do). `resume_may_change`: `--resume` continues a checkpoint
    even when this field differs (it does not shape the training trajectory). `metavar`:
    what `--help` shows for a free-text value (default TEXT). `inert`: why the field by
    design cannot change what is trained (where it runs, what it logs); preflight warns
    about sweeping it instead of probing it (`vgg_sweep.preflight`).
    """
    meta = {"help": help, "choices": choices, "low": low, "high": high, "low_open": low_open,
            "applies": applies, "resume_may_change": resume_may_change, "metavar": metavar,
            "inert": inert}
    return field(default=default, metadata=meta)


SEED_MAX = 2**32 - 1  # numpy's legacy seeds (scikit-learn's random_state) stop here


@dataclass(frozen=True)
class TrialConfig:
    # --- data -----------------------------------------------------------------------------
    dataset: str = _field("cifar10", "data set to train on", choices=DATASETS)
    data_dir: str = _field("data", "folder holding the data set (downloaded there when missing)",
                           resume_may_change=True, metavar="PATH",
                           inert="where the data set is read from")
    val_split: float = _field(0.1, "fraction of the training set held out for validation; "
                              "0 validates on the test set", low=0.0, high=0.9)
    train_subset: int = _field(0, "use only this many training images (0 = all)", low=0)
    # --- model ----------------------------------------------------------------------------
    model: str = _field("vgg6", "network architecture (svm: scikit-learn SVC on pixels)",
                        choices=MODELS)
    activation: str = _field("ReLU", "activation function", choices=ACTIVATIONS, applies=_cnn)
    batch_norm: bool = _field(True, "BatchNorm after each convolution "
                              f"({_those(MODELS, 'has_batch_norm_option')})",
                              applies=_own_layers)
    dropout: float = _field(0.0, "dropout before the classifier "
                            f"({_those(MODELS, 'has_batch_norm_option')})", low=0.0,
                            high=0.99, applies=_own_layers)
    # --- optimisation ---------------------------------------------------------------------
    optimizer: str = _field("Adam", "optimizer", choices=OPTIMIZERS, applies=_cnn)
    lr: float = _field(0.001, "learning rate", low=0.0, high=100.0, applies=_cnn)
    momentum: float = _field(0.9, f"momentum ({_those(OPTIMIZERS, 'uses_momentum')}; "
                             f"{_those(SCHEDULERS, 'cycles_momentum')} cycles its own)",
                             low=0.0, high=0.9999, applies=_momentum_applies)
    weight_decay: float = _field(0.0, "L2 weight decay", low=0.0, high=1.0, applies=_cnn)
    batch_size: int = _field(128, "training batch size", low=1, high=65536, applies=_cnn)
    epochs: int = _field(10, "training epochs", low=1, high=10000, applies=_cnn,
                         resume_may_change=True)
    scheduler: str = _field("none", "learning-rate schedule", choices=SCHEDULERS, applies=_cnn)
    label_smoothing: float = _field(0.0, "cross-entropy label smoothing", low=0.0, high=0.99,
                                    applies=_cnn)
    # --- augmentation (training images only) ----------------------------------------------
    crop_flip: bool = _field(True, "random crop with 4-pixel padding and horizontal flip",
                             applies=_cnn)
    autoaugment: bool = _field(False, "CIFAR-10 AutoAugment policy, drawn per image",
                               applies=_cnn)
    use_cutout: bool = _field(False, "cut out one square hole per image", applies=_cnn)
    cutout_size: int = _field(16, "side of the cutout hole in pixels (at most the image's)",
                              low=1, high=1024, applies=lambda c: _cnn(c) and c.use_cutout)
    # --- evaluation (what is measured, never what is trained) -----------------------------
    val_subset: int = _field(0, "validate on the first N images of the validation split, the "
                             "same ones every epoch (0 = all; the test set is always whole)",
                             low=0, inert="evaluation only")
    eval_every: int = _field(1, "validate after every K-th epoch and after the last", low=1,
                             high=10000, applies=_cnn, resume_may_change=True,
                             inert="evaluation only")
    # --- run ------------------------------------------------------------------------------
    seed: int = _field(42, "random seed (data split, initialisation, augmentation)", low=0,
                       high=SEED_MAX)
    precision: str = _field("auto", "numeric precision; auto = bf16 autocast where the "
                            "hardware has it", choices=("auto", "fp32", "bf16", "fp16"),
                            applies=_cnn, resume_may_change=True)
    device: str = _field("auto", "where to train; auto = cuda when present",
                         choices=("auto", "cpu", "cuda"), applies=_cnn, resume_may_change=True,
                         inert="where it trains")
    compile: bool = _field(False, "torch.compile the model (pays on GPUs, rarely on CPUs)",
                           applies=_cnn, resume_may_change=True,
                           inert="the same model, compiled for speed")
    threads: int = _field(0, "CPU threads for torch (0 = torch's default; at most the CPUs "
                          "this process may use)", low=0, high=1024, applies=_cnn,
                          resume_may_change=True, inert="how fast it trains")
    # --- telemetry ------------------------------------------------------------------------
    grad_flow_every: int = _field(50, "sample per-layer mean/max |grad| every N training "
                                  "batches (0 = off)", low=0, applies=_cnn,
                                  resume_may_change=True, inert="telemetry only")
    grad_flow_epochs: int = _field(1, "sample gradient flow in every K-th epoch (and the last)",
                                   low=1, applies=lambda c: _cnn(c) and c.grad_flow_every > 0,
                                   resume_may_change=True, inert="telemetry only")
    weight_flow: bool = _field(True, "per-layer weight update between epochs (mean |dW|, "
                               "||dW||/||W||)", applies=_cnn, resume_may_change=True,
                               inert="telemetry only")
    plots: bool = _field(False, "draw telemetry PNGs into the run's artifacts/ folder at its "
                         "end (~1 s; the report draws the best run's test-set plots anyway)",
                         applies=_cnn, resume_may_change=True, inert="telemetry only")
    count_flops: bool = _field(True, "count MACs and FLOPs of one forward pass (ptflops)",
                               applies=_cnn, resume_may_change=True, inert="telemetry only")

    # --- SVM (model=svm) ----------------------------------------------------------------
    kernel: str = _field("rbf", "SVM kernel", choices=("rbf", "poly", "linear", "sigmoid"),
                         applies=_svm)
    degree: int = _field(3, "degree of the poly kernel", low=1, high=10,
                         applies=lambda c: _svm(c) and c.kernel == "poly")
    C: float = _field(1.0, "SVM regularisation C", low=0.0, high=1e6, low_open=True,
                      applies=_svm)
    gamma: str = _field("scale", "SVM kernel coefficient (not for the linear kernel)",
                        choices=("scale", "auto"),
                        applies=lambda c: _svm(c) and c.kernel != "linear")


FIELDS: dict[str, dataclasses.Field] = {f.name: f for f in dataclasses.fields(TrialConfig)}
TRUE_WORDS = {"true", "1", "yes", "y", "on"}
FALSE_WORDS = {"false", "0", "no", "n", "off"}


def field_type(name: str) -> type:
    """The Python type of a config field (`bool`, `int`, `float` or `str`)."""
    return {"bool": bool, "int": int, "float": float, "str": str}[FIELDS[name].type]


def choices(name: str) -> tuple[str, ...] | None:
    """The canonical names a field accepts (None: not a choice), in their written order."""
    options = FIELDS[name].metadata["choices"]
    return None if options is None else tuple(options)


def value_range(name: str) -> str:
    """A number field's bounds as written in help and errors: `in [1, 65536]`, `>= 0`, or
    "" when unbounded."""
    meta = FIELDS[name].metadata
    low, high = meta["low"], meta["high"]
    spell = str if field_type(name) is int else "{:g}".format
    if low is not None and high is not None:
        return f"in {'(' if meta['low_open'] else '['}{spell(low)}, {spell(high)}]"
    return f">= {spell(low)}" if low is not None else ""


def describe_allowed(name: str) -> str:
    """Human words for what a field accepts, used in every error message."""
    kind = field_type(name)
    if choices(name):
        return "one of " + ", ".join(choices(name))
    if kind is bool:
        return "true or false"
    if kind is str:
        return "text"
    return " ".join(filter(None, ("an integer" if kind is int else "a number",
                                  value_range(name))))


def parse_value(name: str, value: Any) -> Any:
    """Turn a value from the CLI, a YAML file or wandb.config into the field's canonical value.

    Accepts what the W&B agent passes (Python `str()` of values: `True`, `0.001`, `GELU`).
    Raises ConfigError naming the key and the allowed values.
    """
    if name not in FIELDS:
        raise ConfigError(name, f"unknown parameter; known: {', '.join(FIELDS)}")
    meta, kind = FIELDS[name].metadata, field_type(name)
    if kind is bool:
        if isinstance(value, bool):
            return value
        word = str(value).strip().lower()
        if word in TRUE_WORDS:
            return True
        if word in FALSE_WORDS:
            return False
        raise ConfigError(name, f"{value!r} is not true or false")
    if kind is str:
        options = meta["choices"]
        if options is None:
            return str(value)
        found = canonical(str(value), options,
                          options.aliases() if isinstance(options, Table) else None)
        if found is None:
            raise ConfigError(name, f"{value!r} is not {describe_allowed(name)}")
        return found
    return _parse_number(name, value, kind, meta)


def _parse_number(name: str, value: Any, kind: type, meta: dict) -> int | float:
    if isinstance(value, bool):
        raise ConfigError(name, f"{value!r} is not {describe_allowed(name)}")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ConfigError(name, f"{value!r} is not {describe_allowed(name)}") from None
    if not math.isfinite(number):
        raise ConfigError(name, f"{value!r} is not {describe_allowed(name)}")
    if kind is int:
        if number != int(number):
            raise ConfigError(name, f"{value!r} is not {describe_allowed(name)}")
        number = int(number)
    low, high = meta["low"], meta["high"]
    too_low = low is not None and (number <= low if meta["low_open"] else number < low)
    if too_low or (high is not None and number > high):
        raise ConfigError(name, f"{value!r} is not {describe_allowed(name)}")
    return number


def make_config(values: dict[str, Any] | None = None, base: TrialConfig | None = None,
                ) -> TrialConfig:
    """A validated TrialConfig from raw values (strings or typed), over `base` or the defaults.

    Keys outside TrialConfig raise ConfigError: a sweep parameter that the trainer would
    silently ignore is the most common way a sweep lies. So do combinations that cannot train
    (`check_combination`).
    """
    parsed = {key: parse_value(key, value) for key, value in (values or {}).items()}
    config = dataclasses.replace(base or TrialConfig(), **parsed)
    check_combination(config)
    return config


def check_combination(config: TrialConfig) -> None:
    """Values each allowed alone that cannot work together; ConfigError names the fix."""
    optimizer = OPTIMIZERS[config.optimizer]
    if optimizer.needs_momentum and config.momentum == 0 and applies("optimizer", config):
        instead = " or ".join(f"optimizer={name}" for name, other in OPTIMIZERS.items()
                              if other.uses_momentum and not other.needs_momentum)
        raise ConfigError("momentum", f"0 does not work with optimizer={optimizer.name} "
                          f"({optimizer.name} momentum needs momentum > 0); raise momentum or "
                          f"use {instead}")


def check_data_fit(config: TrialConfig, *, images: int, held_out: int, train_classes: int,
                   image_side: int) -> None:
    """The rules that need the data set: `images` training images before the split,
    `held_out` of them for validation, `train_classes` labels among those left for training,
    images of `image_side` pixels (the shorter side). ConfigError names the fix."""
    if config.val_split and not held_out:
        raise ConfigError("val_split", f"{config.val_split:g} of {images} training images is "
                          f"0 images; use val_split >= {1 / images:.2g}, or 0 to validate "
                          "on the test set")
    if held_out == images:
        raise ConfigError("val_split", f"{config.val_split:g} of {images} training images "
                          "leaves none to train on; lower val_split")
    if _svm(config) and train_classes < 2:
        raise ConfigError("train_subset", f"the SVM's training images hold {train_classes} "
                          "class; SVC needs at least 2: raise train_subset (0 = all)")
    if applies("cutout_size", config) and config.cutout_size > image_side:
        raise ConfigError("cutout_size", f"{config.cutout_size} is larger than the "
                          f"{image_side}-pixel images; use cutout_size <= {image_side}")


def inert(name: str) -> str | None:
    """Why field `name` cannot change what is trained (`telemetry only`), or None for a
    training field."""
    return FIELDS[name].metadata["inert"]


def applies(name: str, config: TrialConfig) -> bool:
    """Whether field `name` has any effect in `config` (e.g. `lr` not for model=svm)."""
    return FIELDS[name].metadata["applies"](config)


def config_dict(config: TrialConfig) -> dict[str, Any]:
    """The fields that have an effect in this config, as logged to W&B and stored in the run
    record: an SVM run claims no learning rate, an Adam run no momentum."""
    return {name: value for name, value in dataclasses.asdict(config).items()
            if applies(name, config)}


def resume_conflicts(saved: dict[str, Any], config: TrialConfig) -> list[str]:
    """What a resumed run cannot change: the fields in which `config` differs from `saved`
    (the config_dict of a checkpoint), as `name=saved (now current)`; `-` where a field
    does not apply."""
    current = config_dict(config)
    try:
        was = make_config({key: value for key, value in saved.items() if key in FIELDS})
    except ConfigError:
        was = None

    def before(name: str) -> Any:
        """A field the checkpoint lacks though it applied then was added since: at its
        default (a checkpoint from before `val_subset` resumes); else it did not apply."""
        if name in saved or name not in FIELDS or was is None or not applies(name, was):
            return saved.get(name)
        return FIELDS[name].default

    return [f"{name}={saved.get(name, '-')} (now {current.get(name, '-')})"
            for name in sorted(set(saved) | set(current))
            if before(name) != current.get(name)
            and not (name in FIELDS and FIELDS[name].metadata["resume_may_change"])]
