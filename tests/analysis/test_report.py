"""The report directory end to end, and the commands that write it."""

import json
import re

import pandas as pd
import pytest
from click.testing import CliRunner
from sweep_data import SWEEP_111, make_runs_dir

from analysis.commands import export, report, stats
from analysis.report import ReportOptions, Table, build_report
from analysis.rerun import rerun_verdict
from analysis.sources import load_runs_dir
from analysis.wandb_csv import read_csv_export
from vgg_sweep.cli import main

SECTIONS = ["At a glance", "Conclusions", "Overview", "Best configuration", "Group statistics",
            "Lints", "Plots", "Re-run of the best configuration"]
PNGS = {"parallel_coordinates.png", "metric_vs_step.png", "curves.png", "importance.png",
        "expected_best.png"}


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """One report of a fabricated runs dir with a rerun.json: (table, out dir, sections)."""
    root = make_runs_dir(tmp_path_factory.mktemp("runs") / "synthetic")
    out = tmp_path_factory.mktemp("reports") / "synthetic"
    out.mkdir()
    (out / "rerun.json").write_text(json.dumps({"metric": "val_acc",
                                                "values": [70.0, 71.0, 72.5]}))
    table = load_runs_dir(root)
    sections = build_report(table, out, ReportOptions(by=[["optimizer", "activation"]],
                                                      formats=("png",)))
    return table, out, sections


def test_report_has_every_section_and_file(built):
    table, out, sections = built
    assert [s.title for s in sections] == SECTIONS
    assert PNGS | {"heatmap_optimizer__activation.png"} <= {p.name for p in out.glob("*.png")}
    for name in ("report.html", "report.md", "runs.csv", "group_stats.csv",
                 "group_stats_optimizer__activation.csv", "importance.csv"):
        assert (out / name).stat().st_size > 0
    markdown = (out / "report.md").read_text()
    for title in SECTIONS:
        assert f"## {title}" in markdown
    for png in PNGS:
        assert f"]({png})" in markdown


def test_report_numbers(built):
    table, out, _ = built
    finished = table.frame[table.frame["state"] == "finished"]
    stats_csv = pd.read_csv(out / "group_stats.csv")
    optimizer = stats_csv[stats_csv["parameter"] == "optimizer"].set_index("value")
    expected = finished.groupby("optimizer")["val_acc"].agg(["count", "mean"])
    assert optimizer["runs"].to_dict() == expected["count"].to_dict()
    assert optimizer["mean"].to_numpy() == pytest.approx(expected["mean"].to_numpy())
    excluded = (table.frame["state"] != "finished").sum()
    markdown = (out / "report.md").read_text()
    assert f"Excluded from the statistics: {excluded} crashed runs" in markdown
    best = finished.loc[finished["val_acc"].idxmax()]
    name = best["name"].replace("<", "&lt;")  # a tag's < escaped in Markdown, nothing else
    assert f"Best run: {name} with val_acc = {best['val_acc']:.4g}" in markdown
    verdict = rerun_verdict(best["val_acc"], [70.0, 71.0, 72.5])
    assert not verdict["inside"] and verdict["verdict"] in markdown
    pd.testing.assert_frame_equal(read_csv_export(out / "runs.csv").frame, table.frame)


def test_html_is_self_contained_and_escaped(built):
    _, out, _ = built
    page = (out / "report.html").read_text()
    assert not re.search(r"https?://", page)
    images = re.findall(r"<img [^>]*src='([^']*)'", page)
    assert len(images) >= len(PNGS) + 1
    assert all(src.startswith("data:image/png;base64,") for src in images)
    assert "<script" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "&lt;b&gt;GELU&lt;/b&gt;" in page and "<b>GELU" not in page
    # the interactive parallel coordinates: one hover title per line, the best run's escaped
    assert page.count("<svg") == 1
    assert "<title>&lt;script&gt;alert(1)&lt;/script&gt;: val_acc = 99</title>" in page
    markdown = (out / "report.md").read_text()
    assert "<script" not in markdown and "<b>" not in markdown


