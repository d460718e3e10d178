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


def _cnn(config: TrialConfig) -> bool:
    return config.model != "svm"


def _own_layers(config: TrialConfig) -> bool:
    """vgg6 and simplecnn take batch_norm and dropout; the ResNets fix both."""
    return config.model in ("vgg6", "simplecnn")


def _svm(config: TrialConfig) -> bool:
    return config.model == "svm"


def _field(default, help: str, choices=None, aliases=None, low=None, high=None, low_open=False,
           applies=lambda config: True, resume_may_change=False):
    """A dataclass field carrying its own validation metadata.

    `applies(config)`: whether the value has any effect in that config (the run record and
    W&B hold only those that do). `resume_may_change`: `--resume` continues a checkpoint
    even when this field differs (it does not shape the training trajectory).
    """
    meta = {"help": help, "choices": choices, "aliases": aliases or {}, "low": low, "high": high,
            "low_open": low_open, "applies": applies, "resume_may_change": resume_may_change}
    return field(default=default, metadata=meta)


SEED_MAX = 2**32 - 1  # numpy's legacy seeds (scikit-learn's random_state) stop here


@dataclass(frozen=True)
class TrialConfig:
    # --- data -----------------------------------------------------------------------------
    dataset: str = _field("cifar10", "data set to train on",
                          choices=("cifar10", "mnist", "fashion_mnist", "synthetic"))
    data_dir: str = _field("data", "folder holding the data set (downloaded there when missing)",
                           resume_may_change=True)
    val_split: float = _field(0.1, "fraction of the training set held out for validation; "
                              "0 validates on the test set", low=0.0, high=0.9)
    train_subset: int = _field(0, "use only this many training images (0 = all)", low=0)
    # --- model ----------------------------------------------------------------------------
    model: str = _field("vgg6", "network architecture (svm: scikit-learn SVC on pixels)",
                        choices=("vgg6", "simplecnn", "resnet18", "resnet50", "resnet20",
                                 "resnet32", "resnet56", "svm"))
    activation: str = _field("ReLU", "activation function",
                             choices=("ReLU", "LeakyReLU", "ELU", "Sigmoid", "Tanh", "SiLU",
                                      "GELU", "Mish"), aliases={"swish": "SiLU"}, applies=_cnn)
    batch_norm: bool = _field(True, "BatchNorm after each convolution (vgg6, simplecnn)",
                              applies=_own_layers)
    dropout: float = _field(0.0, "dropout before the classifier (vgg6, simplecnn)", low=0.0,
                            high=0.99, applies=_own_layers)
    # --- optimisation ---------------------------------------------------------------------
    optimizer: str = _field("Adam", "optimizer",
                            choices=("SGD", "Nesterov", "Adam", "AdamW", "Nadam", "Adagrad",
                                     "RMSprop"),
                            aliases={"nesterovsgd": "Nesterov", "sgdnesterov": "Nesterov",
                                     "nag": "Nesterov"}, applies=_cnn)
    lr: float = _field(0.001, "learning rate", low=0.0, high=100.0, applies=_cnn)
    momentum: float = _field(0.9, "momentum (SGD, Nesterov; onecycle cycles its own)", low=0.0,
                             high=0.9999, applies=lambda c: _cnn(c) and c.optimizer in (
                                 "SGD", "Nesterov") and c.scheduler != "onecycle")
    weight_decay: float = _field(0.0, "L2 weight decay", low=0.0, high=1.0, applies=_cnn)
    batch_size: int = _field(128, "training batch size", low=1, high=65536, applies=_cnn)
    epochs: int = _field(10, "training epochs", low=1, high=10000, applies=_cnn,
                         resume_may_change=True)
    scheduler: str = _field("none", "learning-rate schedule",
                            choices=("none", "cosine", "step", "onecycle"), applies=_cnn)
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
    # --- run ------------------------------------------------------------------------------
    seed: int = _field(42, "random seed (data split, initialisation, augmentation)", low=0,
                       high=SEED_MAX)
    precision: str = _field("auto", "numeric precision; auto = bf16 autocast where the "
                            "hardware has it", choices=("auto", "fp32", "bf16", "fp16"),
                            applies=_cnn, resume_may_change=True)
    device: str = _field("auto", "where to train; auto = cuda when present",
                         choices=("auto", "cpu", "cuda"), applies=_cnn, resume_may_change=True)
    compile: bool = _field(False, "torch.compile the model (pays on GPUs, rarely on CPUs)",
                           applies=_cnn, resume_may_change=True)
    threads: int = _field(0, "CPU threads for torch (0 = torch's default; at most the CPUs "
                          "this process may use)", low=0, high=1024, applies=_cnn,
                          resume_may_change=True)
    # --- telemetry ------------------------------------------------------------------------
    grad_flow_every: int = _field(50, "sample per-layer mean/max |grad| every N training "
                                  "batches (0 = off)", low=0, applies=_cnn,
                                  resume_may_change=True)
    grad_flow_epochs: int = _field(1, "sample gradient flow in every K-th epoch (and the last)",
                                   low=1, applies=lambda c: _cnn(c) and c.grad_flow_every > 0,
                                   resume_may_change=True)
    weight_flow: bool = _field(True, "per-layer weight update between epochs (mean |dW|, "
                               "||dW||/||W||)", applies=_cnn, resume_may_change=True)
    plots: bool = _field(True, "write telemetry PNGs to the run's artifacts/ folder",
                         applies=_cnn, resume_may_change=True)
    count_flops: bool = _field(True, "count MACs and FLOPs of one forward pass (ptflops)",
                               applies=_cnn, resume_may_change=True)

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
    what, spell = ("an integer", str) if kind is int else ("a number", "{:g}".format)
    if low is not None and high is not None:
        return f"{what} in {'(' if meta['low_open'] else '['}{spell(low)}, {spell(high)}]"
    if low is not None:
        return f"{what} >= {spell(low)}"
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
    silently ignore is the most common way a sweep lies. So do combinations that cannot train
    (`check_combination`).
    """
    parsed = {key: parse_value(key, value) for key, value in (values or {}).items()}
    config = dataclasses.replace(base or TrialConfig(), **parsed)
    check_combination(config)
    return config


def check_combination(config: TrialConfig) -> None:
    """Values each allowed alone that cannot work together; ConfigError names the fix."""
    if config.optimizer == "Nesterov" and config.momentum == 0 and applies("optimizer", config):
        raise ConfigError("momentum", "0 does not work with optimizer=Nesterov (Nesterov "
                          "momentum needs momentum > 0); raise momentum or use optimizer=SGD")


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
    if config.model == "svm" and train_classes < 2:
        raise ConfigError("train_subset", f"the SVM's training images hold {train_classes} "
                          "class; SVC needs at least 2: raise train_subset (0 = all)")
    if applies("cutout_size", config) and config.cutout_size > image_side:
        raise ConfigError("cutout_size", f"{config.cutout_size} is larger than the "
                          f"{image_side}-pixel images; use cutout_size <= {image_side}")


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
    return [f"{name}={saved.get(name, '-')} (now {current.get(name, '-')})"
            for name in sorted(set(saved) | set(current))
            if saved.get(name) != current.get(name)
            and not (name in FIELDS and FIELDS[name].metadata["resume_may_change"])]
