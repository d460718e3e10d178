"""Regressions from the outside review of `report`, `stats` and `export`: each crashed, or
answered wrong with exit 0. Every case goes through the CLI and checks the contract and the
numbers."""

import json

import pandas as pd
import pytest
from contract import assert_contract, run_cli
from sweep_data import EXPORT_32, SWEEP_111
from test_sources import FakeApi

from analysis.sources import load_source
from analysis.wandb_csv import read_csv_export, write_csv_export
from vgg_sweep.record import write_record


def csv_file(tmp_path, rows: list[list], name="export.csv"):
    path = tmp_path / name
    pd.DataFrame(rows[1:], columns=range(len(rows[0]))).to_csv(path, header=rows[0],
                                                                index=False)
    return path


def ok(argv) -> str:
    result = run_cli(argv)
    assert_contract(result, allowed=(0,))
    return result.err


def refused(argv, fragment) -> str:
    result = run_cli(argv)
    assert_contract(result, allowed=(2,))
    assert fragment in result.err, result.err
    return result.err


def group_runs(stats_csv: str, parameter: str) -> dict:
    table = pd.read_csv(stats_csv)
    rows = table[table["parameter"] == parameter]
    return dict(zip(rows["value"].astype(str), rows["runs"], strict=True))


def read_stats(tmp_path, argv) -> pd.DataFrame:
    result = run_cli(["stats", *argv, "--format", "csv"])
    assert_contract(result, allowed=(0,))
    (tmp_path / "stats.csv").write_text(result.out.split("\n\n")[0])
    return pd.read_csv(tmp_path / "stats.csv")


# --- 1. W&B runs whose summary repeats meta fields --------------------------------------------

def wandb_like_api(count=6):
    """Runs as our tracker leaves them in W&B: `state` (and the rest) in the summary."""
    api = FakeApi(count=count)
    for run in api.runs_made:
        run.summary.update(state="finished", name="summary-name", _timestamp=1.7e9,
                           _wandb={"runtime": 12}, id="other", created="yesterday")
        run.config.update(runtime="config-runtime", sweep="config-sweep")
    return api


def test_wandb_summary_state_and_name_do_not_clash_with_meta():
    api = wandb_like_api()
    table = load_source("wandb:me/vgg6/abc", api=api)
    frame = table.frame
    assert frame.columns.is_unique
    assert frame["state"].tolist() == [run.state for run in api.runs_made]  # meta wins
    assert frame["name"].tolist() == [run.name for run in api.runs_made]
    assert frame["summary/state"].eq("finished").all()
    assert frame["summary/name"].eq("summary-name").all()
    assert frame["config.runtime"].eq("config-runtime").all()
    assert frame["runtime"].tolist() == [60.0 * i for i in range(6)]
    assert "_timestamp" not in frame and "_wandb" not in frame
    assert table.summary == ["val_acc", "summary/state", "summary/name", "summary/id",
                             "summary/created"]


def test_wandb_report_of_runs_our_tracker_logged(tmp_path, monkeypatch):
    api = wandb_like_api()
    monkeypatch.setattr("wandb.Api", lambda: api)
    ok(["report", "wandb:me/vgg6/abc", "-o", tmp_path / "r"])
    stats = pd.read_csv(tmp_path / "r" / "group_stats.csv")
    finished = [run for run in api.runs_made if run.state == "finished"]
    assert stats.groupby("parameter")["runs"].sum().eq(len(finished)).all()


# --- 2. crashes ------------------------------------------------------------------------------

@pytest.mark.parametrize("command", ["report", "stats", "export"])
def test_export_with_one_run_reports(tmp_path, command):
    path = csv_file(tmp_path, [["Name", "State", "lr", "val_acc"], ["a", "finished", 0.1, 50]])
    out = ["-o", tmp_path / ("out.csv" if command == "export" else "r")]
    ok([command, path, *(out if command != "stats" else [])])


def test_export_without_a_varying_parameter_reports(tmp_path):
    path = csv_file(tmp_path, [["Name", "State", "lr", "val_acc"], ["a", "finished", 0.1, 50],
                               ["b", "finished", 0.1, 60]])
    ok(["report", path, "-o", tmp_path / "r"])
    assert "Swept parameters: none." in (tmp_path / "r" / "report.md").read_text()


@pytest.mark.parametrize("headers", [["Name", "State", "state"], ["Name", "name", "State"],
                                     ["Name", "Runtime", "Runtime (Seconds)", "State"]])
