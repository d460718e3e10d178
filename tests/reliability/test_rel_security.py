"""Security: the W&B API key never lands in a file or log we write; YAML only through
safe_load; trials started without a shell; checkpoints loaded weights-only; the report
escapes what runs name themselves."""

from __future__ import annotations

import os
import pickle
import re
from pathlib import Path

from vgg_sweep.cli import main
from vgg_sweep.fake_data import write_cifar10
from vgg_sweep.record import write_record

ROOT = Path(__file__).resolve().parents[2]
SOURCES = sorted(p for package in ("vgg_sweep", "analysis") for p in (ROOT / package).rglob("*.py"))
FAKE_KEY = "local-0123456789abcdef0123456789abcdef01234567"
TINY = ["--dataset=synthetic", "--epochs=1", "--train_subset=64", "--batch_size=32",
        "--plots=false", "--count_flops=false", "--grad_flow_every=0"]


def _grep(pattern: str) -> list[str]:
    regex = re.compile(pattern)
    return [f"{path.relative_to(ROOT)}:{number}: {line.strip()}" for path in SOURCES
            for number, line in enumerate(path.read_text().splitlines(), start=1)
            if regex.search(line)]


def test_the_source_tree_is_there():
    assert len(SOURCES) > 30


def test_yaml_only_through_safe_load():
    assert not _grep(r"yaml\.(load|unsafe_load|full_load|load_all)\(|Loader\s*="
                     r"|yaml\.(Full|Unsafe)?Loader\(")
    assert _grep(r"yaml\.(safe_load|SafeLoader)\(")


def test_trials_start_without_a_shell():
    assert not _grep(r"shell\s*=\s*True|os\.system\(|os\.popen\(|commands\.getoutput")


def test_every_torch_load_is_weights_only():
    loads = _grep(r"torch\.load\(")
    assert loads, "expected the checkpoint loader"
    assert all("weights_only=True" in line for line in loads), loads


def test_no_unrestricted_unpickling():
    assert not _grep(r"pickle\.loads?\(|allow_pickle\s*=\s*True|joblib\.load")


def test_a_tampered_cifar_batch_cannot_run_code(tmp_path, capsys):
    """CIFAR-10 comes as pickles: one that calls os.system is refused, and nothing runs."""
    folder = write_cifar10(tmp_path / "cifar", per_batch=4, test=4)
    proof = tmp_path / "pwned"

    class Exploit:
        def __reduce__(self):
            return (os.system, (f"touch {proof}",))

    (folder / "data_batch_2").write_bytes(pickle.dumps({b"data": Exploit()}, protocol=2))
    code = main(["train", "--dataset=cifar10", f"--data_dir={tmp_path / 'cifar'}",
                 f"--runs_dir={tmp_path / 'runs'}", "--epochs=1"])
    err = capsys.readouterr().err
    assert code == 2 and "data_batch_2" in err and "not allowed" in err
    assert not proof.exists()
    good = write_cifar10(tmp_path / "good", per_batch=4, test=4)
    assert main(["train", "--dataset=cifar10", f"--data_dir={good.parent}", "--epochs=1",
                 "--train_subset=8", "--plots=false", "--count_flops=false",
                 f"--runs_dir={tmp_path / 'runs'}"]) == 0  # real-format batches still load


def test_no_eval_or_exec_of_input():
    assert not _grep(r"(?<![.\w])(eval|exec)\([^)]")


def test_api_key_never_written(tmp_path, monkeypatch, capfd):
    """A trial, a two-trial sweep (subprocess trials) and a report with a (fake) key set."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))  # wandb's own settings and caches land here too
    monkeypatch.setenv("WANDB_API_KEY", FAKE_KEY)
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_DIR", str(tmp_path / "wandb"))
    monkeypatch.setenv("WANDB_SILENT", "true")
    monkeypatch.chdir(tmp_path)
    runs = tmp_path / "runs"
    assert main(["train", *TINY, f"--runs_dir={runs}", "--sweep=one", "--run_id=t1"]) == 0
    sweep = tmp_path / "key.yaml"
    sweep.write_text("name: key\nmethod: grid\nmetric: {name: val_acc, goal: maximize}\n"
                     "parameters:\n  lr: {values: [0.01, 0.001]}\n"
                     + "".join(f"  {arg[2:].split('=')[0]}: {{value: {arg.split('=')[1]}}}\n"
                               for arg in TINY))
    assert main(["sweep", str(sweep), "--runs-dir", str(runs)]) == 0
    assert main(["report", str(runs / "key"), "-o", str(tmp_path / "report")]) == 0
    out, err = capfd.readouterr()
    written = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert len([p for p in written if p.name == "record.json"]) == 3
    assert (tmp_path / "report" / "report.html").is_file()
    leaks = [str(p) for p in written if FAKE_KEY.encode() in p.read_bytes()
             or FAKE_KEY[-20:].encode() in p.read_bytes()]
    assert not leaks
    assert FAKE_KEY not in out + err and FAKE_KEY[-20:] not in out + err


def test_report_html_escapes_run_names_and_config_values(tmp_path):
    """End to end from a runs directory: names and values stay text in report.html."""
    for index in range(4):
        write_record(tmp_path / "runs" / f"r{index}", {
            "id": f"r{index}", "name": "<script>alert(1)</script>" if index == 3 else f"r{index}",
            "sweep": "s", "state": "finished", "created": "2026-01-01T00:00:00Z",
            "runtime": 1.0, "config": {"lr": 0.1 * (index % 2 + 1),
                                       "note": "<b>bold</b>" if index % 2 else "<i>x</i>"},
            "summary": {"val_acc": 50.0 + index}, "history": [{"epoch": 1, "val_acc": 50.0}]})
    assert main(["report", str(tmp_path / "runs"), "-o", str(tmp_path / "out")]) == 0
    page = (tmp_path / "out" / "report.html").read_text()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<script" not in page and "<b>" not in page and "<i>" not in page
    assert "&lt;b&gt;bold&lt;/b&gt;" in page
    markdown = (tmp_path / "out" / "report.md").read_text()
    assert "<script" not in markdown and "<b>" not in markdown


def test_storage_password_is_not_echoed(tmp_path, capsys):
    sweep = tmp_path / "s.yaml"
    sweep.write_text("method: grid\nparameters:\n  lr: {values: [0.1, 0.01]}\n")
    code = main(["sweep", str(sweep), "--runs-dir", str(tmp_path / "runs"), "--storage",
                 "postgresql://user:hunter2@127.0.0.1:1/nodb"])
    err = capsys.readouterr().err
    assert code == 2 and "cannot connect" in err and "user:***@" in err
    assert "hunter2" not in err
