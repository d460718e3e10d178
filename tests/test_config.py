"""TrialConfig parsing: what a W&B agent passes, and one-line errors for what it must not."""

import pytest

from vgg_sweep.config import (
    FIELDS,
    ConfigError,
    TrialConfig,
    describe_allowed,
    make_config,
    parse_value,
)


@pytest.mark.parametrize("raw, expected", [
    ("True", True), ("true", True), ("1", True), ("False", False), ("false", False),
    ("0", False), (True, True), (False, False)])
def test_booleans_as_wandb_passes_them(raw, expected):
    assert parse_value("autoaugment", raw) is expected


@pytest.mark.parametrize("raw", ["nadam", "Nadam", "NAdam", "NADAM"])
def test_optimizer_names_are_case_insensitive(raw):
    assert parse_value("optimizer", raw) == "Nadam"


@pytest.mark.parametrize("raw, expected", [
    ("Nesterov-SGD", "Nesterov"), ("nesterov", "Nesterov"), ("sgd", "SGD"),
    ("rmsprop", "RMSprop"), ("adamw", "AdamW"), ("adagrad", "Adagrad")])
def test_optimizer_aliases(raw, expected):
    assert parse_value("optimizer", raw) == expected


@pytest.mark.parametrize("raw, expected", [
    ("FashionMNIST", "fashion_mnist"), ("fashion-mnist", "fashion_mnist"),
    ("CIFAR10", "cifar10"), ("cifar-10", "cifar10")])
def test_dataset_spellings(raw, expected):
    assert parse_value("dataset", raw) == expected


def test_numbers_from_strings():
    assert parse_value("lr", "0.001") == 0.001
    assert parse_value("lr", "1e-3") == 0.001
    assert parse_value("batch_size", "64") == 64
    assert parse_value("batch_size", 64.0) == 64
    assert isinstance(parse_value("batch_size", "64"), int)


@pytest.mark.parametrize("key, raw, fragment", [
    ("activation", "Swish2", "one of ReLU, LeakyReLU"),
    ("optimizer", "lion", "one of SGD, Nesterov, Adam"),
    ("batch_size", "64.5", "an integer"),
    ("batch_size", "0", "an integer in [1, 65536]"),
    ("lr", "fast", "a number"),
    ("lr", "-0.1", "a number in [0, 100]"),
    ("lr", "nan", "a number"),
    ("autoaugment", "maybe", "true or false"),
    ("epochs", True, "an integer"),
])
def test_bad_values_name_key_and_allowed(key, raw, fragment):
    with pytest.raises(ConfigError) as error:
        parse_value(key, raw)
    assert error.value.key == key
    assert fragment in str(error.value)
    assert "\n" not in str(error.value)


def test_unknown_key_is_rejected():
    with pytest.raises(ConfigError, match="unknown parameter"):
        make_config({"learning_rate": 0.1})


def test_make_config_over_defaults():
    config = make_config({"lr": "0.01", "activation": "gelu"})
    assert config.lr == 0.01 and config.activation == "GELU"
    assert config.batch_size == TrialConfig().batch_size


def test_every_default_is_valid():
    for name, field in FIELDS.items():
        assert parse_value(name, field.default) == field.default


def test_activation_alias():
    assert parse_value("activation", "Swish") == "SiLU"


def test_nesterov_without_momentum_names_the_optimizer_that_works():
    with pytest.raises(ConfigError, match="raise momentum or use optimizer=SGD$"):
        make_config({"optimizer": "nag", "momentum": 0})


def test_free_text_is_described_as_text():
    assert describe_allowed("data_dir") == "text"
    assert parse_value("data_dir", 3) == "3"


def test_a_checkpoint_from_before_a_field_existed_still_resumes():
    """A checkpoint's config lacks the fields added since (val_subset): at their defaults
    they conflict with nothing; set otherwise, they do; and a real difference still shows."""
    from vgg_sweep.config import config_dict, resume_conflicts

    saved = config_dict(make_config({}))
    del saved["val_subset"]
    assert resume_conflicts(saved, make_config({})) == []
    assert resume_conflicts(saved, make_config({"val_subset": 100})) == [
        "val_subset=- (now 100)"]
    assert resume_conflicts(saved, make_config({"lr": 0.1})) == ["lr=0.001 (now 0.1)"]
