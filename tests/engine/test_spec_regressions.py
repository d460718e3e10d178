"""Named regression tests for the outside review of sweep validation and the property tests'
finds: each is one line on stderr, exit 2, naming the file, the key and the fix, fast."""

from __future__ import annotations

import time

import pytest
from contract import assert_contract, run_cli

from vgg_sweep.engine.spec import MAX_RUNS

HB = "method: random\nmetric: {name: val_loss}\nearly_terminate: {type: hyperband, %s}\n" \
     "parameters:\n  lr: {value: 0.1}\n"
RANDOM = "method: random\nparameters:\n  %s\n"
GRID = "method: grid\nparameters:\n  %s\n"
BOMB = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join([f'*{chr(97 + i)}'] * 10)}]\n"
    for i in range(8)) + "method: grid\nparameters:\n  lr: {value: 0.1}\n"

CASES = {  # name: (file text, the key the line names, words of the message)
    "hyperband_eta_nan": (HB % "min_iter: 1, eta: .nan", "early_terminate.eta", "finite"),
    "hyperband_eta_inf": (HB % "min_iter: 1, eta: .inf", "early_terminate.eta", "finite"),
    "hyperband_min_iter_beyond_2_53": (HB % "min_iter: 100000000000000000000",
                                       "early_terminate.min_iter", "2**53"),
    "hyperband_s_over_100_bands": (HB % "max_iter: 10, s: 100000000000000",
                                   "early_terminate.s", "1 to 100"),
    "normal_sigma_inf": (RANDOM % "lr: {distribution: normal, mu: 0.1, sigma: .inf}",
                         "parameters.lr.sigma", "finite"),
    "uniform_max_nan": (RANDOM % "lr: {min: 0.0, max: .nan}", "parameters.lr.max", "finite"),
    "log_uniform_exponent_overflows": (
        RANDOM % "lr: {distribution: log_uniform, min: -5.0, max: 1000.0}", "parameters.lr",
        "exponents"),
    "log_normal_overflows": (RANDOM % "lr: {distribution: log_normal, mu: 1000.0, sigma: 1.0}",
                             "parameters.lr", "beyond what a float holds"),
    "q_so_small_the_quantised_value_overflows": (
        RANDOM % "lr: {distribution: q_uniform, min: 0.0, max: 1.0, q: 1.0e-320}",
        "parameters.lr", "beyond what a float holds"),
    "beta_a_zero": (RANDOM % "momentum: {distribution: beta, a: 0, b: 1}",
                    "parameters.momentum.a", "positive"),
    "distribution_is_a_list": (RANDOM % "lr: {distribution: [uniform], min: 0.0, max: 1.0}",
                               "parameters.lr.distribution", "write one name"),
    "distribution_is_a_mapping": (RANDOM % "lr: {distribution: {a: 1}, min: 0.0, max: 1.0}",
                                  "parameters.lr.distribution", "write one name"),
    "unclosed_quote_at_end": ("method: grid\nparameters:\n  lr: {value: 0.1}\nname: 'abc\n",
                              "yaml", "at line 4"),
    "unclosed_bracket_at_end": ("method: grid\nparameters:\n  lr: {values: [0.1, 0.2",
                                "yaml", "at line 3"),
    "nul_byte_in_file": ("\0method: grid\n", "yaml", "at line 1"),
    "grid_of_1e8_points": (GRID % "seed: {min: 0, max: 100000000}", "parameters",
                           f"limit of {MAX_RUNS}"),
    "grid_of_1e8_points_from_two_fields": (
        GRID % "seed: {min: 0, max: 10000}\n  train_subset: {min: 0, max: 10000}",
        "parameters", "seed x10001, train_subset x10001"),
    "grid_q_uniform_tiny_q": (GRID % "lr: {distribution: q_uniform, min: 0.0, max: 1.0, "
                              "q: 0.000000001}", "parameters", "1e+09 points"),
    "run_cap_over_the_limit": ("method: random\nrun_cap: 100000000000\nparameters:\n"
                               "  lr: {min: 0.0, max: 1.0}\n", "run_cap", f"[1, {MAX_RUNS}]"),
    "billion_laughs": (BOMB, "yaml", "nodes"),
    "recursive_alias": ("method: grid\nparameters:\n  lr: &a {values: [*a]}\n", "yaml",
                        "contains itself"),
    "nested_too_deep": ("method: grid\nx: " + "[" * 5000 + "\n", "yaml", "levels deep"),
    "date_value": (GRID % "data_dir: {value: 2024-01-01}", "parameters.data_dir.value",
                   "quote it: '2024-01-01'"),
    "timestamp_value": (GRID % "data_dir: {values: [2024-01-01 10:00:00]}",
                        "parameters.data_dir.values[0]", "as a date"),
    "binary_value": (GRID % "data_dir: {value: !!binary aGVsbG8=}", "parameters.data_dir.value",
                     "!!binary"),
    "set_value": (GRID % "data_dir: {value: !!set {a}}", "parameters.data_dir.value",
                  "not plain data"),
    "nul_in_name": ('method: grid\nname: "a\\0b"\nparameters:\n  lr: {value: 0.1}\n', "name",
                    "NUL"),
    "nul_in_value": (GRID % 'data_dir: {values: ["a\\0b", c]}',
                     "parameters.data_dir.values[0]", "NUL"),
    "surrogate_in_value": (GRID % 'data_dir: {value: "\\ud800"}', "parameters.data_dir.value",
                           "surrogate"),
    "int_beyond_64_bit": (GRID % "seed: {values: [100000000000000000000000000]}",
                          "parameters.seed.values[0]", "2**53"),
    "nested_mapping_as_a_value": (GRID % "data_dir: {values: [{a: 1}, b]}",
                                  "parameters.data_dir", "nested"),
    "list_as_a_value": (GRID % "data_dir: {value: [1, 2]}", "parameters.data_dir", "nested"),
    "name_with_a_newline": ('method: grid\nname: "a\\nb"\nparameters:\n  lr: {value: 0.1}\n',
                            "name", "printable"),
    "grid_point_breaks_a_combination_rule": (
        GRID % "optimizer: {values: [SGD, Nesterov]}\n  momentum: {value: 0.0}", "parameters",
        "grid point 2"),
}


