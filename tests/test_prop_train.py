"""Property tests: every `vgg-sweep train` option, alone and in pairs, with generated values.

Each example runs the real command in this process on tiny real-format data (synthetic,
CIFAR-10 batches and idx files in one folder; 1 epoch, a few dozen images). Whatever the
values, the command keeps the CLI contract (tests/contract.py): exit 0, 1 or 2, one error
line on 2, never a traceback; a refused command leaves no run folder; a finished one
records exactly the values it was given, for the parameters that apply.
"""

from __future__ import annotations

import dataclasses
import json
import tempfile
from pathlib import Path

import pytest
from contract import assert_contract, examples, run_cli
from hypothesis import given
from hypothesis import strategies as st

from vgg_sweep import config as trial_config
from vgg_sweep.config import FIELDS, ConfigError, make_config
from vgg_sweep.fake_data import write_cifar10, write_mnist

# Tiny and fast: every accepted example trains for well under a second.
BASE = {"dataset": "synthetic", "epochs": 1, "train_subset": 24, "batch_size": 16,
        "plots": False, "count_flops": False, "grad_flow_every": 0, "precision": "fp32"}

NUMBER_TEXT = st.one_of(st.integers(-10**25, 10**25).map(str),
                        st.floats(allow_nan=True, allow_infinity=True).map(repr),
                        st.sampled_from(["1e400", "-0", "0x10", "1_000", " 3 ", "", "1.5e-3",
                                         "4294967295", "4294967296"]))
ANY_TEXT = st.text(max_size=12)


def _valid(name: str) -> st.SearchStrategy:
    """Values the field accepts, kept cheap: few epochs, images, steps; no compiling."""
    meta, kind = FIELDS[name].metadata, trial_config.field_type(name)
    cheap = {"epochs": st.integers(1, 2), "train_subset": st.integers(1, 32),
             "batch_size": st.integers(4, 10**5), "compile": st.just(False),
             "grad_flow_every": st.integers(0, 3), "threads": st.integers(0, 2000),
             # the torchvision ResNets take seconds a trial; tests/test_models.py builds them
             "model": st.sampled_from([m for m in trial_config.choices("model")
                                       if m not in ("resnet18", "resnet50")]),
             "data_dir": st.just("DATA")}
    if name in cheap:
        return cheap[name]
    if meta["choices"] is not None:  # canonical names and, for registry tables, aliases
        aliases = getattr(meta["choices"], "aliases", dict)()
        return st.sampled_from(trial_config.choices(name) + tuple(aliases))
    if kind is bool:
        return st.sampled_from(sorted(trial_config.TRUE_WORDS | trial_config.FALSE_WORDS)
                               + [True, False, "True", "FALSE"])
    low, high = meta["low"], meta["high"]
    if kind is int:
        return st.integers(low, high if high is not None else low + 1000)
    return st.floats(low, high, exclude_min=meta["low_open"])


def values(name: str) -> st.SearchStrategy:
    """Any value for a field: mostly valid ones, and text and numbers of every kind."""
    return st.one_of(_valid(name), _valid(name), NUMBER_TEXT, ANY_TEXT)


OPTION = st.sampled_from(sorted(FIELDS)).flatmap(lambda name: st.tuples(st.just(name),
                                                                         values(name)))


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> Path:
    """One folder that every data set reads: CIFAR-10 batches and flat idx files."""
    folder = tmp_path_factory.mktemp("data")
    write_cifar10(folder, per_batch=12, test=16)
    write_mnist(folder, train=48, test=16)
    return folder


@pytest.fixture(autouse=True)
def _offline(monkeypatch):
    """A data_dir without the data fails at once, as offline, instead of downloading."""
    import vgg_sweep.data as data

    def offline(name, root, what):
        raise data.UserError(f"{name} not found in {root} and the download failed")

    monkeypatch.setattr(data, "_download", offline)


def check_train(options: list[tuple[str, object]], data_dir: Path):
    """Run `train` with BASE then `options` (later ones win); check the contract and the
    record against the config the same values make."""
    options = [(name, str(data_dir) if value == "DATA" else value) for name, value in options]
    with tempfile.TemporaryDirectory() as scratch:
        runs = Path(scratch) / "runs"
        argv = ["train", f"--data_dir={data_dir}", *(f"--{k}={v}" for k, v in BASE.items()),
                *(f"--{name}={value}" for name, value in options), f"--runs_dir={runs}",
                "--run_id=p"]
        result = run_cli(argv)
        assert_contract(result)
        if result.code == 2:
            assert not runs.exists(), list(runs.rglob("*"))
            return result
        record = json.loads((runs / "adhoc" / "p" / "record.json").read_text())
        assert record["state"] == ("finished" if result.code == 0 else "failed")
        given = {**BASE, "data_dir": str(data_dir), **dict(options)}
        expected = trial_config.config_dict(make_config({k: str(v) for k, v in given.items()}))
        assert record["config"] == expected
        return result


@examples(15)
@given(option=OPTION)
def test_any_single_option_keeps_the_contract(option, data_dir):
    check_train([option], data_dir)


@examples(12)
@given(first=OPTION, second=OPTION)
def test_any_pair_of_options_keeps_the_contract(first, second, data_dir):
    check_train([first, second], data_dir)


def test_the_value_strategies_cover_every_field():
    """A new TrialConfig field gets values here without a change to this file."""
    for name, field in FIELDS.items():
        assert isinstance(values(name), st.SearchStrategy)
        try:
            make_config({name: field.default})
        except ConfigError as error:  # pragma: no cover - a default must be valid
            raise AssertionError(name) from error
    assert {f.name for f in dataclasses.fields(trial_config.TrialConfig)} == set(FIELDS)
