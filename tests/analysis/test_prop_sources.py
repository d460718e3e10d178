"""Property tests of every analysis input surface: W&B CSV exports, runs directories and rerun
files, each driven through `report`, `stats` and `export` (tests/contract.py: exit 0/1/2, one
error line, no traceback, nothing half-written), plus the properties that hold for valid
input: export -> read back is identical, group counts are the finished runs of each value,
the metric is the one asked for."""

from __future__ import annotations

import io
import json
import math
import tempfile
from pathlib import Path

import pandas as pd
from contract import assert_contract, examples, run_cli
from hypothesis import assume, given
from hypothesis import strategies as st
from sweep_data import EXPORT_32, SWEEP_111

from analysis.wandb_csv import read_csv_export, write_csv_export
from vgg_sweep.record import write_record

NAMES = st.one_of(
    st.sampled_from(["Name", "name", "State", "state", "Runtime", "Runtime (Seconds)", "ID",
                     "Created", "Sweep", "User", "lr", "lr=1", "a=b", "std", "mean", "runs",
                     "value", "parameter", "val_acc", "val_loss", "best_val_acc", "summary/lr",
                     "config:x", "_step", "epoch", "optimizer", " lr", ""]),
    st.text(min_size=1, max_size=6))
CELLS = st.one_of(
    st.sampled_from(["", "inf", "-inf", "nan", "NaN", "true", "false", "1e400", "9" * 40,
                     "finished", "crashed", "failed", "x", "0", "-0.0", "1.5", "2025-10-21"]),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.integers(-10**20, 10**20).map(str),
    st.text(max_size=5))
STATES = st.sampled_from(["finished", "crashed", "Finished", "", "running", "weird"])


@st.composite
def tables(draw) -> pd.DataFrame:
    """A W&B-style export: a Name column, maybe a State, random other columns, 1..8 rows."""
    rows = draw(st.integers(1, 8))
    names = ["Name", *draw(st.lists(NAMES, max_size=6))]
    columns = {position: [f"run-{i}" for i in range(rows)] if position == 0 else
               draw(st.lists(CELLS, min_size=rows, max_size=rows))
               for position in range(len(names))}
    if draw(st.booleans()):
        names.append("State")
        columns[len(columns)] = draw(st.lists(STATES, min_size=rows, max_size=rows))
    return pd.DataFrame(columns).set_axis(names, axis=1)


def write_table(frame: pd.DataFrame, folder: Path) -> Path:
    path = folder / "export.csv"
    frame.to_csv(path, index=False)
    return path


def check(argv: list, out: Path | None = None):
    """Run the CLI; the contract holds, and after an error no output was written."""
    result = run_cli(argv)
    assert_contract(result)
    if result.code == 2 and out is not None:
        assert not out.exists() or not any(p.name != "rerun.json" for p in out.iterdir())
        assert not list(out.parent.glob(".*.tmp"))
    return result


def commands(source: Path, folder: Path, *options: str) -> None:
    """report, stats and export of one source, each checked against the contract."""
    check(["report", source, "-o", folder / "report", *options], folder / "report")
    check(["stats", source, *options])
    check(["export", source, "-o", folder / "runs.csv"], folder / "runs.csv")


def assert_round_trip(path: Path, folder: Path) -> None:
    """export -> read back gives the same runs, the same columns, the same roles."""
    try:
        table = read_csv_export(path)
    except Exception as error:  # only a refusal with one line is allowed
        assert type(error).__name__ == "UserError", error
        return
    write_csv_export(table, folder / "again.csv")
    assert_same_runs(read_csv_export(folder / "again.csv"), table)


def assert_same_runs(again, table) -> None:
    pd.testing.assert_frame_equal(again.frame, table.frame)
    assert (again.config, again.summary) == (table.config, table.summary)


# --- (a) W&B CSV exports -----------------------------------------------------------------------

@examples(30)
@given(frame=tables())
def test_generated_exports_read_back_identically(frame):
    with tempfile.TemporaryDirectory() as folder:
        assert_round_trip(write_table(frame, Path(folder)), Path(folder))


@examples(4)
@given(frame=tables(), metric=st.sampled_from([None, "val_acc", "lr", "std"]))
def test_generated_exports_keep_the_contract(frame, metric):
    with tempfile.TemporaryDirectory() as folder:
        path = write_table(frame, Path(folder))
        commands(path, Path(folder), *(["--metric", metric] if metric else []))


