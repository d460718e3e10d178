"""Hyperband details beyond the golden data: strict mode, bands, maximising."""

from vgg_sweep.engine.hyperband import should_stop, stop_decisions, thresholds
from vgg_sweep.engine.spec import Hyperband

BANDS = Hyperband(bands=(1, 3), eta=2)


def test_thresholds_keep_the_top_half_at_each_band():
    histories = [[5, 4, 3, 2], [5, 3, 2, 1], [5, 6, 7, 8], [5, 5]]
    assert thresholds(BANDS, histories) == [5, 2]  # sorted [3,4,5,6][2]; [1,2,8][1]


def test_best_so_far_saves_a_run_unless_strict():
    """Non-strict (W&B's engine) compares the best value so far; strict the band's value."""
    history, limits = [1.0, 9.0], [5.0, 8.0]
    assert not should_stop(BANDS, history, limits)
    assert should_stop(Hyperband(BANDS.bands, BANDS.eta, strict=True), history, limits)


def test_no_band_passed_yet_never_stops():
    assert not should_stop(BANDS, [100.0], [0.0, 0.0])


def test_maximised_metric_is_negated_and_finished_runs_are_not_stopped():
    runs = [([10, 20, 30], False), ([10, 21, 31], True), ([10, 5], True), ([10, 19], True)]
    # at band 1 the threshold is -19 (sorted [-21, -20, -19, -5][2]); a run at it is kept
    assert stop_decisions(BANDS, "maximize", runs) == [False, False, True, False]
