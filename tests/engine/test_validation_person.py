"""Validation that knows what trials log: the metric table against real records, a metric
name the trainer never logs refused at `validate` and at the start of `sweep`, the range each
distribution really draws, and warnings for W&B's classic traps (issue 15)."""

from __future__ import annotations

import math

import pytest
from contract import assert_contract, run_cli

from vgg_sweep.errors import WARNING_PREFIX
from vgg_sweep.record import read_record
from vgg_sweep.registry import METRICS

TINY = ("--dataset=synthetic", "--train_subset=64", "--batch_size=32", "--epochs=1",
        "--plots=false", "--grad_flow_every=0", "--precision=fp32")


def _numbers(mapping: dict) -> set[str]:
    return {key for key, value in mapping.items()
            if isinstance(value, int | float) and not isinstance(value, bool)}


@pytest.mark.parametrize("family, options", [
    ("cnn", ("--model=vgg6", "--count_flops=true")),
    ("svm", ("--model=svm",)),
])
def test_the_metric_table_is_what_a_real_trial_logs(tmp_path, family, options):
    """Every metric listed for a family is in the record a real run writes, per epoch where
    the table says so, and every number in its summary and history is listed."""
    result = run_cli(["train", *TINY, *options, f"--runs_dir={tmp_path}", "--run_id=r"])
    assert result.code == 0, result.err
    record = read_record(tmp_path / "adhoc" / "r")
    listed = {name for name, info in METRICS.items() if family in info.families}
    per_epoch = {name for name in listed if METRICS[name].per_epoch}
    history_keys = set.intersection(*(_numbers(row) for row in record["history"]))
    assert record["state"] == "finished"
    assert _numbers(record["summary"]) | history_keys == listed
    assert history_keys == per_epoch


def _validate(write_sweep, text: str, *options: str):
    result = run_cli(["validate", write_sweep(text), *options])
    assert_contract(result)
    return result


def _warnings(result) -> list[str]:
    return [line.removeprefix(WARNING_PREFIX) for line in result.err.splitlines()
            if line.startswith(WARNING_PREFIX)]


def test_a_metric_trials_never_log_is_refused_with_the_name_they_log(write_sweep):
    result = _validate(write_sweep, """\
        method: random
        metric: {name: val_accuracy, goal: maximize}
        parameters:
          lr: {values: [0.1, 0.01]}
        """)
    assert result.code == 2
    assert "metric.name: 'val_accuracy' is not logged by the trainer (did you mean val_acc?)" \
        in result.error_lines[0]


def test_sweep_refuses_the_metric_before_any_trial(write_sweep, tmp_path):
    path = write_sweep("method: grid\nmetric: {name: accuracy, goal: maximize}\n"
                       "parameters:\n  lr: {values: [0.1]}\n")
    for command in ("sweep", "agent"):
        result = run_cli([command, path, f"--runs-dir={tmp_path / 'runs'}"])
        assert_contract(result, allowed=(2,))
        assert "'accuracy' is not logged by the trainer" in result.error_lines[0]
    assert not (tmp_path / "runs").exists()


def test_hyperband_on_a_metric_known_only_at_the_end_is_refused(write_sweep):
    result = _validate(write_sweep, """\
        method: random
        metric: {name: test_acc, goal: maximize}
        early_terminate: {type: hyperband, min_iter: 1}
        parameters:
          lr: {values: [0.1, 0.01]}
        """)
    assert result.code == 2
    assert "early_terminate: hyperband compares test_acc after every epoch" \
        in result.error_lines[0]


def test_validate_shows_what_each_distribution_draws_and_warns_of_the_exponent_trap(
        write_sweep):
    result = _validate(write_sweep, """\
        method: random
        metric: {name: val_acc, goal: maximize}
        parameters:
          lr: {distribution: log_uniform, min: 0.0001, max: 0.1}
          weight_decay: {distribution: log_uniform, min: -9.21034, max: -2.302585}
          momentum: {distribution: log_uniform_values, min: 0.5, max: 0.99}
          dropout: {distribution: q_uniform, min: 0.0, max: 0.5, q: 0.1}
          label_smoothing: {distribution: inv_log_uniform, min: 2.302585, max: 4.60517}
          optimizer: {values: [SGD, Adam]}
        """)
    assert result.code == 0, result.err
    draws = result.out.splitlines()[1:]
    assert draws == [
        "  lr: log_uniform -> e^0.0001..e^0.1 = 1.0001..1.1052",
        "  weight_decay: log_uniform -> e^-9.21..e^-2.303 = 0.0001..0.1",
        "  momentum: log_uniform_values -> 0.5..0.99",
        "  dropout: q_uniform -> 0..0.5 in steps of 0.1",
        "  label_smoothing: inv_log_uniform -> e^-4.605..e^-2.303 = 0.01..0.1",
        "  optimizer: categorical -> one of SGD, Adam",
    ]
    # Only the bounds that read like values are the trap; exponents below 0 are meant.
    (trap,) = _warnings(result)
    assert trap.endswith("parameters.lr: log_uniform takes exponents: it draws "
                         "e^0.0001..e^0.1 = 1.0001..1.1052, not 0.0001..0.1; min and max of "
                         "log_uniform are exponents (W&B's exponent trap): for values write "
                         "distribution: log_uniform_values")


