"""Group statistics, expected best and top-decile shares, checked against direct computation."""

import itertools

import numpy as np
import pandas as pd
import pytest
from scipy import stats as scipy_stats
from sweep_data import EXPORT_32, SWEEP_111

from analysis.runs import choose_metric
from analysis.stats import (
    expected_best,
    group_stats,
    included_runs,
    one_way_stats,
    swept_params,
    top_decile_shares,
)
from analysis.wandb_csv import read_csv_export

PARAMS = ["activation", "autoaugment", "batch_norm", "batch_size", "epochs", "lr", "optimizer",
          "use_cutout", "weight_decay"]


def direct_stats(raw: pd.DataFrame, param: str) -> pd.DataFrame:
    """The same table straight from the CSV with pandas and scipy's t.interval."""
    rows = []
    for value, group in raw.groupby(param):
        values = group["val_acc"]
        low, high = (scipy_stats.t.interval(0.95, len(values) - 1, loc=values.mean(),
                                            scale=values.sem()) if len(values) >= 3
                     else (np.nan, np.nan))  # an interval needs 3 runs, lies in [0, 100]
        low, high = max(low, 0.0) if low == low else low, min(high, 100.0)
        rows.append({"value": str(value).lower() if isinstance(value, bool) else str(value),
                     "runs": len(values), "mean": values.mean(), "std": values.std(),
                     "best": values.max(), "ci_low": low, "ci_high": high})
    return pd.DataFrame(rows)


def as_text(value) -> str:
    return str(value).lower() if isinstance(value, bool | np.bool_) else str(value)


@pytest.mark.parametrize("param", PARAMS)
def test_states_all_equals_direct_pandas(param):
    table = read_csv_export(SWEEP_111)
    analysed, left_out = included_runs(table, None)
    assert left_out.empty
    ours = group_stats(analysed, [param], "val_acc", "max")
    expected = direct_stats(pd.read_csv(SWEEP_111), param)
    ours_keyed = ours.assign(value=ours[param].map(as_text)).set_index("value").sort_index()
    expected = expected.set_index("value").sort_index()
    assert ours_keyed.index.tolist() == expected.index.tolist()
    assert ours_keyed["runs"].tolist() == expected["runs"].tolist()
    for column in ("mean", "std", "best", "ci_low", "ci_high"):
        np.testing.assert_allclose(ours_keyed[column].astype(float), expected[column],
                                   rtol=1e-12, equal_nan=True)


def test_default_excludes_the_four_crashed_runs_and_counts_them():
    table = read_csv_export(SWEEP_111)
    analysed, left_out = included_runs(table, ("finished",))
    assert (len(analysed), len(left_out)) == (107, 4)
    raw = pd.read_csv(SWEEP_111)
    one_way = one_way_stats(analysed, swept_params(analysed, table.config), "val_acc", "max",
                            left_out)
    optimizer = one_way[one_way["parameter"] == "optimizer"].set_index("value")
    finished = raw[raw["State"] == "finished"]
    assert optimizer["runs"].to_dict() == finished["optimizer"].value_counts().to_dict()
    crashed = raw[raw["State"] == "crashed"]["optimizer"].value_counts()
    assert optimizer["excluded"].to_dict() == crashed.reindex(optimizer.index,
                                                              fill_value=0).to_dict()
    assert optimizer.loc["Nadam", "mean"] == pytest.approx(
        finished.loc[finished["optimizer"] == "Nadam", "val_acc"].mean())


def test_swept_params_skip_constants():
    table = read_csv_export(SWEEP_111)
    assert swept_params(table.frame, table.config) == PARAMS  # seed is always 42


def test_two_way_table_matches_groupby():
    table = read_csv_export(SWEEP_111)
    ours = group_stats(table.frame, ["activation", "optimizer"], "val_acc", "max")
    raw = pd.read_csv(SWEEP_111)
    expected = raw.groupby(["activation", "optimizer"])["val_acc"].agg(["count", "mean"])
    assert len(ours) == len(expected)
    for row in ours.itertuples():
        count, mean = expected.loc[(row.activation, row.optimizer)]
        assert (row.runs, row.mean) == (count, pytest.approx(mean))


def test_expected_best_matches_enumeration():
    values = pd.Series([3.0, 1.0, 4.0, 1.5, 9.0])
    table = expected_best(values, "max").set_index("trials")
    for n in (1, 2, 3):
        # every ordered draw of n values with replacement, equally likely
        maxima = [max(draw) for draw in itertools.product(values, repeat=n)]
        assert table.loc[n, "expected"] == pytest.approx(np.mean(maxima))
        assert table.loc[n, "std"] == pytest.approx(np.std(maxima))
    minimum = expected_best(values, "min").set_index("trials")
    assert minimum.loc[2, "expected"] == pytest.approx(
        np.mean([min(d) for d in itertools.product(values, repeat=2)]))


def test_expected_best_of_one_trial_is_the_mean():
    table = read_csv_export(SWEEP_111)
    curve = expected_best(table.frame["val_acc"], "max")
    assert curve.iloc[0]["expected"] == pytest.approx(table.frame["val_acc"].mean())
    assert curve["expected"].is_monotonic_increasing
    assert curve.iloc[-1]["trials"] == 111


def test_top_decile_shares():
    table = read_csv_export(SWEEP_111)
    frame = table.frame
    shares = top_decile_shares(frame, ["optimizer"], "val_acc", "max").set_index("value")
    top = frame.nlargest(12, "val_acc")  # ceil(111 / 10)
    assert shares.loc["Nadam", "top_share"] == pytest.approx((top["optimizer"] == "Nadam").mean())
    assert shares.loc["Nadam", "all_share"] == pytest.approx((frame["optimizer"] == "Nadam").mean())
    assert shares["all_share"].sum() == pytest.approx(1.0)


def test_metric_recognised_in_both_exports():
    assert choose_metric(read_csv_export(SWEEP_111), None) == "val_acc"
    assert choose_metric(read_csv_export(EXPORT_32), None) == "val_acc"
    assert choose_metric(read_csv_export(EXPORT_32), "best_val_acc") == "best_val_acc"
