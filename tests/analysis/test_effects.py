"""Effects and conclusions: checked against statsmodels on R4's real export, and against
sweeps with planted effects (intervals cover the planted values at their nominal rate)."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from scipy.stats import norm, t

from analysis.conclusions import conclusions, from_lints
from analysis.effects import MEASURED, TOO_FEW, pairwise_effects
from analysis.lints import no_effect_params
from analysis.runs import as_categories
from analysis.sources import load_source
from analysis.stats import swept_params

R4 = Path(__file__).parents[1] / "fixtures" / "real" / "vgg6_cifar10_sweep_111_runs.csv"


@pytest.fixture(scope="module")
def r4():
    table = load_source(str(R4))
    frame = table.frame[table.frame["state"] == "finished"]
    params = swept_params(frame, table.config)
    return frame, params, pairwise_effects(frame, params, "val_acc", "max")


def test_effects_match_statsmodels_ols_with_bonferroni(r4):
    frame, params, effects = r4
    # The same model, built independently: treatment-coded dummies, statsmodels' OLS.
    coded = pd.DataFrame({p: as_categories(frame[p]) for p in params})
    dummies = pd.get_dummies(coded, drop_first=True, prefix_sep="=").astype(float)
    fit = sm.OLS(frame["val_acc"].astype(float).to_numpy(), sm.add_constant(dummies)).fit()
    measured = effects[effects["status"] == MEASURED]
    critical = t.ppf(1 - 0.05 / (2 * len(measured)), fit.df_resid)
    assert len(measured) == 28 and len(effects) == 36
    for row in measured.itertuples():
        contrast = pd.Series(0.0, index=fit.params.index)
        for label, sign in ((row.value, 1.0), (row.against, -1.0)):
            if f"{row.parameter}={label}" in contrast.index:
                contrast[f"{row.parameter}={label}"] += sign
        test = fit.t_test(contrast.to_numpy()[None, :])
        estimate, error = float(test.effect[0]), float(test.sd[0, 0])
        assert row.effect == pytest.approx(estimate, abs=1e-9)
        assert row.ci_low == pytest.approx(max(estimate - critical * error, -100), abs=1e-9)
        assert row.ci_high == pytest.approx(min(estimate + critical * error, 100), abs=1e-9)
        assert row.p_improve == pytest.approx(norm.cdf(estimate / np.sqrt(2 * fit.scale)))


def test_pairs_with_fewer_than_three_runs_get_no_number(r4):
    _, _, effects = r4
    small = effects[effects["status"] == TOO_FEW]
    assert set(small["value"]) | set(small["against"]) >= {"Sigmoid", "Nesterov-SGD"}
    assert small[["effect", "ci_low", "ci_high"]].isna().all().all()
    assert (small[["runs", "against_runs"]].min(axis=1) < 3).all()


def test_r4_conclusions_say_what_the_runs_support(r4):
    frame, params, effects = r4
    dead, confounded = from_lints([no_effect_params(frame, params, "val_acc")], "val_acc")
    lines = dict(line.split(": ", 1) for line in
                 conclusions(effects, params, "val_acc", "max", dead, confounded))
    for flag, pairs in (("autoaugment", 10), ("batch_norm", 9), ("use_cutout", 9)):
        assert lines[flag] == (f"never changed val_acc (identical in all {pairs} comparisons):"
                               " most likely it never reached the trainer; see the lints")
    assert lines["lr"].startswith("0.001 is best; val_acc higher than 0.0001 by 8.7")
    assert lines["activation"].startswith("GELU is best")
    assert "too few runs to compare Sigmoid (2 runs)" in lines["activation"]
    # Adam's 3 runs are not called the worst optimizer: no difference from the best.
    assert lines["optimizer"].startswith("Nadam is best")
    assert "no difference detectable from Adam" in lines["optimizer"]
    assert "Adam by" not in lines["optimizer"]
    assert lines["batch_size"].startswith("no difference in val_acc detectable")


def _planted_sweep(rng, replicates: int, noise: float) -> pd.DataFrame:
    """A full grid: metric = 60 + effect(a) + effect(b) + noise; b has no effect."""
    a_effects = {"x": 0.0, "y": 2.0, "z": 5.0}
    rows = [{"a": a, "b": b, "val_acc": 60 + effect + rng.normal(0, noise)}
            for a, effect in a_effects.items() for b in ("on", "off")
            for _ in range(replicates)]
    return pd.DataFrame(rows)


def test_planted_effects_are_covered_at_the_nominal_rate():
    rng = np.random.default_rng(7)
    planted = {("x", "y"): -2.0, ("x", "z"): -5.0, ("y", "z"): -3.0, ("off", "on"): 0.0}
    covered_all, b_reported_as_no_difference, sims = 0, 0, 400
    for _ in range(sims):
        frame = _planted_sweep(rng, replicates=3, noise=2.0)
        effects = pairwise_effects(frame, ["a", "b"], "val_acc", "max").set_index(
            ["value", "against"])
        covered_all += all(effects.loc[pair, "ci_low"] <= truth <= effects.loc[pair, "ci_high"]
                           for pair, truth in planted.items())
        line = conclusions(effects.reset_index(), ["a", "b"], "val_acc", "max")[1]
        b_reported_as_no_difference += line.startswith("b: no difference")
    # Four intervals at a joint 95 % (Bonferroni: at least nominal, a little above).
    assert 0.94 <= covered_all / sims <= 0.995
    assert b_reported_as_no_difference / sims >= 0.95


def test_a_single_comparison_covers_at_about_95_percent():
    rng = np.random.default_rng(11)
    covered, sims = 0, 600
    for _ in range(sims):
        frame = pd.DataFrame({"p": ["u", "v"] * 4})
        frame["val_acc"] = 50 + 1.5 * (frame["p"] == "v") + rng.normal(0, 1.0, len(frame))
        row = pairwise_effects(frame, ["p"], "val_acc", "max").iloc[0]
        covered += row["ci_low"] <= -1.5 <= row["ci_high"]
    assert abs(covered / sims - 0.95) <= 0.025  # binomial sd at n = 600: 0.009


def test_accuracy_intervals_stay_within_the_range():
    frame = pd.DataFrame({"p": ["u"] * 3 + ["v"] * 3,
                          "val_acc": [0.0, 100.0, 0.0, 100.0, 0.0, 100.0]})
    row = pairwise_effects(frame, ["p"], "val_acc", "max").iloc[0]
    half = t.ppf(0.975, 4) * np.sqrt(10000 / 3 * 2 / 3)  # pooled variance 3333.3, 3 + 3 runs
    assert row["effect"] == pytest.approx(-100 / 3)
    assert row["ci_low"] == -100  # -164.2 clipped: two accuracies differ by at most 100
    assert row["ci_high"] == pytest.approx(-100 / 3 + half)
    loss = frame.rename(columns={"val_acc": "val_loss"})
    row = pairwise_effects(loss, ["p"], "val_loss", "min").iloc[0]
    assert row["ci_low"] == pytest.approx(-100 / 3 - half)  # a loss has no range to respect


def test_parameters_moved_together_are_not_separable():
    frame = pd.DataFrame({"a": ["x", "x", "x", "y", "y", "y"],
                          "b": ["p", "p", "p", "q", "q", "q"],
                          "val_acc": [50.0, 51, 52, 60, 61, 62]})
    effects = pairwise_effects(frame, ["a", "b"], "val_acc", "max")
    assert set(effects["status"]) == {"not separable"}
    line = conclusions(effects, ["a", "b"], "val_acc", "max", confounded={"a": ["b"]})[0]
    assert line == ("a: nothing to compare; confounded with b (the sampler moved them "
                    "together)")
