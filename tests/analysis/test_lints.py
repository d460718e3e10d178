"""Each lint on the real exports (with the findings a reader can check by eye in the CSV) and
on small tables built to trigger it."""

import numpy as np
import pandas as pd
import pytest
from sweep_data import EXPORT_32, SWEEP_111

from analysis.lints import (
    chance_level_runs,
    confounded_params,
    cramers_v,
    duplicate_configs,
    no_effect_params,
    num_classes,
    run_lints,
    small_groups,
    spelling_variants,
    unfinished_runs,
)
from analysis.stats import included_runs, one_way_stats, swept_params
from analysis.wandb_csv import read_csv_export


@pytest.fixture(scope="module")
def sweep():
    table = read_csv_export(SWEEP_111)
    analysed, left_out = included_runs(table, ("finished",))
    params = swept_params(analysed, table.config)
    return table, analysed, params


def test_no_effect_finds_use_cutout_pair(sweep):
    _, analysed, params = sweep
    finding = no_effect_params(analysed, params, "val_acc")
    evidence = finding.evidence
    flagged = set(evidence["parameter"])
    assert "use_cutout" in flagged
    cutout = evidence[evidence["parameter"] == "use_cutout"]
    pair = cutout[cutout["runs"].str.contains("jolly-sweep-111")]
    assert len(pair) == 1 and "icy-sweep-108" in pair["runs"].iloc[0]
    assert pair["val_acc"].iloc[0] == 70.79
    # Independent check: every flagged parameter really never changes val_acc between runs
    # that agree on all other swept parameters, and there is at least one such comparison.
    for param in flagged:
        others = [p for p in params if p != param]
        groups = analysed.groupby(others, dropna=False)
        compared = [g for _, g in groups if g[param].nunique() > 1]
        assert compared and all(g["val_acc"].nunique() == 1 for g in compared)
    # ... and a parameter that matters (lr) is not flagged
    assert "lr" not in flagged and "optimizer" not in flagged


def test_duplicates_in_the_111_run_sweep(sweep):
    table, _, _ = sweep
    finding = duplicate_configs(table.frame, table.config, "val_acc")
    raw = pd.read_csv(SWEEP_111)
    config = table.config
    sizes = raw.groupby(config).size()
    assert len(finding.evidence) == (sizes > 1).sum()
    assert finding.evidence["runs"].sum() == sizes[sizes > 1].sum()
    names = finding.evidence["names"].tolist()
    assert any("generous-sweep-59" in n and "silvery-sweep-71" in n for n in names)


def test_pruned_runs_are_not_unfinished_and_killed_ones_are():
    frame = pd.DataFrame({"name": list("abcdef"), "val_acc": [60.0, 30.0, 31.0, 5.0, 50.0, 1.0],
                          "state": ["finished", "pruned", "pruned", "killed", "running",
                                    "crashed"]})
    finding = unfinished_runs(frame, "val_acc")
    assert finding.message.startswith("1 killed, 1 crashed (left out")
    assert set(finding.evidence["name"]) == {"d", "f"}
    assert unfinished_runs(frame[frame["state"] != "killed"].head(4), "val_acc") is None


def test_crashed_runs_listed(sweep):
    table, _, _ = sweep
    finding = unfinished_runs(table.frame, "val_acc")
    assert finding.message.startswith("4 crashed")
    assert set(finding.evidence["name"]) == {"colorful-sweep-32", "playful-sweep-31",
                                             "confused-sweep-85", "major-sweep-33"}
    assert finding.evidence.set_index("name").loc["major-sweep-33", "epoch"] == 2


@pytest.mark.parametrize("dataset, classes", [
    ("cifar10", 10), ("CIFAR-10", 10), ("FashionMNIST", 10), ("fashion-mnist", 10),
    ("cifar100", 100), ("CIFAR-100", 100), ("ImageNet", 1000), ("my_own_set", 10)])
def test_class_counts_of_the_trainers_data_sets_and_common_others(dataset, classes):
    assert num_classes(dataset) == classes


def test_chance_level_in_percent_and_in_fractions(sweep):
    table, _, _ = sweep
    finding = chance_level_runs(table.frame, "val_acc")
    assert finding.evidence["name"].tolist() == ["fragrant-sweep-3"]  # val_acc 10 %
    fractions = read_csv_export(EXPORT_32).frame
    finding = chance_level_runs(fractions, "val_acc")
    raw = pd.read_csv(EXPORT_32)
    expected = raw[(raw["State"] == "finished") & (raw["val_acc"] <= 0.15)]["Name"]
    assert sorted(finding.evidence["name"]) == sorted(expected)
    assert len(expected) == 14 and (finding.evidence["chance"] == 0.1).all()


def test_spelling_variants_in_the_32_run_export():
    frame = read_csv_export(EXPORT_32).frame
    finding = spelling_variants(frame, ["activation", "optimizer"])
    spellings = finding.evidence["spellings"].tolist()
    counts = frame["optimizer"].value_counts()
    assert f"NAdam ({counts['NAdam']})" in next(s for s in spellings if "NAdam" in s)
    assert any("Nadam" in s and "NAdam" in s for s in spellings)
    assert any("Adagrad" in s and "ADAgrad" in s for s in spellings)
    assert len(spellings) == 2  # sgd, adam, Nesterov, RMSprop have one spelling each


def test_small_groups(sweep):
    _, analysed, params = sweep
    one_way = one_way_stats(analysed, params, "val_acc", "max")
    finding = small_groups(one_way)
    pairs = set(zip(finding.evidence["parameter"], finding.evidence["value"], strict=True))
    assert pairs == {("activation", "Sigmoid"), ("optimizer", "Nesterov-SGD")}


def test_cramers_v_independent_and_identical():
    a = pd.Series(["x", "y"] * 50)
    assert cramers_v(a, a) == pytest.approx(1.0, abs=0.02)
    b = pd.Series(["p"] * 25 + ["q"] * 25 + ["p"] * 25 + ["q"] * 25)
    assert cramers_v(a, b) == 0.0  # exactly independent
    # uncorrected V from the textbook formula for a 2x2 table: sqrt(chi2 / n)
    c = pd.Series(["x"] * 40 + ["y"] * 10 + ["x"] * 10 + ["y"] * 40)
    d = pd.Series(["p"] * 50 + ["q"] * 50)
    chi2 = 100 * (40 * 40 - 10 * 10) ** 2 / (50 * 50 * 50 * 50)
    corrected = np.sqrt(max(0, chi2 / 100 - 1 / 99) / (2 - 1 / 99 - 1))
    assert cramers_v(c, d) == pytest.approx(corrected)


def test_confounded_parameters():
    rng = np.random.default_rng(0)
    optimizer = rng.choice(["SGD", "Adam", "Nadam"], 200)
    frame = pd.DataFrame({"optimizer": optimizer,
                          "lr": np.where(optimizer == "SGD", 0.1, 0.001),
                          "batch_size": rng.choice([64, 128], 200)})
    finding = confounded_params(frame, ["optimizer", "lr", "batch_size"])
    assert finding.evidence[["parameter a", "parameter b"]].values.tolist() == [
        ["optimizer", "lr"]]


def test_run_lints_on_111_runs_order_and_kinds(sweep):
    table, analysed, params = sweep
    one_way = one_way_stats(analysed, params, "val_acc", "max")
    kinds = [f.lint for f in run_lints(table.frame, analysed, table.config, params, "val_acc",
                                       one_way)]
    assert kinds == ["no-effect parameter", "duplicate configs", "unfinished runs",
                     "chance-level runs", "too few runs"]
