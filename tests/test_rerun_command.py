"""`vgg-sweep rerun-best`: sweep -> best config -> re-runs with new seeds -> verdict."""

import json
from pathlib import Path

from vgg_sweep.cli import main
from vgg_sweep.rerun_command import best_config, rerun_spec_dict

SMOKE = Path(__file__).resolve().parents[1] / "sweeps" / "smoke.yaml"


def test_best_config_keeps_trial_fields_only():
    row = {"name": "run-1", "val_acc": 80.0, "optimizer": "Nesterov-SGD", "seed": 42,
           "lr": 0.01, "batch_norm": "true", "epoch": 30, "activation": float("nan")}
    assert best_config(row) == {"optimizer": "Nesterov", "lr": 0.01, "batch_norm": True}


def test_rerun_spec_is_a_seed_grid():
    spec = rerun_spec_dict("x_rerun", {"lr": 0.01}, [1042, 2042], "val_acc", "max")
    assert spec["method"] == "grid" and spec["metric"]["goal"] == "maximize"
    assert spec["parameters"] == {"lr": {"value": 0.01}, "seed": {"values": [1042, 2042]}}


def test_rerun_best_end_to_end(tmp_path, capsys):
    runs = tmp_path / "runs"
    assert main(["sweep", str(SMOKE), "--runs-dir", str(runs), "--in-process"]) == 0
    out_dir = tmp_path / "report"
    code = main(["rerun-best", str(runs / "smoke"), "--seeds", "2", "--runs-dir", str(runs),
                 "--in-process", "-o", str(out_dir)])
    output = capsys.readouterr().out
    assert code == 0, output
    rerun = json.loads((out_dir / "rerun.json").read_text())
    assert rerun["seeds"] == [1042, 2042] and len(rerun["values"]) == 2
    records = [json.loads(p.read_text()) for p in (runs / "smoke_rerun").glob("*/record.json")]
    assert sorted(r["config"]["seed"] for r in records) == [1042, 2042]
    best = max((json.loads(p.read_text()) for p in (runs / "smoke").glob("*/record.json")),
               key=lambda r: r["summary"]["val_acc"])
    assert {r["config"]["activation"] for r in records} == {best["config"]["activation"]}
    assert {r["config"]["optimizer"] for r in records} == {best["config"]["optimizer"]}
    assert rerun["sweep_best"] == best["summary"]["val_acc"]
    assert ("reproduced" in rerun["verdict"]) and "rerun" in (out_dir / "report.md").read_text(
        ).lower()
    assert f"{rerun['mean']:.4g}" in output
    # The report on runs the local engine produced has every section and every plot.
    markdown = (out_dir / "report.md").read_text()
    for heading in ("Overview", "Best configuration", "Group statistics", "Lints", "Plots",
                    "Re-run of the best configuration"):
        assert f"## {heading}" in markdown
    for plot in ("parallel_coordinates", "metric_vs_step", "curves", "importance",
                 "expected_best", "heatmap_optimizer__activation"):
        assert (out_dir / f"{plot}.png").stat().st_size > 0, plot
    html = (out_dir / "report.html").read_text()
    assert "<img" in html and 'src="http' not in html
