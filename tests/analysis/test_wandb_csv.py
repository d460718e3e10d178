"""Reading W&B UI CSV exports and writing them back."""


import pandas as pd
import pytest
from sweep_data import EXPORT_32, SWEEP_111

from analysis.sources import load_runs_dir
from analysis.wandb_csv import column_role, read_csv_export, write_csv_export


def test_111_run_export_columns_and_types():
    table = read_csv_export(SWEEP_111)
    assert table.config == ["activation", "autoaugment", "batch_norm", "batch_size", "epochs",
                            "lr", "optimizer", "seed", "use_cutout", "weight_decay"]
    assert table.summary == ["epoch", "epoch_time_sec", "train_acc", "train_loss", "val_acc",
                             "val_loss"]
    frame = table.frame
    raw = pd.read_csv(SWEEP_111)
    assert len(frame) == len(raw) == 111
    assert (frame["state"].value_counts().to_dict() == {"finished": 107, "crashed": 4})
    assert frame["runtime"].tolist() == raw["Runtime (Seconds)"].astype(float).tolist()
    assert pd.api.types.is_bool_dtype(frame["use_cutout"])
    assert frame["use_cutout"].tolist() == raw["use_cutout"].tolist()
    assert frame["batch_size"].dtype == "Int64"
    assert frame["val_acc"].tolist() == raw["val_acc"].tolist()


def test_32_run_export_fractions_and_lower_case():
    table = read_csv_export(EXPORT_32)
    frame = table.frame
    assert "best_val_acc" in table.summary and "epoch" in table.summary
    assert {"gelu", "relu", "silu", "tanh", "sigmoid"} == set(frame["activation"])
    assert {"sgd", "adam", "Nadam", "NAdam"} <= set(frame["optimizer"])
    assert frame["val_acc"].max() <= 1.0
    assert str(frame["created"].dtype) == "datetime64[us, UTC]"
    assert frame.loc[frame["name"] == "dutiful-leaf-11", "created"].iloc[0] == \
        pd.Timestamp("2025-10-21T06:29:46Z")
    assert "User" not in frame and "user" not in frame


@pytest.mark.parametrize("path", [SWEEP_111, EXPORT_32])
def test_export_round_trip_is_lossless(path, tmp_path):
    table = read_csv_export(path)
    write_csv_export(table, tmp_path / "runs.csv")
    again = read_csv_export(tmp_path / "runs.csv")
    pd.testing.assert_frame_equal(again.frame, table.frame)
    assert (again.config, again.summary) == (table.config, table.summary)


def test_runs_dir_round_trip_is_lossless(runs_dir, tmp_path):
    table = load_runs_dir(runs_dir)
    write_csv_export(table, tmp_path / "runs.csv")
    again = read_csv_export(tmp_path / "runs.csv")
    pd.testing.assert_frame_equal(again.frame, table.frame)
    assert (again.config, again.summary) == (table.config, table.summary)


def test_export_is_wandb_style(tmp_path):
    write_csv_export(read_csv_export(EXPORT_32), tmp_path / "runs.csv")
    header, first = (tmp_path / "runs.csv").read_text().splitlines()[:2]
    assert header.startswith('"Name","State","Created","Runtime","activation"')
    assert first.startswith('"dutiful-leaf-11","finished","2025-10-21T06:29:46.000000Z",'
                            '"18483","gelu","128","30","0.01"')


def test_column_role_rule():
    numbers = pd.Series([str(i / 7) for i in range(40)])
    few = pd.Series(["1", "2"] * 20)
    assert column_role("val/acc", few) == "summary"
    assert column_role("_runtime", few) == "summary"
    assert column_role("optimizer.lr", numbers) == "config"  # known name wins
    assert column_role("top5_error", few) == "summary"
    assert column_role("mystery", numbers) == "summary"  # nearly all distinct numbers
    assert column_role("mystery", few) == "config"
    assert column_role("mystery", few, metric="mystery") == "summary"