def test_duplicate_meta_columns_first_is_meta(tmp_path, headers):
    rows = [[*headers, "lr", "val_acc"]]
    rows += [[f"run-{i}" if h in ("Name",) else "finished" if h == "State" else f"{i}"
              for h in headers] + [0.1 * (i % 2 + 1), 50 + i] for i in range(4)]
    path = csv_file(tmp_path, rows)
    table = read_csv_export(path)
    assert table.frame.columns.is_unique
    assert table.frame["name"].tolist() == [f"run-{i}" for i in range(4)]
    assert table.frame["state"].eq("finished").all()
    ok(["report", path, "-o", tmp_path / "r"])
    assert group_runs(tmp_path / "r" / "group_stats.csv", "lr") == {"0.1": 2, "0.2": 2}


@pytest.mark.parametrize("param", ["std", "mean", "runs", "value", "parameter"])
def test_parameter_named_like_a_statistic(tmp_path, param):
    path = csv_file(tmp_path, [["Name", param, "val_acc"], ["a", "x", 1], ["b", "y", 2],
                               ["c", "y", 4]])
    stats = read_stats(tmp_path, [path])
    assert stats[["value", "runs", "mean"]].values.tolist() == [["x", 1, 1.0], ["y", 2, 3.0]]
    ok(["report", path, "-o", tmp_path / "r", "--by", f"{param},{param}"])
    ok(["stats", path, "--by", param])


def test_two_way_table_with_a_statistic_name(tmp_path):
    path = csv_file(tmp_path, [["Name", "std", "lr", "val_acc"], ["a", "x", 1, 1],
                               ["b", "y", 1, 2], ["c", "y", 2, 4]])
    result = run_cli(["stats", path, "--by", "std,lr", "--format", "csv"])
    assert_contract(result, allowed=(0,))
    two_way = result.out.splitlines()  # that table alone (--by A,B prints exactly it)
    assert two_way[0] == "param:std,lr,runs,mean,std,best,ci_low,ci_high,excluded"
    assert len(two_way) == 4


def test_by_the_same_parameter_twice(tmp_path):
    result = run_cli(["stats", SWEEP_111, "--by", "lr,lr", "--format", "csv"])
    assert_contract(result, allowed=(0,))
    stats = pd.read_csv(__import__("io").StringIO(result.out))
    finished = pd.read_csv(SWEEP_111).query("State == 'finished'")
    assert stats["runs"].sum() == len(finished)


@pytest.mark.parametrize("command", ["report", "stats"])
def test_inf_metric_is_missing_with_a_warning(tmp_path, command):
    path = csv_file(tmp_path, [["Name", "lr", "val_loss"], ["a", 0.1, 1.0], ["b", 0.1, 2.0],
                               ["c", 10, "inf"], ["d", 10, 3.0]])
    args = [command, path, "--metric", "val_loss"]
    err = ok(args + (["-o", tmp_path / "r"] if command == "report" else []))
    assert "vgg-sweep: warning: 1 values of val_loss are not finite" in err
    if command == "report":
        runs = group_runs(tmp_path / "r" / "group_stats.csv", "lr")
        assert runs == {"0.1": 2, "10.0": 1}


@pytest.mark.parametrize("config", [[1, 2], "adam", 3, None])
def test_record_whose_config_is_not_an_object_is_skipped(tmp_path, config):
    for index in range(3):
        write_record(tmp_path / f"r{index}", {"id": f"r{index}", "name": f"r{index}",
                                              "state": "finished", "config": {"lr": index},
                                              "summary": {"val_acc": 50.0 + index}})
    (tmp_path / "bad" ).mkdir()
    (tmp_path / "bad" / "record.json").write_text(json.dumps(
        {"state": "finished", "config": config, "summary": {"val_acc": 1.0}}))
    ok(["report", tmp_path, "-o", tmp_path / "out"])
    markdown = (tmp_path / "out" / "report.md").read_text()
    assert ("Skipped 1 unreadable" in markdown) is (config is not None)


def test_deeply_nested_record_is_skipped_or_read(tmp_path):
    write_record(tmp_path / "a", {"id": "a", "state": "finished", "config": {"lr": 1},
                                  "summary": {"val_acc": 1.0}})
    deep = {"lr": 2}
    for _ in range(200):
        deep = {"x": deep}
    write_record(tmp_path / "b", {"id": "b", "state": "finished", "config": deep,
                                  "summary": {"val_acc": 2.0}})
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "record.json").write_text('{"config": ' + "[" * 100_000 + "]" * 100_000
                                                + ', "state": "finished"}')
    table = load_source(str(tmp_path))
    assert len(table.frame) == 2 and table.skipped == 1
    assert "x." * 200 + "lr" in table.config
    ok(["export", tmp_path, "-o", tmp_path / "out.csv"])


