"""The reader of W&B's offline transaction log, on logs wandb itself wrote, read whole and
read as they grow (every prefix of the file, as a follower polling a live run sees it)."""

import subprocess
import sys
import textwrap

import pytest

from vgg_sweep.wandb_log import NotARunLog, RunLog, offline_run_logs, read_run_log

PROGRAM = textwrap.dedent("""
    import wandb
    run = wandb.init(mode="offline", project="p", group="g", config={"lr": 0.01,
                     "net": {"width": 8}})
    for epoch in range(1, 4):
        wandb.log({"epoch": epoch, "val_acc": 10.0 * epoch})
    wandb.log({"epoch": 4, "note": "x" * 70000})  # one record over two 32 KiB blocks
    run.summary["best"] = 30.0
    run.finish(exit_code=EXIT)
""")


def _write_run(tmp_path, exit_code: int):
    subprocess.run([sys.executable, "-c", PROGRAM.replace("EXIT", str(exit_code))],
                   cwd=tmp_path, check=True, capture_output=True,
                   env={"WANDB_DIR": str(tmp_path), "WANDB_SILENT": "true",
                        "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)})
    [path] = offline_run_logs(tmp_path)
    return path


@pytest.fixture(scope="module")
def finished_log(tmp_path_factory):
    return _write_run(tmp_path_factory.mktemp("wandb"), 0)


def test_a_whole_log_folds_into_what_the_server_holds(finished_log):
    log = read_run_log(finished_log)
    assert log.state == "finished" and log.group == "g"
    assert log.config == {"lr": 0.01, "net": {"width": 8}}
    assert [row.get("val_acc") for row in log.history] == [10.0, 20.0, 30.0, None]
    assert len(log.history[3]["note"]) == 70000
    assert log.summary["best"] == 30.0 and log.summary["val_acc"] == 30.0


def test_every_prefix_yields_whole_rows_in_order(finished_log, tmp_path):
    raw = finished_log.read_bytes()
    growing = tmp_path / "run-live.wandb"
    log, seen = RunLog(growing), []
    for end in [*range(0, len(raw), 997), len(raw)]:
        growing.write_bytes(raw[:end])
        seen += log.read()
    assert seen == read_run_log(finished_log).history
    assert log.state == "finished"


def test_a_run_without_exit_record_is_crashed_and_an_exit_code_is_failed(finished_log,
                                                                         tmp_path):
    raw = finished_log.read_bytes()
    cut = tmp_path / "run-cut.wandb"
    cut.write_bytes(raw[:len(raw) // 3])
    assert read_run_log(cut).state == "crashed"
    assert read_run_log(_write_run(tmp_path, 3)).state == "failed"


def test_a_file_that_is_not_a_log_is_refused(tmp_path):
    other = tmp_path / "run-x.wandb"
    other.write_bytes(b"PK\x03\x04 a zip, not a log")
    with pytest.raises(NotARunLog):
        read_run_log(other)
