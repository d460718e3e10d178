"""Parameter importance: the forest finds the parameter that drives the metric."""

import numpy as np
import pandas as pd
import pytest

from analysis.importance import feature_matrix, parameter_importance


def test_importance_ranks_the_driving_parameter_first():
    rng = np.random.default_rng(1)
    frame = pd.DataFrame({
        "optimizer": rng.choice(["SGD", "Adam"], 300),
        "batch_size": rng.choice([64, 128, 256], 300),
        "batch_norm": pd.array(rng.choice([True, False], 300), dtype="boolean"),
    })
    frame["val_acc"] = np.where(frame["optimizer"] == "Adam", 80.0, 60.0) + rng.normal(0, 1, 300)
    table = parameter_importance(frame, ["optimizer", "batch_size", "batch_norm"], "val_acc")
    assert table["feature"].iloc[0].startswith("optimizer=")
    assert table["importance"].sum() == pytest.approx(1.0)
    correlation = table.set_index("feature")["correlation"]
    adam = (frame["optimizer"] == "Adam").astype(float)
    assert correlation["optimizer=Adam"] == pytest.approx(np.corrcoef(adam, frame["val_acc"])[0, 1])
    assert correlation["batch_size"] == pytest.approx(
        np.corrcoef(frame["batch_size"], frame["val_acc"])[0, 1])


def test_feature_matrix_one_hot_and_fills():
    frame = pd.DataFrame({"act": ["a", "b", None], "lr": [0.1, np.nan, 0.3],
                          "bn": pd.array([True, None, False], dtype="boolean")})
    features, names = feature_matrix(frame, ["act", "lr", "bn"])
    assert names["feature"].tolist() == ["act=a", "act=b", "lr", "bn"]
    assert names["parameter"].tolist() == ["act", "act", "lr", "bn"]
    assert features.loc[2, [0, 1]].tolist() == [0.0, 0.0]  # missing: no category
    assert features[2].tolist() == pytest.approx([0.1, 0.2, 0.3])
    assert features[3].tolist() == [1.0, 0.0, 0.0]


def test_feature_names_that_repeat_are_kept_apart():
    """`a=b` with value `c` and `a` with value `b=c` both make the feature name `a=b=c`."""
    frame = pd.DataFrame({"a=b": ["c", "d", "c", "d"], "a": ["b=c", "x", "x", "b=c"],
                          "m": [1.0, 2.0, 3.0, 4.0]})
    features, names = feature_matrix(frame, ["a=b", "a"])
    assert names["feature"].tolist() == ["a=b=c", "a=b=d", "a=b=c", "a=x"]
    assert features.shape == (4, 4)
    table = parameter_importance(frame, ["a=b", "a"], "m")
    assert sorted(table["parameter"]) == ["a", "a", "a=b", "a=b"]


def test_too_few_runs_give_an_empty_table():
    frame = pd.DataFrame({"a": ["x", "y"], "m": [1.0, 2.0]})
    assert parameter_importance(frame, ["a"], "m").empty
