"""What a write-up needs from the report: binned continuous parameters, log axes, labels that
do not overprint, bounded intervals, the answers on top, print formats for every figure and
table."""

import io
import re
from datetime import timedelta

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.image import imread, imsave
from sweep_data import START, SWEEP_111, synthetic_record

from analysis import plots
from analysis.commands import stats
from analysis.report import ReportOptions, build_report
from analysis.runs import binned, short_number
from analysis.sources import load_runs_dir
from analysis.stats import TOO_FEW, group_stats, interval_text
from analysis.wandb_csv import read_csv_export
from vgg_sweep.cli import main
from vgg_sweep.record import write_record

RUNS = 36


@pytest.fixture(scope="module")
def log_lr_runs(tmp_path_factory):
    """A sweep with lr drawn log-uniformly from [1e-4, 1e-1] (as W&B's log_uniform_values),
    the metric mostly a function of lr, plus categorical activation and optimizer."""
    root = tmp_path_factory.mktemp("runs") / "loglr"
    rng = np.random.default_rng(3)
    for index in range(RUNS):
        record = synthetic_record(index, rng, epochs=1 + index % 2)
        lr = float(10 ** rng.uniform(-4, -1))
        record["config"]["lr"] = lr
        record["config"]["dropout"] = float(rng.uniform(0, 0.5))
        record["summary"]["val_acc"] = 80 - 10 * abs(np.log10(lr) + 2.5) + rng.normal(0, 1)
        record["created"] = (START + timedelta(minutes=index)).isoformat()
        write_record(root / record["id"], record)
        (root / record["id"] / "artifacts").mkdir()  # as the trainer writes them
        imsave(root / record["id"] / "artifacts" / "confusion_matrix.png",
               np.full((4, 4), index, dtype=float), vmin=0, vmax=RUNS)
    return load_runs_dir(root)


def bin_edges(label: str) -> tuple[float, float]:
    low, high = re.fullmatch(r"\[(\S+), (\S+)[\])]", label).groups()
    return float(low), float(high)


def test_a_log_uniform_parameter_is_binned_in_log_space(log_lr_runs):
    frame = log_lr_runs.frame
    table = group_stats(frame, ["lr"], "val_acc", "max")
    assert len(table) <= 5 and table["runs"].sum() == frame["val_acc"].notna().sum()
    edges = [bin_edges(label) for label in table["lr"].astype(str)]
    ratios = [high / low for low, high in edges]
    assert max(ratios) / min(ratios) < 1.2  # equal widths in log space, ~4x each
    assert edges[0][0] == pytest.approx(frame["lr"].min(), rel=0.05)
    groups = binned(frame["lr"])  # every run in the bin whose edges hold its value
    for value, label in zip(frame["lr"], groups.astype(str), strict=True):
        low, high = bin_edges(label)
        assert low * 0.95 <= value <= high * 1.05


def test_a_linear_continuous_parameter_is_binned_by_quantiles(log_lr_runs):
    counts = binned(log_lr_runs.frame["dropout"]).value_counts()
    assert len(counts) == 5 and counts.max() - counts.min() <= 1


def test_an_integer_parameter_with_many_values_is_binned_too():
    """W&B's int_uniform (a seed per run, a batch size): a thousand seeds were a thousand
    groups, and half a million pairwise effects (a 1,000-run report took 100 s); a few
    integers (a grid of batch sizes, 3 seeds) stay as they are."""
    import numpy as np
    import pandas as pd

    from analysis.effects import pairwise_effects

    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"seed": np.arange(1000), "batch_size": rng.choice([32, 64, 128], 1000),
                          "val_acc": rng.normal(80, 2, 1000)})
    assert binned(frame["seed"]).nunique() == 5
    assert sorted(binned(frame["batch_size"]).unique()) == [32, 64, 128]
    assert binned(frame["seed"].astype(bool)).nunique() == 2  # booleans are never binned
    effects = pairwise_effects(frame, ["seed", "batch_size"], "val_acc", "max")
    assert len(effects) == 10 + 3  # pairs of 5 seed bins, of 3 batch sizes


def test_short_numbers():
    assert [short_number(x) for x in (0.0012076665792328147, 1e-4, 2.0, 256.0, 1.5e-05,
                                      2.5e7, 0.5)] \
        == ["0.0012", "0.0001", "2", "256", "1.5e-5", "2.5e7", "0.5"]


