"""Configuration groups: runs identical but for their seed are one configuration."""

from pathlib import Path

import pandas as pd
import pytest

from analysis.configurations import best_configuration, configuration_table, winners_curse
from analysis.sources import load_source
from analysis.stats import swept_params

R4 = Path(__file__).parents[1] / "fixtures" / "real" / "vgg6_cifar10_sweep_111_runs.csv"


def _runs(rows) -> pd.DataFrame:
    return pd.DataFrame([{"name": f"run-{i}", "lr": lr, "act": act, "seed": seed,
                          "val_acc": value} for i, (lr, act, seed, value) in enumerate(rows)])


def test_configurations_group_seeds_and_the_best_mean_wins_over_one_lucky_run():
    frame = _runs([(0.1, "relu", 1, 80.0), (0.1, "relu", 2, 84.0), (0.1, "relu", 3, 82.0),
                   (0.01, "relu", 1, 83.0), (0.01, "relu", 2, 83.5), (0.01, "relu", 3, 83.0),
                   (0.01, "gelu", 1, 90.0)])  # one seed only: it cannot win on luck
    params = swept_params(frame, ["lr", "act", "seed"])
    table = configuration_table(frame, params, "val_acc", "max")
    assert table[["runs", "seeds"]].values.tolist() == [[3, 3], [3, 3], [1, 1]]
    assert table["mean"].tolist() == pytest.approx([82.0, 83.1666667, 90.0])
    assert table["std"].iloc[0] == pytest.approx(2.0)
    best = best_configuration(table, "max")
    assert (best["lr"], best["act"], best["configuration"]) == (0.01, "relu", 2)
    # the best single run (90, one seed) has no configuration mean to compare with
    assert winners_curse(frame, params, "val_acc", "max") is None
    curse = winners_curse(frame.iloc[:6], params, "val_acc", "max")
    assert curse == {"run": "run-1", "best": 84.0, "mean": 82.0, "runs": 3, "gap": 2.0,
                     "configuration": 1}


def test_goal_min_picks_the_lowest_mean():
    frame = _runs([(0.1, "relu", 1, 0.5), (0.1, "relu", 2, 0.7),
                   (0.01, "relu", 1, 0.55), (0.01, "relu", 2, 0.56)])
    frame = frame.rename(columns={"val_acc": "val_loss"})
    table = configuration_table(frame, ["lr", "seed"], "val_loss", "min")
    assert best_configuration(table, "min")["lr"] == 0.01
    curse = winners_curse(frame, ["lr", "seed"], "val_loss", "min")
    assert curse["run"] == "run-0" and curse["gap"] == pytest.approx(-0.1)


def test_r4_duplicates_with_one_seed_are_not_seeds():
    table = load_source(str(R4))
    frame = table.frame[table.frame["state"] == "finished"]
    params = swept_params(frame, table.config)
    configurations = configuration_table(frame, params, "val_acc", "max")
    assert (len(frame), len(configurations)) == (107, 98)  # 9 configurations ran twice
    assert (configurations["seeds"] == 1).all()  # ... with the same seed 42: duplicates
    best = best_configuration(configurations, "max")
    assert best["mean"] == 85.7 and best["names"] == "spring-sweep-103"
    assert (best["activation"], best["optimizer"], best["lr"], best["batch_size"],
            best["epochs"]) == ("GELU", "Nadam", 0.001, 64, 80)