@st.composite
def sweeps(draw) -> tuple[pd.DataFrame, str]:
    """A valid export: a parameter (its name drawn, statistic names included), states, and a
    numeric metric with some values missing; returns it and the parameter's name."""
    rows = draw(st.integers(1, 12))
    param = draw(st.sampled_from(["lr", "std", "mean", "runs", "value", "a=b", "opt.name"]))
    return pd.DataFrame({
        "Name": [f"r{i}" for i in range(rows)],
        "State": draw(st.lists(st.sampled_from(["finished", "crashed"]), min_size=rows,
                               max_size=rows)),
        param: draw(st.lists(st.sampled_from(["a", "b", "c"]), min_size=rows, max_size=rows)),
        "val_acc": draw(st.lists(st.one_of(st.none(), st.floats(0, 100)), min_size=rows,
                                 max_size=rows)),
    }), param


@examples(10)
@given(sweep=sweeps())
def test_stats_counts_the_finished_runs_of_each_value(sweep):
    frame, param = sweep
    with tempfile.TemporaryDirectory() as folder:
        path = write_table(frame, Path(folder))
        result = check(["stats", path, "--by", param, "--format", "csv"])
    finished = frame[frame["State"] == "finished"]
    if finished.empty:
        assert result.code == 2 and "no runs in states finished" in result.err
        return
    assert result.code == 0, result.err
    stats = pd.read_csv(io.StringIO(result.out.split("\n\n")[0]), keep_default_na=False)
    runs = stats.set_index("value")["runs"].to_dict()
    expected = finished.groupby(param)["val_acc"].count().to_dict()
    assert runs == expected


_REAL = {path: path.read_bytes() for path in (SWEEP_111, EXPORT_32)}


@st.composite
def mutated_exports(draw) -> bytes:
    """One of the real exports with a few byte or text edits: deleted, inserted or replaced
    bytes, a cut-off end, a doubled line, a cell changed."""
    data = bytearray(_REAL[draw(st.sampled_from(sorted(_REAL)))])
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(["delete", "insert", "replace", "cut", "line", "cell"]))
        at = draw(st.integers(0, len(data) - 1))
        if kind == "delete":
            del data[at:at + draw(st.integers(1, 20))]
        elif kind == "insert":
            data[at:at] = draw(st.sampled_from([b",", b'"', b"\n", b"\x00", b"\xff", b"inf",
                                                b"x", b",,,", b'"State"']))
        elif kind == "replace":
            data[at] = draw(st.integers(0, 255))
        elif kind == "cut":
            del data[at:]
        elif kind == "line":
            lines = bytes(data).split(b"\n")
            line = draw(st.integers(0, len(lines) - 1))
            data = bytearray(b"\n".join(lines[:line + 1] + lines[line:]))
        else:
            cell = draw(st.sampled_from([b"", b"inf", b"nan", b"text", b"1e999", b"-1"]))
            start = data.find(b",", at)
            end = data.find(b",", start + 1)
            if 0 <= start < end:
                data[start + 1:end] = cell
        if not data:
            break
    return bytes(data)


@examples(6)
@given(data=mutated_exports())
def test_mutated_real_exports_keep_the_contract(data):
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "export.csv"
        path.write_bytes(data)
        check(["stats", path])
        check(["export", path, "-o", Path(folder) / "runs.csv"], Path(folder) / "runs.csv")
        assert_round_trip(path, Path(folder))


@examples(2)
@given(data=mutated_exports())
def test_mutated_real_exports_report(data):
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "export.csv"
        path.write_bytes(data)
        check(["report", path, "-o", Path(folder) / "r"], Path(folder) / "r")


@examples(10)
@given(metric=st.sampled_from(["val_acc", "best_val_acc", "val_loss", "lr", None]),
       text_cell=st.integers(0, 31))
def test_the_metric_is_the_one_asked_for(metric, text_cell):
    """A text cell in the metric never switches the metric: stats reports on the one asked
    for (or the default, val_acc) and counts one run fewer in the group of that run."""
    frame = pd.read_csv(EXPORT_32, dtype=str, keep_default_na=False)
    chosen = metric or "val_acc"
    frame.loc[text_cell, chosen] = "diverged"
    with tempfile.TemporaryDirectory() as folder:
        path = write_table(frame, Path(folder))
        result = check(["stats", path, "--states", "all", "--by", "optimizer", "--format",
                        "csv", *(["--metric", metric] if metric else [])])
    assert result.code == 0, result.err
    assert f"values of {chosen} are not finite numbers" in result.err
    stats = pd.read_csv(io.StringIO(result.out))
    assert stats["runs"].sum() == (pd.to_numeric(frame[chosen], errors="coerce").notna()).sum()


# --- (b) runs directories ----------------------------------------------------------------------