def test_records_without_name_use_id_then_folder(tmp_path):
    write_record(tmp_path / "dir-a", {"id": "id-a", "state": "finished", "config": {"lr": 1},
                                      "summary": {"val_acc": 1.0}})
    write_record(tmp_path / "dir-b", {"state": "finished", "config": {"lr": 2},
                                      "summary": {"val_acc": 2.0}})
    table = load_source(str(tmp_path))
    assert table.frame["name"].tolist() == ["id-a", "dir-b"]
    ok(["report", tmp_path, "-o", tmp_path / "r"])


def test_history_with_text_cells_and_huge_values(tmp_path):
    rows = [{"epoch": 1, "train_loss": 1e308, "val_loss": "nan?", "val_acc": 1e299},
            {"epoch": "two", "train_loss": "x", "val_loss": 1e300, "val_acc": 50.0}]
    for index in range(3):
        write_record(tmp_path / f"r{index}", {"id": f"r{index}", "state": "finished",
                                              "config": {"lr": index},
                                              "summary": {"val_acc": 50.0 + index},
                                              "history": rows})
    ok(["report", tmp_path, "-o", tmp_path / "r"])
    history = load_source(str(tmp_path)).history(0)
    assert history["val_acc"].tolist() == [1e299, 50.0]
    assert history["train_loss"].isna().all()  # overflowed 1e308 and text


def test_parameter_names_with_equals_signs(tmp_path):
    rows = [["Name", "opt=name", "lr=0", "val_acc"]]
    rows += [[f"r{i}", ["a", "b=c"][i % 2], [1, 2, 3][i % 3], i] for i in range(12)]
    path = csv_file(tmp_path, rows)
    ok(["report", path, "-o", tmp_path / "r"])
    assert {p.name for p in (tmp_path / "r").glob("group_stats_*.csv")} in (
        {"group_stats_opt_name__lr_0.csv"}, {"group_stats_lr_0__opt_name.csv"})
    assert set(pd.read_csv(tmp_path / "r" / "importance.csv")["parameter"]) == \
        {"opt=name", "lr=0"}


def test_run_names_that_look_like_huge_numbers(tmp_path):
    rows = [["Name", "lr", "val_acc"]]
    rows += [["9" * (40 + i), i % 2, i] for i in range(4)]
    ok(["report", csv_file(tmp_path, rows), "-o", tmp_path / "r"])


@pytest.mark.parametrize("content", ['{"values": "12"}', '{"values": [1]}', "[1, 2]",
                                     '{"values": [1, true]}', '{"values": [1, NaN]}',
                                     '{"values": [1, 2], "metric": 5}', "{values"])
def test_unusable_rerun_file_leaves_nothing(tmp_path, content):
    (tmp_path / "rerun.json").write_text(content)
    out = tmp_path / "r"
    refused(["report", SWEEP_111, "-o", out, "--rerun", tmp_path / "rerun.json"], "rerun.json")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rerun.json"]


def test_rerun_file_inside_the_output_folder_keeps_the_folder_as_it_was(tmp_path):
    out = tmp_path / "r"
    out.mkdir()
    (out / "rerun.json").write_text('{"values": "12"}')
    refused(["report", SWEEP_111, "-o", out], "list of numbers")
    assert [p.name for p in tmp_path.iterdir()] == ["r"]
    assert [p.name for p in out.iterdir()] == ["rerun.json"]


# --- 3. silently wrong ------------------------------------------------------------------------

def test_csv_whose_rows_are_longer_than_the_header_is_refused(tmp_path):
    path = tmp_path / "export.csv"
    path.write_text("Name,lr,val_acc\na,0.1,50,extra\nb,0.2,60,extra\n")
    refused(["report", path, "-o", tmp_path / "r"], "Expected 3 fields")
    assert not (tmp_path / "r").exists()


def test_csv_with_a_short_row_pads_it(tmp_path):
    path = tmp_path / "export.csv"
    path.write_text("Name,lr,val_acc\na,0.1,50\nb,0.2\n")
    frame = read_csv_export(path).frame
    assert frame["name"].tolist() == ["a", "b"]
    assert frame["val_acc"].tolist()[0] == 50 and frame["val_acc"].isna().tolist()[1]


@pytest.mark.parametrize("path", [SWEEP_111, EXPORT_32])
def test_export_command_reads_back_identically(tmp_path, path):
    ok(["export", path, "-o", tmp_path / "a.csv"])
    ok(["export", tmp_path / "a.csv", "-o", tmp_path / "b.csv"])
    first, again = read_csv_export(path), read_csv_export(tmp_path / "b.csv")
    pd.testing.assert_frame_equal(again.frame, first.frame)
    assert (again.config, again.summary) == (first.config, first.summary)
    assert (tmp_path / "a.csv").read_bytes() == (tmp_path / "b.csv").read_bytes()