def test_a_normal_learning_rate_is_refused_or_warned_with_its_share_of_bad_draws(write_sweep):
    refused = _validate(write_sweep, "method: random\nparameters:\n"
                        "  lr: {distribution: normal, mu: 0.01, sigma: 0.01}\n")
    assert refused.code == 2
    assert ("normal draws from [-0.02719, 0.04719] but lr takes a number in [0, 100]; a normal "
            "draws negatives: for a positive parameter use log_normal or log_uniform_values"
            ) in refused.error_lines[0]
    # Inside the range on the central 99.98 %, but 4 sigma from 0: a draw in 31,574 fails.
    warned = _validate(write_sweep, "method: random\nparameters:\n"
                       "  lr: {distribution: normal, mu: 0.01, sigma: 0.0025}\n")
    assert warned.code == 0
    (warning,) = _warnings(warned)
    share = 0.5 * math.erfc(4 / math.sqrt(2))
    assert f"parameters.lr: normal may draw any number and lr takes a number in [0, 100]: " \
           f"{100 * share:.2g} % of draws fall outside and fail" in warning
    assert "lr: normal -> 0.0007025..0.019298 (the central 99.98 % of draws)" in warned.out


def test_a_goal_that_seeks_the_worst_runs_is_warned_of(write_sweep):
    result = _validate(write_sweep, "method: random\nmetric: {name: val_acc}\n"
                       "parameters:\n  lr: {values: [0.1, 0.01]}\n")
    assert result.code == 0
    (warning,) = _warnings(result)
    assert warning.endswith("metric.goal: minimize val_acc seeks the worst runs (minimize is "
                            "W&B's default when goal: is left out); write goal: maximize")


def test_models_that_never_log_the_metric_are_named_after_the_overrides(write_sweep):
    text = "method: grid\nmetric: {name: val_loss}\nparameters:\n  model: {values: [vgg6, SVM]}\n"
    result = _validate(write_sweep, text)
    assert result.code == 0
    assert _warnings(result) == [
        f"{write_sweep(text)}: metric.name: svm trials do not log val_loss; they will end "
        "'no metric'"]
    assert _warnings(_validate(write_sweep, text, "--override", "model=vgg6")) == []
    pinned = _validate(write_sweep, text.replace("vgg6, SVM", "vgg6"), "--override",
                       "model=svm")
    assert [w.split(": ", 1)[1] for w in _warnings(pinned)] == [
        "metric.name: svm trials do not log val_loss; they will end 'no metric'"]


def test_hyperband_bands_that_eval_every_skips_are_warned_of(write_sweep):
    """eval_every: K validates every K-th epoch and the last; hyperband's bands between get no
    val_acc and prune nothing (issue 19's evaluation options)."""
    text = ("method: grid\nmetric: {name: val_acc, goal: maximize}\n"
            "early_terminate: {type: hyperband, min_iter: 1, eta: 2}\n"
            "parameters:\n  lr: {values: [0.1, 0.01]}\n  epochs: {value: 8}\n"
            "  eval_every: {value: 3}\n")
    result = _validate(write_sweep, text)
    assert result.code == 0
    assert [w.split(": ", 1)[1] for w in _warnings(result)] == [
        "eval_every: hyperband judges val_acc after epochs 1, 2, 4, which eval_every 3 does "
        "not validate: those bands prune nothing; keep eval_every: 1 with hyperband"]
    assert _warnings(_validate(write_sweep, text, "--override", "eval_every=1")) == []
    train_metric = text.replace("name: val_acc, goal: maximize", "name: train_loss, goal: "
                                "minimize")
    assert _warnings(_validate(write_sweep, train_metric)) == []  # logged every epoch
    drawn = _validate(write_sweep, text.replace("{value: 3}", "{min: 1, max: 4}"))
    assert [w.split(": ", 2)[1] for w in _warnings(drawn)] == ["eval_every"]