def test_parameter_panel_uses_a_log_axis_with_labels_that_do_not_overprint(log_lr_runs):
    frame = log_lr_runs.frame
    figure = plots.parameter_panels(frame, frame, ["lr", "optimizer", "activation"], "val_acc")
    renderer = FigureCanvasAgg(figure).get_renderer()
    figure.draw(renderer)
    ax = figure.axes[0]
    assert ax.get_xlabel() == "lr" and ax.get_xscale() == "log"
    for axis in figure.axes[:3]:
        labels = [label for label in axis.get_xticklabels()
                  if label.get_text() and label.get_visible()
                  and axis.get_xlim()[0] <= label.get_position()[0] <= axis.get_xlim()[1]]
        assert len(labels) >= 2
        boxes = sorted((label.get_window_extent(renderer) for label in labels),
                       key=lambda box: box.x0)
        assert all(left.x1 <= right.x0 for left, right in zip(boxes, boxes[1:], strict=False)), \
            [label.get_text() for label in labels]
        assert all(len(label.get_text()) <= 8 and "^" not in label.get_text()
                   and "times" not in label.get_text() for label in labels)
    texts = [label.get_text() for label in ax.get_xticklabels() if label.get_text()]
    assert {"0.001", "0.01"} <= set(texts)


def test_parallel_coordinate_ticks_are_spaced_and_short(log_lr_runs):
    positions, ticks = plots.axis_positions(log_lr_runs.frame["lr"])
    assert np.nanmin(positions) == 0 and np.nanmax(positions) == 1
    labels = [label for _, label in ticks]
    frame = log_lr_runs.frame
    assert {"0.001", "0.01", short_number(frame["lr"].max())} <= set(labels)
    assert all(len(label) <= 7 for label in labels)
    places = [place for place, _ in ticks]
    assert np.diff(places).min() >= plots.MIN_GAP
    # seven close values on a linear axis: thinned, first and last kept
    _, ticks = plots.axis_positions(pd.Series([1.0, 1.01, 1.02, 1.03, 1.04, 1.05, 2.0]))
    places = [place for place, _ in ticks]
    assert np.diff(places).min() >= plots.MIN_GAP and places[0] == 0 and places[-1] == 1


def test_heatmap_cells_contrast_with_their_colour():
    table = pd.DataFrame({"a": ["x", "x", "y", "y"], "b": ["p", "q", "p", "q"],
                          "mean": [10.0, 40.0, 70.0, 99.0], "runs": [3, 3, 3, 3]})
    figure = plots.heatmap(table, "a", "b", "val_acc")
    texts = {text.get_text().split("\n")[0]: text for text in figure.axes[0].texts}
    assert texts["10"].get_color() == "white" and texts["99"].get_color() == "black"
    assert texts["10"].get_fontsize() >= 9


def test_curves_of_one_epoch_runs_have_markers():
    history = pd.DataFrame({"epoch": [1], "train_loss": [2.0], "val_loss": [2.1],
                            "train_acc": [30.0], "val_acc": [28.0]})
    figure = plots.training_curves({"run": history})
    lines = [line for ax in figure.axes for line in ax.get_lines()]
    assert len(lines) == 4 and all(line.get_marker() == "o" for line in lines)


def test_intervals_stay_in_range_and_need_three_runs():
    frame = pd.DataFrame({"g": ["a", "a", "b", "b", "b"], "val_acc": [40.0, 90.0, 1.0, 99.0,
                                                                        99.5]})
    table = group_stats(frame, ["g"], "val_acc", "max").set_index("g")
    assert np.isnan(table.loc["a", "ci_low"]) and np.isnan(table.loc["a", "ci_high"])
    assert table.loc["b", "ci_high"] == 100.0 and table.loc["b", "ci_low"] == 0.0
    assert interval_text(np.nan, np.nan) == TOO_FEW
    fractions = frame.assign(val_acc=frame["val_acc"] / 100)
    assert group_stats(fractions, ["g"], "val_acc", "max")["ci_high"].max() == 1.0