def test_export_keeps_roles_the_name_rule_would_misread(tmp_path):
    """A swept config value with many distinct numbers, a config key named like a metric and
    a summary flag: read by name alone they would change role; the export marks them."""
    for index in range(12):
        write_record(tmp_path / "runs" / f"r{index}", {
            "id": f"r{index}", "state": "finished",
            "config": {"mystery": index / 13, "val_acc": "cfg", "Created": "x"},
            "summary": {"stopped_early": index % 2 == 0, "val_acc": index}})
    table = load_source(str(tmp_path / "runs"))
    write_csv_export(table, tmp_path / "runs.csv")
    header = (tmp_path / "runs.csv").read_text().splitlines()[0]
    assert '"config:mystery","config:val_acc","config:Created"' in header
    assert '"summary:stopped_early"' in header
    again = read_csv_export(tmp_path / "runs.csv")
    pd.testing.assert_frame_equal(again.frame, table.frame)
    assert (again.config, again.summary) == (table.config, table.summary)


def test_one_text_metric_value_keeps_the_metric(tmp_path):
    rows = [["Name", "lr", "val_acc", "best_val_acc"]]
    rows += [[f"r{i}", i % 2, "n/a" if i == 0 else 50 + i, 99 - i] for i in range(6)]
    path = csv_file(tmp_path, rows)
    err = ok(["report", path, "-o", tmp_path / "r"])
    assert "vgg-sweep: warning: 1 values of val_acc are not finite numbers" in err
    markdown = (tmp_path / "r" / "report.md").read_text()
    assert "Metric: val_acc (goal: max)" in markdown
    assert "Best run: r5 with val_acc = 55." in markdown
    stats = read_stats(tmp_path, [path])
    assert stats.set_index("value")["runs"].to_dict() == {0: 2, 1: 3}


def test_rerun_values_as_text_are_refused(tmp_path):
    (tmp_path / "rerun.json").write_text('{"metric": "val_acc", "values": "12"}')
    refused(["report", SWEEP_111, "-o", tmp_path / "r", "--rerun", tmp_path / "rerun.json"],
            "must be a list of numbers")


def test_states_typo_is_an_error_with_a_hint(tmp_path):
    err = refused(["stats", SWEEP_111, "--states", "finshed"], "unknown state 'finshed'")
    assert "did you mean 'finished'?" in err
    refused(["report", SWEEP_111, "--states", ",", "-o", tmp_path / "r"], "--states")
    assert not (tmp_path / "r").exists()


def test_states_the_runs_have_are_accepted(tmp_path):
    path = csv_file(tmp_path, [["Name", "State", "lr", "val_acc"], ["a", "Weird", 1, 1.0],
                               ["b", "weird", 2, 2.0]])
    assert read_stats(tmp_path, [path, "--states", "weird"])["runs"].sum() == 2


def test_no_half_written_report_when_a_step_fails(tmp_path, monkeypatch):
    def broken(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("analysis.report.render_html", broken)
    refused(["report", SWEEP_111, "-o", tmp_path / "r"], "No space left")
    assert list(tmp_path.iterdir()) == []


def test_metric_stays_numeric_text_column_is_refused(tmp_path):
    path = csv_file(tmp_path, [["Name", "lr", "val_acc"], ["a", 1, "high"], ["b", 2, "low"]])
    refused(["report", path, "-o", tmp_path / "r"], "'val_acc'")
    assert not (tmp_path / "r").exists()


def test_best_run_table_leaves_out_fields_at_their_default(tmp_path):
    """`make demo`'s report listed dropout 0, weight_decay 0 and label_smoothing 0 as
    differing from their defaults 0.0: pandas gives whole numbers as numpy integers."""
    for index, (lr, acc) in enumerate(((0.1, 50.0), (0.01, 60.0))):
        write_record(tmp_path / "runs" / f"r{index}", {
            "id": f"r{index}", "name": f"r{index}", "state": "finished",
            "config": {"lr": lr, "dropout": 0, "weight_decay": 0, "batch_size": 64,
                       "optimizer": "adam"},
            "summary": {"val_acc": acc}, "history": []})
    assert run_cli(["report", tmp_path / "runs", "-o", tmp_path / "r", "--format", "png"]).code == 0
    shown = pd.read_csv(tmp_path / "r" / "tables" / "best_config.csv")
    assert dict(zip(shown["parameter"], shown["why shown"], strict=True)) == {
        "lr": "swept", "batch_size": "default 128"}