JSON = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-10**30, 10**30), st.text(max_size=4),
              st.floats(allow_nan=True, allow_infinity=True)),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
        st.one_of(NAMES, st.text(max_size=3)), inner, max_size=3),
    max_leaves=8)


@st.composite
def records(draw, index: int) -> dict:
    """A valid record (config, summary, history), then maybe one part replaced by any JSON."""
    record = {
        "id": f"r{index}", "name": draw(st.one_of(st.just(f"run-{index}"), JSON)),
        "state": draw(STATES), "created": draw(st.sampled_from(
            ["2025-10-01T00:00:00+00:00", "", "garbage", None])),
        "runtime": draw(st.one_of(st.floats(0, 1e4), JSON)),
        "config": {"lr": draw(st.sampled_from([0.1, 0.01])), **draw(st.dictionaries(
            NAMES, JSON, max_size=3))},
        "summary": {"val_acc": draw(st.one_of(st.floats(0, 100), JSON)), **draw(
            st.dictionaries(NAMES, JSON, max_size=3))},
        "history": draw(st.lists(st.dictionaries(
            st.sampled_from(["epoch", "train_loss", "val_loss", "val_acc", "x"]), JSON,
            max_size=4), max_size=3)),
    }
    if draw(st.booleans()):
        record[draw(st.sampled_from(sorted(record)))] = draw(JSON)
    return record


@st.composite
def runs_dirs(draw) -> list[tuple[dict, bytes | None]]:
    """1..5 records, each maybe with its record.json or history.csv bytes damaged."""
    runs = []
    for index in range(draw(st.integers(1, 5))):
        damage = draw(st.one_of(st.none(), st.sampled_from(
            [b"", b"{", b"\xff\xfe", b"[1, 2]", b'{"config": [], "state": 1}',
             b'{"config": "x", "state": "finished"}', b"1" * 5000,
             b'{"config": {}, "state": "finished", "history": {"a": 1}}'])))
        runs.append((draw(records(index)), damage))
    return runs


def write_runs_dir(runs, root: Path) -> Path:
    for index, (record, damage) in enumerate(runs):
        run_dir = root / f"run{index}"
        history = record["history"]
        valid = isinstance(history, list) and all(isinstance(row, dict) for row in history)
        write_record(run_dir, {**record, "history": history if valid else []})
        (run_dir / "record.json").write_text(json.dumps(record))
        if damage is not None:
            (run_dir / ("history.csv" if index % 2 else "record.json")).write_bytes(damage)
    return root


@examples(20)
@given(runs=runs_dirs())
def test_runs_dirs_keep_the_contract_and_export_reads_back(runs):
    with tempfile.TemporaryDirectory() as folder:
        root = write_runs_dir(runs, Path(folder) / "runs")
        check(["stats", root, "--states", "all"])
        result = check(["export", root, "-o", Path(folder) / "runs.csv"],
                       Path(folder) / "runs.csv")
        if result.code == 0:
            from analysis.sources import load_runs_dir

            assert_same_runs(read_csv_export(Path(folder) / "runs.csv"), load_runs_dir(root))


@examples(2)
@given(runs=runs_dirs())
def test_runs_dirs_report(runs):
    with tempfile.TemporaryDirectory() as folder:
        root = write_runs_dir(runs, Path(folder) / "runs")
        check(["report", root, "-o", Path(folder) / "r", "--states", "all"], Path(folder) / "r")


# --- (c) rerun files ---------------------------------------------------------------------------

RERUNS = st.one_of(
    JSON.map(json.dumps),
    st.fixed_dictionaries({"values": JSON}, optional={"metric": JSON, "seeds": JSON}).map(
        json.dumps),
    st.fixed_dictionaries({"values": st.lists(st.floats(allow_nan=True), max_size=4)}).map(
        json.dumps),
    st.binary(max_size=20).map(lambda data: data.decode("latin-1")))


@examples(15)
@given(content=RERUNS)
def test_rerun_files_are_read_whole_or_refused(content):
    from analysis.rerun import read_rerun
    from vgg_sweep.errors import UserError

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "rerun.json"
        path.write_text(content)
        try:
            rerun = read_rerun(path)
        except UserError as error:
            assert "\n" not in str(error)
            return
    data = json.loads(content)
    assert rerun["values"] == data["values"] and len(rerun["values"]) >= 2
    assert all(math.isfinite(value) for value in rerun["values"])


@examples(2)
@given(content=RERUNS)
def test_rerun_files_in_a_report(content):
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "r"
        out.mkdir()
        (out / "rerun.json").write_text(content)
        result = check(["report", EXPORT_32, "-o", out], out)
        assume(result.code == 0)
        assert "Re-run of the best configuration" in (out / "report.md").read_text()
