"""Sources: a local runs directory, W&B through a fake `wandb.Api`, and source dispatch."""

from datetime import datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest
from contract import assert_contract, run_cli

from analysis.sources import (
    WANDB_PER_PAGE,
    load_runs_dir,
    load_source,
    parse_wandb_source,
    report_dir,
)
from vgg_sweep.errors import UserError
from vgg_sweep.record import read_record

START = datetime(2025, 1, 1)


def test_runs_dir_one_row_per_readable_record(runs_dir):
    table = load_runs_dir(runs_dir)
    assert table.skipped == 1  # broken/record.json
    assert len(table.frame) == 41
    record = read_record(runs_dir / "r00007")
    row = table.frame.set_index("id").loc["r00007"]
    assert row["name"] == record["name"] and row["state"] == record["state"]
    assert row["created"] == pd.Timestamp(record["created"])
    for key, value in record["config"].items():
        assert row[key] == value
    assert row["val_acc"] == pytest.approx(record["summary"]["val_acc"])
    assert {"lr", "optimizer", "batch_norm"} <= set(table.config)
    assert {"val_acc", "train_loss", "flops"} <= set(table.summary)


def test_runs_dir_histories_on_demand(runs_dir):
    table = load_runs_dir(runs_dir)
    label = table.frame.index[table.frame["id"] == "r00003"][0]
    history = table.history(label)
    expected = read_record(runs_dir / "r00003")["history"]
    assert history["val_acc"].tolist() == pytest.approx([row["val_acc"] for row in expected])


def test_summary_key_clashing_with_config_key_is_kept_apart(tmp_path):
    from vgg_sweep.record import write_record

    write_record(tmp_path / "a", {"id": "a", "name": "a", "state": "finished",
                                  "config": {"lr": 0.1, "opt": {"name": "sgd"}},
                                  "summary": {"lr": 0.001, "val": {"acc": 50}}})
    table = load_runs_dir(tmp_path)
    assert table.config == ["lr", "opt.name"]
    assert table.summary == ["summary/lr", "val/acc"]
    assert table.frame.loc[0, "summary/lr"] == 0.001


class FakeRun:
    def __init__(self, index):
        self.id, self.name = f"id{index}", f"fake-run-{index}"
        self.state = "finished" if index % 4 else "crashed"
        self.created_at = (START + timedelta(minutes=index)).strftime("%Y-%m-%dT%H:%M:%S")
        self.config = {"lr": 0.1 / (index + 1), "optimizer": "Adam" if index % 2 else "SGD",
                       "_wandb": {"cli_version": "0.31"}}
        self.summary = {"val_acc": 50.0 + index, "_runtime": 60.0 * index, "_step": 9,
                        "sample_grid": {"_type": "image-file", "path": "x.png"}}
        self.history_requests = 0

    def scan_history(self, page_size=1000):
        self.history_requests += 1
        return iter([{"epoch": e, "val_acc": 10.0 * e, "_step": e} for e in (1, 2, 3)])


class FakeRuns:
    """Pages of runs the way wandb.apis.public.Runs serves them: len() and iteration."""

    def __init__(self, runs, per_page):
        self.runs, self.per_page, self.pages = runs, per_page, 0

    def __len__(self):
        return len(self.runs)

    def __iter__(self):
        for start in range(0, len(self.runs), self.per_page):
            self.pages += 1
            yield from self.runs[start:start + self.per_page]


class FakeApi:
    def __init__(self, count=12):
        self.runs_made = [FakeRun(i) for i in range(count)]
        self.calls = []

    def runs(self, path, filters=None, order="+created_at", per_page=50, include_sweeps=False,
             lazy=True):
        assert lazy is False, "config and summary must come with the page"
        assert per_page >= 100, "pages that small mean one request per 50 runs"
        self.calls.append({"path": path, "filters": filters, "per_page": per_page})
        self.served = FakeRuns(self.runs_made, per_page)
        return self.served