def test_report_lints_on_the_111_run_sweep(tmp_path):
    sections = build_report(read_csv_export(SWEEP_111), tmp_path,
                            ReportOptions(formats=("png",)))
    lints = next(s for s in sections if s.title == "Lints").blocks
    messages = [b.caption for b in lints if isinstance(b, Table)]
    assert any(m.startswith("[no-effect parameter] autoaugment, batch_norm, use_cutout")
               for m in messages)
    assert "[unfinished runs] 4 crashed (left out of the statistics unless --states all)" \
        in messages
    assert any(m.startswith("[duplicate configs] 9 configurations") for m in messages)
    # a CSV export has no histories: the curves are replaced by a sentence
    plots = next(s for s in sections if s.title == "Plots").blocks
    assert any(isinstance(b, str) and b.startswith("No per-epoch histories") for b in plots)
    assert "No re-runs yet" in (tmp_path / "report.md").read_text()


def test_report_command_through_the_cli(tmp_path, capsys):
    out = tmp_path / "r"
    assert main(["report", str(SWEEP_111), "-o", str(out), "--states", "all",
                 "--metric", "val_acc", "--goal", "max", "--format", "PNG,pdf"]) == 0
    assert {p.name for p in (out / "figures").iterdir()} == {
        f"{p.stem}.pdf" for p in out.glob("*.png")}
    assert "wrote" in capsys.readouterr().out
    stats_csv = pd.read_csv(out / "group_stats.csv")
    assert stats_csv["excluded"].sum() == 0
    assert stats_csv.groupby("parameter")["runs"].sum().eq(111).all()


@pytest.mark.parametrize("args, message", [
    (["report", "/nonexistent/runs"], "no such file or directory"),
    (["report", str(SWEEP_111), "--metric", "nope"], "metric 'nope' is not a column"),
    (["report", str(SWEEP_111), "--metric", "optimizer"], "is not numeric"),
    (["report", str(SWEEP_111), "--by", "colour"], "colour is not a config column"),
    (["report", str(SWEEP_111), "--format", "png,jpg"], "unknown figure format 'jpg'"),
    (["report", str(SWEEP_111), "--states", "running"], "no runs in states running"),
    (["export", str(SWEEP_111), "-o", "/proc/nope/runs.csv"], "cannot write"),
    (["report", str(SWEEP_111), "-o", "/proc/nope"], "cannot write to /proc/nope"),
])
def test_user_errors_are_one_line_exit_2(args, message, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(args) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and "Traceback" not in err


def test_csv_without_names_is_a_user_error(tmp_path, capsys):
    (tmp_path / "x.csv").write_text("a,b\n1,2\n")
    assert main(["export", str(tmp_path / "x.csv"), "-o", str(tmp_path / "y.csv")]) == 2
    assert "no Name column" in capsys.readouterr().err


def test_export_and_stats_commands(runs_dir, tmp_path):
    runner = CliRunner()
    result = runner.invoke(export, [str(runs_dir), "-o", str(tmp_path / "runs.csv")])
    assert result.exit_code == 0, result.output
    assert len(read_csv_export(tmp_path / "runs.csv").frame) == 41
    result = runner.invoke(stats, [str(tmp_path / "runs.csv"), "--by", "optimizer",
                                   "--format", "csv"])
    assert result.exit_code == 0, result.output
    table = pd.read_csv(__import__("io").StringIO(result.stdout))
    frame = load_runs_dir(runs_dir).frame
    finished = frame[frame["state"] == "finished"]
    assert table.set_index("value")["runs"].to_dict() == \
        finished["optimizer"].value_counts().to_dict()


@pytest.mark.parametrize("command", [report, export, stats])
def test_help(command):
    result = CliRunner().invoke(command, ["--help"])
    assert result.exit_code == 0 and "SOURCE" in result.output