def test_report_bins_lr_and_draws_heatmaps_over_categoricals(log_lr_runs, tmp_path):
    build_report(log_lr_runs, tmp_path, ReportOptions(formats=("png",)))
    assert not (tmp_path / "figures").exists()
    stats_csv = pd.read_csv(tmp_path / "group_stats.csv")
    assert (stats_csv["parameter"] == "lr").sum() <= 5
    heatmaps = [path.name for path in tmp_path.glob("heatmap_*.png")]
    assert len(heatmaps) == 1 and "lr" not in heatmaps[0] and "dropout" not in heatmaps[0]
    markdown = (tmp_path / "report.md").read_text()
    assert "lr 0.0" in markdown.split("## Contents")[0]  # the best run's own lr, not a bin
    # the best run's artifacts, copied beside the report and shown with their caption
    frame = log_lr_runs.frame
    best = frame.loc[frame[frame["state"] == "finished"]["val_acc"].idxmax()]
    copied = imread(tmp_path / "best_run" / "confusion_matrix.png")
    original = imread(log_lr_runs.source + f"/{best['id']}/artifacts/confusion_matrix.png")
    assert np.array_equal(copied, original)
    assert "(best_run/confusion_matrix.png)" in markdown
    assert "Confusion matrix of the best run on the test set." in markdown
    assert "(best_run_curves.png)" in markdown


@pytest.fixture(scope="module")
def r4_report(tmp_path_factory):
    out = tmp_path_factory.mktemp("r4")
    build_report(read_csv_export(SWEEP_111), out, ReportOptions())
    return out


def test_the_top_of_r4s_report_answers_first(r4_report):
    markdown = (r4_report / "report.md").read_text()
    top = markdown.split("## Contents")[0]
    for fact in ("activation GELU", "optimizer Nadam", "lr 0.001", "batch_size 64",
                 "epochs 80", "val_acc = 85.7", "see the Lints section", "no-effect parameter",
                 "at_a_glance.png", "Parameters that matter most"):
        assert fact in top, fact
    assert top.index("Best configuration:") < top.index("On the test set")
    assert "&lt;=" not in markdown and "<=" in markdown  # the chance-level lint's text
    page = (r4_report / "report.html").read_text()
    assert "<NA>" not in page and "&lt;NA&gt;" not in page
    assert "too few runs" in markdown
    assert "| 0 | 10 |" not in markdown


def test_every_figure_and_table_also_in_print_formats(r4_report):
    pngs = {path.stem for path in r4_report.glob("*.png")}
    assert {"at_a_glance", "parameters", "parallel_coordinates", "importance"} <= pngs
    for fmt in ("pdf", "svg"):
        assert {path.stem for path in (r4_report / "figures").glob(f"*.{fmt}")} == pngs
    assert (r4_report / "figures" / "parameters.pdf").read_bytes()[:5] == b"%PDF-"
    tables = r4_report / "tables"
    names = {path.stem for path in tables.glob("*.csv")}
    assert {"group_stats", "best_config", "importance", "top_decile", "lint_too_few_runs",
            "group_stats_optimizer__activation"} <= names
    for name in names:
        assert (tables / f"{name}.md").is_file()
        tex = (tables / f"{name}.tex").read_text()
        assert "\\toprule" in tex and "\\bottomrule" in tex and "\\caption{" in tex
    markdown = (r4_report / "report.md").read_text()
    assert len(re.findall(r"\*Table \d+: ", markdown)) == len(names)
    assert len(re.findall(r"\*Figure \d+: ", markdown)) == len(pngs)
    best = pd.read_csv(tables / "best_config.csv")
    assert "seed" not in set(best["parameter"])  # not swept, the default: left out
    assert {"activation", "lr", "optimizer"} <= set(best["parameter"])
    every = pd.read_csv(tables / "best_config_all.csv")
    assert "seed" in set(every["parameter"])


def test_stats_by_a_pair_prints_that_one_table(capsys):
    result = CliRunner().invoke(stats, [str(SWEEP_111), "--by", "activation,optimizer",
                                        "--format", "csv"])
    assert result.exit_code == 0, result.output
    table = pd.read_csv(io.StringIO(result.stdout))
    assert list(table.columns[:3]) == ["activation", "optimizer", "runs"]
    raw = pd.read_csv(SWEEP_111)
    finished = raw[raw["State"] == "finished"]
    assert len(table) == len(finished.groupby(["activation", "optimizer"]))
    assert main(["stats", str(SWEEP_111), "--by", "activation", "--by", "lr,optimizer",
                 "--format", "csv"]) == 2
    assert "one table" in capsys.readouterr().err