def test_wandb_sweep_source_paginates_and_filters():
    api = FakeApi(count=12)
    table = load_source("wandb:me/vgg6/abc123", api=api)
    assert api.calls == [{"path": "me/vgg6", "filters": {"sweep": "abc123"},
                          "per_page": WANDB_PER_PAGE}]
    frame = table.frame
    assert len(frame) == 12 and frame["sweep"].eq("abc123").all()
    assert frame["state"].value_counts().to_dict() == {"finished": 9, "crashed": 3}
    assert table.config == ["lr", "optimizer"]  # _wandb dropped
    assert table.summary == ["val_acc"]  # _runtime -> runtime, media and _step dropped
    assert frame["runtime"].tolist() == [60.0 * i for i in range(12)]
    assert frame.loc[5, "lr"] == pytest.approx(0.1 / 6)
    assert frame.loc[0, "created"] == pd.Timestamp("2025-01-01T00:00:00Z")
    assert all(run.history_requests == 0 for run in api.runs_made)  # histories lazily


def test_wandb_pagination_with_small_pages():
    from analysis.sources import load_wandb

    api = FakeApi(count=250)
    table = load_wandb("wandb:me/vgg6", filters={"state": "finished"}, api=api, per_page=100)
    assert api.calls[0]["filters"] == {"state": "finished"}
    assert api.served.pages == 3 and len(table.frame) == 250


def test_wandb_history_via_scan_history():
    api = FakeApi(count=3)
    table = load_source("https://wandb.ai/me/vgg6/sweeps/abc123", api=api)
    assert api.calls[0]["filters"] == {"sweep": "abc123"}
    history = table.history(2)
    assert history["val_acc"].tolist() == [10.0, 20.0, 30.0]
    assert api.runs_made[2].history_requests == 1 and api.runs_made[0].history_requests == 0


def test_wandb_filters_combine_with_sweep():
    api = FakeApi(count=2)
    load_source("wandb:me/vgg6/sweeps/abc", filters={"state": "finished"}, api=api)
    assert api.calls[0]["filters"] == {"$and": [{"state": "finished"}, {"sweep": "abc"}]}


@pytest.mark.parametrize("spec, expected", [
    ("wandb:me/proj", ("me/proj", None)),
    ("wandb:me/proj/sw1", ("me/proj", "sw1")),
    ("wandb:me/proj/sweeps/sw1", ("me/proj", "sw1")),
    ("https://wandb.ai/me/proj/sweeps/sw1?workspace=x", ("me/proj", "sw1")),
])
def test_parse_wandb_spec(spec, expected):
    assert parse_wandb_source(spec) == expected


@pytest.mark.parametrize("spec", ["wandb:justone", "wandb:a/b/c/d/e"])
def test_bad_wandb_spec_is_a_user_error(spec):
    with pytest.raises(UserError, match="ENTITY/PROJECT"):
        parse_wandb_source(spec)


def test_wandb_failure_is_a_user_error():
    class BrokenApi:
        def runs(self, *args, **kwargs):
            raise RuntimeError("could not find project me/nope")

    with pytest.raises(UserError, match="could not find project"):
        load_source("wandb:me/nope", api=BrokenApi())


def test_missing_and_empty_sources_are_user_errors(tmp_path):
    with pytest.raises(UserError, match="no such file"):
        load_source(str(tmp_path / "nope"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match="no run records"):
        load_source(str(tmp_path / "empty"))


@pytest.mark.parametrize(("source", "expected"), [
    ("runs/vgg6", "reports/vgg6"), ("runs/vgg6/", "reports/vgg6"), ("export.csv", "reports/export"),
    ("wandb:me/proj/abc123", "reports/abc123"), ("wandb:me/proj", "reports/proj"),
    ("https://wandb.ai/me/proj/sweeps/abc?workspace=x", "reports/abc"), ("/", "reports/sweep")])
def test_default_report_dir_is_named_after_the_source(source, expected):
    assert report_dir(source) == Path(expected)


def test_report_of_a_runs_dir_with_a_trailing_slash_lands_in_its_own_folder(
        runs_dir, tmp_path, monkeypatch):
    """`make report SOURCE=runs/x/` (tab completion) once spilled the report into reports/."""
    monkeypatch.chdir(tmp_path)
    assert_contract(run_cli(["report", f"{runs_dir}/"]), allowed=(0,))
    assert (tmp_path / "reports" / runs_dir.name / "report.html").is_file()
    assert not (tmp_path / "reports" / "report.html").exists()
