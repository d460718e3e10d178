"""`vgg-sweep rerun-best`: sweep -> best config -> re-runs with new seeds -> verdict."""

import itertools
import json
from pathlib import Path

from vgg_sweep.cli import main
from vgg_sweep.record import write_record
from vgg_sweep.rerun_command import best_config, rerun_spec_dict


def test_best_config_keeps_trial_fields_only():
    row = {"name": "run-1", "val_acc": 80.0, "optimizer": "Nesterov-SGD", "seed": 42,
           "lr": 0.01, "batch_norm": "true", "epoch": 30, "activation": float("nan")}
    assert best_config(row) == {"optimizer": "Nesterov", "lr": 0.01, "batch_norm": True}


def test_rerun_spec_is_a_seed_grid():
    spec = rerun_spec_dict("x_rerun", {"lr": 0.01}, [1042, 2042], "val_acc", "max")
    assert spec["method"] == "grid" and spec["metric"]["goal"] == "maximize"
    assert spec["parameters"] == {"lr": {"value": 0.01}, "seed": {"values": [1042, 2042]}}


def _records(folder: Path) -> dict[str, dict]:
    return {str(p): json.loads(p.read_text()) for p in folder.rglob("record.json")}


def write_source(root: Path) -> None:
    """A finished 2 x 2 sweep's records (the trainer's config fields, made up metrics): the
    source whose best configuration is re-run for real."""
    for index, (activation, optimizer) in enumerate(
            itertools.product(["ReLU", "GELU"], ["Adam", "SGD"])):
        config = {"dataset": "synthetic", "model": "vgg6", "activation": activation,
                  "optimizer": optimizer, "epochs": 1, "train_subset": 64, "batch_size": 32,
                  "plots": False, "seed": 42}
        write_record(root / f"s{index}", {
            "id": f"s{index}", "name": f"run-{index}", "sweep": "smoke", "state": "finished",
            "created": f"2026-01-01T00:00:0{index}+00:00", "runtime": 1.0, "config": config,
            "summary": {"val_acc": 20.0 + 5 * index, "test_acc": 19.0 + 5 * index},
            "history": [{"epoch": 1, "train_loss": 2.0, "val_loss": 2.1,
                         "val_acc": 20.0 + 5 * index}]})


def test_rerun_best_end_to_end_then_more_seeds(tmp_path, capsys):
    runs = tmp_path / "runs"
    write_source(runs / "smoke")
    out_dir = tmp_path / "report"
    args = ["rerun-best", str(runs / "smoke"), "--runs-dir", str(runs), "--in-process", "-o",
            str(out_dir)]
    code = main([*args, "--seeds", "2"])
    output = capsys.readouterr().out
    assert code == 0, output
    rerun = json.loads((out_dir / "rerun.json").read_text())
    assert rerun["seeds"] == [1042, 2042] and len(rerun["values"]) == 2
    best = max((json.loads(p.read_text()) for p in (runs / "smoke").glob("*/record.json")),
               key=lambda r: r["summary"]["val_acc"])
    folder = runs / f"smoke_rerun_{best['id']}"
    first = _records(folder)
    assert sorted(r["config"]["seed"] for r in first.values()) == [1042, 2042]
    assert {r["config"]["activation"] for r in first.values()} == {best["config"]["activation"]}
    assert {r["config"]["optimizer"] for r in first.values()} == {best["config"]["optimizer"]}
    assert rerun["sweep_best"] == best["summary"]["val_acc"]
    # the verdict states the gap and the number of seeds, with a caution for 2 seeds
    assert "over 2 seeds" in rerun["verdict"] and "caution" in rerun["verdict"]
    assert f"{abs(rerun['gap']):.3g}" in rerun["verdict"]
    assert f"{rerun['mean']:.4g}" in output
    test_acc = [r["summary"]["test_acc"] for r in sorted(first.values(),
                                                         key=lambda r: r["config"]["seed"])]
    assert rerun["test"]["test_acc"] == test_acc
    assert "test_acc: " in output and "over 2 seeds" in output

    # Three seeds the second time: one more run trained, the first two kept as they were.
    code = main([*args, "--seeds", "3"])
    output, err = capsys.readouterr()
    assert code == 0, output + err
    assert "2 of 3 seeds done, training seeds [3042]" in output
    second = _records(folder)
    assert len(second) == 3 and all(second[path] == record for path, record in first.items())
    rerun = json.loads((out_dir / "rerun.json").read_text())
    assert rerun["seeds"] == [1042, 2042, 3042] and rerun["runs"] == 3
    test_acc = [r["summary"]["test_acc"] for r in sorted(second.values(),
                                                         key=lambda r: r["config"]["seed"])]
    assert rerun["test"]["test_acc"] == test_acc
    mean = sum(test_acc) / 3
    assert f"test_acc: {mean:.4g} +- " in output and "over 3 seeds" in output
    assert "3 of 3 seeds done" not in output

    # The report on runs the local engine produced has every section and every plot.
    markdown = (out_dir / "report.md").read_text()
    for heading in ("At a glance", "Overview", "Best configuration", "Group statistics",
                    "Lints", "Plots", "Re-run of the best configuration"):
        assert f"## {heading}" in markdown
    assert "Test-set metrics of the re-runs" in markdown
    for plot in ("parallel_coordinates", "metric_vs_step", "curves", "importance",
                 "expected_best", "parameters", "at_a_glance", "best_run_curves"):
        assert (out_dir / f"{plot}.png").stat().st_size > 0, plot
    assert {p.name for p in out_dir.glob("heatmap_*.png")} & {
        "heatmap_optimizer__activation.png", "heatmap_activation__optimizer.png"}
    html = (out_dir / "report.html").read_text()
    assert "<img" in html and 'src="http' not in html


def test_rerun_best_name_must_be_a_folder_name(tmp_path, capsys):
    csv = Path(__file__).resolve().parent / "fixtures" / "real" / "vgg6_cifar10_sweep_111_runs.csv"
    assert main(["rerun-best", str(csv), "--name", "a/b", "--runs-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "--name 'a/b'" in err and err.count("\n") == 1


def test_rerun_best_refuses_runs_of_another_program(tmp_path, capsys):
    """A foreign sweep's records (`vgg-sweep sweep` of the file's own program): our trainer
    cannot re-run a configuration of options it does not have."""
    for index, width in enumerate((8, 16, 32)):
        write_record(tmp_path / "runs" / "mine" / f"r{index}", {
            "id": f"r{index}", "name": f"r{index}", "state": "finished",
            "config": {"width": width, "lr": 0.01}, "summary": {"val_acc": 50.0 + width},
            "history": [], "program": ["/usr/bin/env", "python", "train.py"]})
    code = main(["rerun-best", str(tmp_path / "runs" / "mine"), "--runs-dir", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1
    assert "swept width are not options of our trainer" in err