@pytest.mark.parametrize("name", CASES)
def test_review_case_is_one_line_naming_the_key(name, write_sweep):
    text, key, words = CASES[name]
    path = write_sweep(text)
    started = time.monotonic()
    result = run_cli(["validate", path])
    assert time.monotonic() - started < 5
    assert_contract(result)
    assert result.code == 2
    assert f"{path}: {key}: " in result.err and words in result.err, result.err


def test_file_over_the_size_limit_is_refused_unread(tmp_path):
    path = tmp_path / "big.yaml"
    path.write_text("method: grid\n" + "# padding\n" * 10_000)
    result = run_cli(["validate", path])
    assert result.code == 2 and "larger than 64 KiB" in result.err


OVERRIDES = {  # name: (--override, words of the message)
    "override_epoch_did_you_mean_epochs": ("epoch=1", "(did you mean epochs?)"),
    "override_unknown_key": ("name=x", "not a TrialConfig field"),
    "override_empty_key": ("=1", "is not key=value"),
    "override_no_equals": ("epochs", "is not key=value"),
    "override_nul_in_value": ("data_dir=a\0b", "--override data_dir=a\\x00b"),
    "override_surrogate_in_value": ("data_dir=\ud800", "surrogate"),
    "override_nan": ("lr=nan", "is not a number in [0, 100]"),
    "override_int_beyond_2_53": ("train_subset=" + "9" * 30, "2**53"),
}


@pytest.mark.parametrize("name", OVERRIDES)
def test_review_override_is_one_line(name, write_sweep):
    override, words = OVERRIDES[name]
    path = write_sweep("method: grid\nparameters:\n  lr: {values: [0.1]}\n")
    result = run_cli(["validate", path, "--override", override])
    assert_contract(result)
    assert result.code == 2 and words in result.err, result.err


def test_override_on_validate_pins_the_value(write_sweep):
    path = write_sweep("method: grid\nparameters:\n  epochs: {values: [1, 2, 3]}\n")
    result = run_cli(["validate", path, "--override", "epochs=2"])
    assert result.code == 0 and "1 grid point" in result.out and "fixed epochs=2" in result.out


def test_yaml_error_at_a_macro_still_hints_quotes(write_sweep):
    path = write_sweep("method: grid\nparameters:\n  lr: {value: 0.1}\ncommand: [${env}\n")
    result = run_cli(["validate", path])
    assert result.code == 2 and "W&B macros need quotes" in result.err


def test_hyperband_bands_stop_before_overflowing(write_sweep):
    """eta 1e10 overflowed to inf after 31 bands; bands past 2**53 epochs are never reached."""
    from vgg_sweep.engine.spec import load_spec

    spec = load_spec(write_sweep(HB % "min_iter: 1, eta: 1.0e+10"))
    assert spec.hyperband.bands == (1, 10**10)
