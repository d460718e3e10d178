"""Bad input: each case is one line on stderr that names the problem, exit code 2, no
traceback, and nothing partial left behind.

Every case goes through `vgg_sweep.cli.main([...])`, the console entry point. The kinds
already covered elsewhere (tests/engine/test_spec.py: 44 invalid sweep YAMLs;
tests/test_cli_train.py and tests/analysis/test_report.py: a few train and report options)
are not repeated here.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import vgg_sweep.data as data
from vgg_sweep.cli import main
from vgg_sweep.fake_data import write_cifar10, write_mnist
from vgg_sweep.record import write_record

GOOD_SWEEP = "method: grid\nparameters:\n  lr: {values: [0.01, 0.001]}\n"
TINY_TRAIN = ["--dataset=synthetic", "--epochs=1", "--train_subset=64", "--plots=false",
              "--count_flops=false", "--grad_flow_every=0"]


def _file(tmp: Path, name: str, text: str | bytes) -> str:
    path = tmp / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    return str(path)


def _sweep(tmp: Path, text: str = GOOD_SWEEP) -> str:
    return _file(tmp, "sweep.yaml", text)


def _not_a_dir(tmp: Path) -> str:
    """A path whose parent is a regular file: unwritable even for root (chmod is not)."""
    _file(tmp, "blocker", "a file, not a folder")
    return str(tmp / "blocker" / "out")


def _runs_dir(tmp: Path) -> str:
    """A runs directory with two good records (lr 0.1 and 0.01)."""
    for index, lr in enumerate((0.1, 0.01)):
        write_record(tmp / "runs" / f"r{index}", {
            "id": f"r{index}", "name": f"r{index}", "sweep": "s", "state": "finished",
            "created": "2026-01-01T00:00:00Z", "runtime": 1.0, "config": {"lr": lr},
            "summary": {"val_acc": 50.0 + index}, "history": []})
    return str(tmp / "runs")


def _csv(tmp: Path, text: str) -> str:
    return _file(tmp, "export.csv", text)


def _cifar(tmp: Path, damage) -> str:
    folder = write_cifar10(tmp / "cifar", per_batch=8, test=8)
    damage(folder)
    return str(tmp / "cifar")


def _truncate(path: Path, keep: float = 0.5) -> None:
    raw = path.read_bytes()
    path.write_bytes(raw[:int(len(raw) * keep)])


def _train_on(tmp: Path, dataset: str, data_dir: str) -> list[str]:
    return ["train", f"--dataset={dataset}", f"--data_dir={data_dir}", "--epochs=1",
            f"--runs_dir={tmp / 'runs'}"]


def _mnist(tmp: Path, damage, compress: bool = True) -> str:
    folder = write_mnist(tmp / "mnist", train=16, test=8, compress=compress)
    damage(folder)
    return str(folder)


# (id, argv builder(tmp) -> list, fragment the one line must contain)
CASES = [
    # --- sweep YAML files -------------------------------------------------------------------
    ("yaml-unclosed-bracket", lambda t: ["validate", _sweep(t, "method: grid\nparameters:\n"
                                                            "  lr: {values: [0.1, 0.2}\n")],
     "sweep.yaml"),
    ("yaml-tab-indent", lambda t: ["validate", _sweep(t, "method: grid\nparameters:\n\tlr: "
                                                         "{value: 0.1}\n")], "sweep.yaml"),
    ("yaml-empty-file", lambda t: ["validate", _sweep(t, "")], "sweep.yaml"),
    ("yaml-a-scalar", lambda t: ["validate", _sweep(t, "just a string\n")], "sweep.yaml"),
    ("yaml-not-utf8", lambda t: ["validate", _file(t, "sweep.yaml", b"method: \xff\xfe\x00grid")],
     "sweep.yaml"),
    ("yaml-missing-file", lambda t: ["validate", str(t / "nope.yaml")], "nope.yaml"),
    ("yaml-is-a-directory", lambda t: ["validate", str(t)], "directory"),
    ("yaml-python-tag", lambda t: ["validate", _sweep(
        t, "method: !!python/object/apply:os.system ['echo pwned']\nparameters:\n"
           "  lr: {value: 0.1}\n")], "sweep.yaml"),
    ("grid-over-log-uniform", lambda t: ["validate", _sweep(
        t, "method: grid\nparameters:\n  lr: {distribution: log_uniform_values, min: 0.001, "
           "max: 0.1}\n")], "lr"),
    ("grid-over-normal", lambda t: ["validate", _sweep(
        t, "method: grid\nparameters:\n  dropout: {distribution: normal, mu: 0.2, sigma: 0.1}"
           "\n")], "dropout"),
    ("unknown-distribution", lambda t: ["validate", _sweep(
        t, "method: random\nparameters:\n  lr: {distribution: gaussian, min: 0.01, max: 0.1}"
           "\n")], "gaussian"),
    ("yaml-epochs-a-word", lambda t: ["validate", _sweep(
        t, "method: grid\nparameters:\n  epochs: {value: three}\n")], "epochs"),
    ("yaml-negative-batch", lambda t: ["validate", _sweep(
        t, "method: grid\nparameters:\n  batch_size: {values: [32, -1]}\n")], "batch_size"),
    ("yaml-bool-maybe", lambda t: ["validate", _sweep(
        t, "method: grid\nparameters:\n  batch_norm: {value: maybe}\n")], "batch_norm"),
    # --- sweep / agent options -----------------------------------------------------------------
    ("override-without-equals", lambda t: ["sweep", _sweep(t), "--override", "epochs"],
     "key=value"),
    ("override-unknown-key", lambda t: ["sweep", _sweep(t), "--override", "colour=red"],
     "colour"),
    ("override-bad-value", lambda t: ["sweep", _sweep(t), "--override", "epochs=zero"],
     "epochs"),
    ("workers-zero", lambda t: ["sweep", _sweep(t), "--workers", "0"], "--workers"),
    ("count-not-a-number", lambda t: ["sweep", _sweep(t), "--count", "abc"], "--count"),
    ("heartbeat-zero", lambda t: ["sweep", _sweep(t), "--heartbeat", "0"], "--heartbeat"),
    ("gpus-and-workers-disagree", lambda t: ["sweep", _sweep(t), "--gpus", "0,1",
                                             "--workers", "3"], "one worker per GPU"),
    ("postgres-unreachable", lambda t: ["sweep", _sweep(t), "--storage",
                                        "postgresql://u:secret@127.0.0.1:1/nodb"],
     "cannot connect"),
    ("sweep-runs-dir-under-a-file", lambda t: ["sweep", _sweep(t), "--runs-dir",
                                               _not_a_dir(t)], "blocker"),
    # --- train options -------------------------------------------------------------------------
    ("train-val-split-above-1", lambda t: ["train", "--val_split=1.5"], "--val_split"),
    ("train-negative-subset", lambda t: ["train", "--train_subset=-1"], "--train_subset"),
    ("train-precision-fp8", lambda t: ["train", "--precision=fp8"], "--precision"),
    ("train-device-tpu", lambda t: ["train", "--device=tpu"], "--device"),
    ("train-batch-size-zero", lambda t: ["train", "--batch_size=0"], "--batch_size"),
    ("train-wandb-mode-cloud", lambda t: ["train", "--wandb_mode=cloud"], "--wandb_mode"),
    ("train-seed-a-float", lambda t: ["train", "--seed=1.5"], "--seed"),
    ("train-momentum-a-word", lambda t: ["train", "--momentum=abc"], "--momentum"),
    ("train-runs-dir-under-a-file", lambda t: ["train", *TINY_TRAIN,
                                               f"--runs_dir={_not_a_dir(t)}"], "blocker"),
    # --- data sets on disk ---------------------------------------------------------------------
    ("cifar-truncated-batch", lambda t: _train_on(t, "cifar10", _cifar(
        t, lambda f: _truncate(f / "data_batch_1"))), "data_batch"),
    ("cifar-truncated-test-batch", lambda t: _train_on(t, "cifar10", _cifar(
        t, lambda f: _truncate(f / "test_batch", 0.1))), "CIFAR-10"),
    ("cifar-no-data-batches", lambda t: _train_on(t, "cifar10", _cifar(
        t, lambda f: [p.unlink() for p in f.glob("data_batch_*")])), "data_batch"),
    ("cifar-test-batch-missing", lambda t: _train_on(t, "cifar10", _cifar(
        t, lambda f: (f / "test_batch").unlink())), "CIFAR10 not found"),
    ("idx-truncated-raw", lambda t: _train_on(t, "mnist", _mnist(
        t, lambda f: _truncate(f / "t10k-images-idx3-ubyte"), compress=False)), "truncated"),
    ("idx-truncated-gzip", lambda t: _train_on(t, "mnist", _mnist(
        t, lambda f: _truncate(f / "train-images-idx3-ubyte.gz"))),
     "train-images-idx3-ubyte.gz"),
    ("idx-not-gzip", lambda t: _train_on(t, "fashion_mnist", _mnist(
        t, lambda f: (f / "train-labels-idx1-ubyte.gz").write_bytes(b"not gzip at all"))),
     "train-labels-idx1-ubyte.gz"),
    ("idx-rank-beyond-file", lambda t: _train_on(t, "mnist", _mnist(
        t, lambda f: (f / "t10k-labels-idx1-ubyte").write_bytes(bytes([0, 0, 8, 200])),
        compress=False)), "t10k-labels-idx1-ubyte"),
    # --- analysis sources and options ----------------------------------------------------------
    ("report-empty-runs-dir", lambda t: ["report", str(Path(_file(t, "runs/.keep", "")).parent),
                                         "-o", str(t / "out")], "no run records"),
    ("report-only-truncated-records", lambda t: ["report", str(Path(_file(
        t, "runs/a/record.json", '{"id": "a", "state": "fini')).parent.parent),
        "-o", str(t / "out")], "could be read"),
    ("csv-without-metric-column", lambda t: ["report", _csv(
        t, "Name,State,lr\na,finished,0.1\nb,finished,0.01\n"), "-o", str(t / "out")],
     "metric"),
    ("csv-non-numeric-metric", lambda t: ["report", _csv(
        t, "Name,State,lr,val_acc\na,finished,0.1,high\nb,finished,0.01,low\n"),
        "--metric", "val_acc", "-o", str(t / "out")], "val_acc"),
    ("csv-empty-file", lambda t: ["report", _csv(t, ""), "-o", str(t / "out")], "export.csv"),
    ("csv-binary-garbage", lambda t: ["report", _file(t, "export.csv", bytes(range(256)) * 4),
                                      "-o", str(t / "out")], "export.csv"),
    ("report-output-under-a-file", lambda t: ["report", _runs_dir(t), "-o", _not_a_dir(t)],
     "cannot write"),
    ("report-filters-not-json", lambda t: ["report", _runs_dir(t), "--filters", "{nope",
                                           "-o", str(t / "out")], "--filters"),
    ("report-filters-a-list", lambda t: ["report", _runs_dir(t), "--filters", "[1]",
                                         "-o", str(t / "out")], "--filters"),
    ("report-top-k-zero", lambda t: ["report", _runs_dir(t), "--top-k", "0"], "--top-k"),
    ("report-goal-sideways", lambda t: ["report", _runs_dir(t), "--goal", "sideways"],
     "--goal"),
    ("report-rerun-missing", lambda t: ["report", _runs_dir(t), "--rerun",
                                        str(t / "nope.json")], "--rerun"),
    ("report-rerun-not-json", lambda t: ["report", _runs_dir(t), "--rerun", _file(
        t, "rerun.json", "{values: oops"), "-o", str(t / "out")], "rerun.json"),
    ("stats-format-xml", lambda t: ["stats", _runs_dir(t), "--format", "xml"], "--format"),
    ("export-output-under-a-file", lambda t: ["export", _runs_dir(t), "-o",
                                              _not_a_dir(t) + ".csv"], "cannot write"),
    ("wandb-spec-one-part", lambda t: ["report", "wandb:onlyone"], "wandb:"),
    ("unknown-subcommand", lambda t: ["trian"], "trian"),
]


@pytest.fixture(autouse=True)
def _offline(monkeypatch, tmp_path):
    """No case may reach the network (a missing data set would try torchvision's download)."""

    def offline(name, root, what):
        raise data.UserError(f"{name} not found in {root} and the download failed; put {what}"
                             f" in {root} or pass --data_dir=FOLDER")

    monkeypatch.setattr(data, "_download", offline)
    monkeypatch.chdir(tmp_path)  # default output folders (reports/, runs/) land here


@pytest.mark.parametrize("build, fragment", [case[1:] for case in CASES],
                         ids=[case[0] for case in CASES])
def test_bad_input_is_one_line_exit_2(build, fragment, tmp_path, capsys):
    work = tmp_path / "case"
    work.mkdir()
    argv = build(work)
    before = _tree(tmp_path)
    code = main(argv)
    err = capsys.readouterr().err
    assert code == 2, err
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1, err
    assert err.startswith("vgg-sweep: error: "), err
    assert fragment in err, err
    # Nothing partial: no report folder, no run record, no half-written file.
    created = _tree(tmp_path) - before
    assert not [p for p in created if p.name in ("report.html", "record.json", "runs.csv")
                or p.name.endswith(".tmp")], created
    assert not (work / "out").exists() or not any((work / "out").iterdir())


def _tree(root: Path) -> set[Path]:
    return {path for path in root.rglob("*")}


def test_the_corpus_has_at_least_30_distinct_new_cases():
    assert len({case[0] for case in CASES}) == len(CASES) >= 30


def test_undamaged_files_of_the_data_cases_still_read(tmp_path):
    """Guards the data cases above: it is the damage that fails them, not the writer."""
    folder = write_mnist(tmp_path / "mnist", train=4, test=2)
    assert data.read_idx(folder / "t10k-labels-idx1-ubyte.gz").shape == (2,)
    assert len(data.load_dataset("mnist", folder).train_x) == 4
    write_cifar10(tmp_path / "cifar", per_batch=4, test=2)
    assert len(data.load_dataset("cifar10", tmp_path / "cifar").train_x) == 20
