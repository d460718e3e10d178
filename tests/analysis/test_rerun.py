"""The rerun-best verdict."""

import json
import statistics

import pytest

from analysis.rerun import read_rerun, rerun_verdict
from vgg_sweep.errors import UserError


def test_verdict_inside_and_outside_two_std():
    values = [84.9, 85.3, 85.1, 84.6, 85.0]
    mean, std = statistics.mean(values), statistics.stdev(values)
    inside = rerun_verdict(85.7, values)
    assert (inside["mean"], inside["std"]) == (pytest.approx(mean), pytest.approx(std))
    assert (inside["min"], inside["max"], inside["runs"]) == (84.6, 85.3, 5)
    assert inside["high"] == pytest.approx(mean + 2 * std)
    assert inside["inside"] is (85.7 <= mean + 2 * std)
    outside = rerun_verdict(mean + 2 * std + 0.01, values)
    assert outside["inside"] is False and outside["verdict"].startswith("not reproduced")
    assert rerun_verdict(mean - 2 * std, values)["inside"] is True


@pytest.mark.parametrize("values", [[85.0], [], [85.0, float("nan")]])
def test_verdict_needs_two_finite_values(values):
    with pytest.raises(UserError, match="at least 2"):
        rerun_verdict(85.0, values)


def test_read_rerun(tmp_path):
    path = tmp_path / "rerun.json"
    path.write_text(json.dumps({"metric": "val_acc", "values": [1, 2.5], "seeds": [0, 1]}))
    assert read_rerun(path) == {"metric": "val_acc", "values": [1.0, 2.5], "seeds": [0, 1],
                                "test": {}}
    path.write_text(json.dumps({"metric": "val_acc", "values": [1, 2.5], "seeds": [0, 1],
                                "test": {"test_acc": [80.5, None]}}))
    assert read_rerun(path)["test"] == {"test_acc": [80.5, None]}
    path.write_text(json.dumps({"values": [1, 2.5], "test": {"test_acc": "high"}}))
    with pytest.raises(UserError, match="test metrics to lists of numbers"):
        read_rerun(path)
    path.write_text('{"vals": []}')
    with pytest.raises(UserError, match="not a rerun file"):
        read_rerun(path)


def test_verdict_says_the_gap_and_cautions_with_few_seeds():
    """The case that was called plainly "reproduced": a best of 46.67, re-runs near 40."""
    values = [35.0, 39.9, 45.0]
    verdict = rerun_verdict(46.67, values)
    mean = statistics.mean(values)
    assert verdict["gap"] == pytest.approx(46.67 - mean)
    assert verdict["inside"] and "reproduced" not in verdict["verdict"]
    assert verdict["verdict"].startswith("consistent with the re-runs: the sweep's best 46.67 "
                                         f"is {46.67 - mean:.3g} above the re-runs' mean "
                                         f"{mean:.4g} over 3 seeds")
    assert "caution: 3 seeds" in verdict["verdict"]
    assert "caution" not in rerun_verdict(85.0, [84.9, 85.3, 85.1, 84.6, 85.0])["verdict"]
