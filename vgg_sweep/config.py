"""The trial configuration: every hyperparameter, its type, default and allowed values.

`TrialConfig` is the single source of truth. The `train` command's options, the sweep-YAML
validation and the W&B run config are all derived from its fields, so adding a hyperparameter
is one line here (plus the code that uses it). Names are matched case- and punctuation-
insensitively (`nadam`, `NAdam`, `Nadam`; `fashion-mnist`, `FashionMNIST`) because W&B users
write them every way; the record always stores the canonical spelling.

This module imports nothing heavy: the sweep validator and the analysis side use it without
paying for torch.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

from vgg_sweep.errors import UserError


class ConfigError(UserError):
    """A user-supplied value is not allowed; the message names the key and the fix."""

    def __init__(self, key: str, message: str):
        super().__init__(f"{key}: {message}")
        self.key = key
        self.message = message


def _field(default, help: str, choices=None, aliases=None, low=None, high=None, low_open=False):
    """A dataclass field carrying its own validation metadata."""
    meta = {"help": help, "choices": choices, "aliases": aliases or {}, "low": low, "high": high,
            "low_open": low_open}
    return field(default=default, metadata=meta)


@dataclass(frozen=True)
class TrialConfig:
    # --- data -----------------------------------------------------------------------------
    dataset: str = _field("cifar10", "data set to train on",
                          choices=("cifar10", "mnist", "fashion_mnist", "synthetic"))
    data_dir: str = _field("data", "folder holding the data set (downloaded there when missing)")
    val_split: float = _field(0.1, "fraction of the training set held out for validation; "
                              "0 validates on the test set", low=0.0, high=0.9)
    train_subset: int = _field(0, "use only this many training images (0 = all)", low=0)
    # --- model ----------------------------------------------------------------------------
    model: str = _field("vgg6", "network architecture (svm: scikit-learn SVC on pixels)",
                        choices=("vgg6", "simplecnn", "resnet18", "resnet50", "resnet20",
                                 "resnet32", "resnet56", "svm"))
    activation: str = _field("ReLU", "activation function",
                             choices=("ReLU", "LeakyReLU", "ELU", "Sigmoid", "Tanh", "SiLU",
                                      "GELU", "Mish"), aliases={"swish": "SiLU"})
    batch_norm: bool = _field(True, "BatchNorm after each convolution (vgg6, simplecnn)")
    dropout: float = _field(0.0, "dropout before the classifier", low=0.0, high=0.99)
    # --- optimisation ---------------------------------------------------------------------
    optimizer: str = _field("Adam", "optimizer",
                            choices=("SGD", "Nesterov", "Adam", "AdamW", "Nadam", "Adagrad",
                                     "RMSprop"),
                            aliases={"nesterovsgd": "Nesterov", "sgdnesterov": "Nesterov",
                                     "nag": "Nesterov"})
    lr: float = _field(0.001, "learning rate", low=0.0, high=100.0)
    momentum: float = _field(0.9, "momentum (SGD, Nesterov)", low=0.0, high=0.9999)
    weight_decay: float = _field(0.0, "L2 weight decay", low=0.0, high=1.0)
    batch_size: int = _field(128, "training batch size", low=1, high=65536)
    epochs: int = _field(10, "training epochs", low=1, high=10000)
    scheduler: str = _field("none", "learning-rate schedule",
                            choices=("none", "cosine", "step", "onecycle"))
    label_smoothing: float = _field(0.0, "cross-entropy label smoothing", low=0.0, high=0.99)
    # --- augmentation (training images only) ----------------------------------------------
    crop_flip: bool = _field(True, "random crop with 4-pixel padding and horizontal flip")
    autoaugment: bool = _field(False, "CIFAR-10 AutoAugment policy, drawn per image")
    use_cutout: bool = _field(False, "cut out one square hole per image")
    cutout_size: int = _field(16, "side of the cutout hole in pixels", low=1, high=1024)
    # --- run ------------------------------------------------------------------------------
    seed: int = _field(42, "random seed (data split, initialisation, augmentation)", low=0)
    precision: str = _field("auto", "numeric precision; auto = bf16 autocast where the "
                            "hardware has it", choices=("auto", "fp32", "bf16", "fp16"))
    device: str = _field("auto", "where to train; auto = cuda when present",
                         choices=("auto", "cpu", "cuda"))
    compile: bool = _field(False, "torch.compile the model (pays on GPUs, rarely on CPUs)")
    threads: int = _field(0, "CPU threads for torch (0 = torch's default)", low=0, high=1024)
    # --- telemetry ------------------------------------------------------------------------
    grad_flow_every: int = _field(50, "sample per-layer mean/max |grad| every N training "
                                  "batches (0 = off)", low=0)
    grad_flow_epochs: int = _field(1, "sample gradient flow in every K-th epoch (and the last)",
                                   low=1)
    weight_flow: bool = _field(True, "per-layer weight update between epochs (mean |dW|, "
                               "||dW||/||W||)")
    plots: bool = _field(True, "write telemetry PNGs to the run's artifacts/ folder")
    count_flops: bool = _field(True, "count MACs and FLOPs of one forward pass (ptflops)")

    # --- SVM (model=svm) ----------------------------------------------------------------
    kernel: str = _field("rbf", "SVM kernel", choices=("rbf", "poly", "linear", "sigmoid"))
    degree: int = _field(3, "degree of the poly kernel", low=1, high=10)
    C: float = _field(1.0, "SVM regularisation C", low=0.0, high=1e6, low_open=True)
    gamma: str = _field("scale", "SVM kernel coefficient", choices=("scale", "auto"))

FIELDS: dict[str, dataclasses.Field] = {f.name: f for f in dataclasses.fields(TrialConfig)}
TRUE_WORDS = {"true", "1", "yes", "y", "on"}
FALSE_WORDS = {"false", "0", "no", "n", "off"}


def _squash(name: str) -> str:
    return "".join(ch for ch in name.lower() if ch.isalnum())


def field_type(name: str) -> type:
    """The Python type of a config field (`bool`, `int`, `float` or `str`)."""
    return {"bool": bool, "int": int, "float": float, "str": str}[FIELDS[name].type]


def choices(name: str) -> tuple[str, ...] | None:
    return FIELDS[name].metadata["choices"]


def describe_allowed(name: str) -> str:
    """Human words for what a field accepts, used in every error message."""
    meta, kind = FIELDS[name].metadata, field_type(name)
    if meta["choices"]:
        return "one of " + ", ".join(meta["choices"])
    if kind is bool:
        return "true or false"
    low, high = meta["low"], meta["high"]
    what = "an integer" if kind is int else "a number"
    if low is not None and high is not None:
        return f"{what} in {'(' if meta['low_open'] else '['}{low:g}, {high:g}]"
    if low is not None:
        return f"{what} >= {low:g}"
    return what


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
        if meta["choices"] is None:
            return str(value)
        wanted = _squash(str(value))
        for canonical in meta["choices"]:
            if _squash(canonical) == wanted:
                return canonical
        if wanted in meta["aliases"]:
            return meta["aliases"][wanted]
        raise ConfigError(name, f"{value!r} is not {describe_allowed(name)}")
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
    silently ignore is the most common way a sweep lies.
    """
    parsed = {key: parse_value(key, value) for key, value in (values or {}).items()}
    return dataclasses.replace(base or TrialConfig(), **parsed)


def config_dict(config: TrialConfig) -> dict[str, Any]:
    """The config as a flat dict, as logged to W&B and stored in the run record."""
    return dataclasses.asdict(config)
