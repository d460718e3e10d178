"""Faults of the parts the sweep engine stands on, through the `vgg-sweep` program with fake
in-process trials (tests/engine/fake_trial.py; the trainer is not the point here).

- PostgreSQL restarted (pg_ctl stop -m fast, then start) while 2 workers run a grid of 12:
  one warning line per worker, the workers reconnect, every point COMPLETE once, 12 trials.
  A server that stays away: the storage gives up after RECONNECT_SECONDS with one line.
- The journal's disk full (a 4 MiB tmpfs filled mid-sweep): one error line, exit 1, the
  journal still loads, and the same command finishes the sweep once there is space. An
  append cut off half-way is removed again (an injected ENOSPC, runs anywhere).
- 8 workers on 2 cores, in-process trials: every point exactly once, every journal line whole.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
from collections import Counter
from glob import glob
from pathlib import Path

import pytest
from contract import CliResult, assert_contract
from optuna.trial import TrialState

import vgg_sweep.engine.storage as storage
from vgg_sweep.errors import UserError
from vgg_sweep.record import read_record

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "engine"))
from study_helpers import FAKE_CLI, completed_points, load_study  # noqa: E402


def write_grid(tmp_path: Path, name: str, points: int, epochs: int = 2) -> Path:
    lrs = [round(0.001 * (i + 1), 4) for i in range(points)]
    path = tmp_path / f"{name}.yaml"
    path.write_text(textwrap.dedent(f"""
        name: {name}
        method: grid
        metric: {{name: val_acc, goal: maximize}}
        parameters:
          lr: {{values: {lrs}}}
          epochs: {{value: {epochs}}}
    """))
    return path


def start_sweep(*args, env: dict | None = None, **popen) -> subprocess.Popen:
    return subprocess.Popen([*FAKE_CLI, "sweep", *map(str, args), "--in-process"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, **(env or {})}, **popen)


def finish(process: subprocess.Popen, timeout: float = 120) -> CliResult:
    out, err = process.communicate(timeout=timeout)
    result = CliResult(process.returncode, out, err)
    assert_contract(result, allowed=(0, 1))
    return result


def wait_for_complete(name: str, url: str, count: int, process: subprocess.Popen) -> None:
    """Until `count` trials are COMPLETE (the sweep must still be running then)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert process.poll() is None, process.communicate()
        with contextlib.suppress(KeyError, ValueError):
            if len(load_study(name, url).get_trials(states=(TrialState.COMPLETE,))) >= count:
                return
        time.sleep(0.05)
    raise AssertionError(f"fewer than {count} trials finished in 60 s")


def check_each_point_once(name: str, url: str, runs: Path, points: int) -> None:
    study = load_study(name, url)
    assert completed_points(study) == Counter(range(points))
    complete = study.get_trials(states=(TrialState.COMPLETE,))
    assert len({t.user_attrs["run_id"] for t in complete}) == points
    for trial in complete:
        record = read_record(runs / name / trial.user_attrs["run_id"])
        assert record["state"] == "finished"
        assert [row["epoch"] for row in record["history"]] == [1, 2]


def journal_lines_whole(path: Path) -> int:
    lines = path.read_bytes().split(b"\n")
    assert lines[-1] == b"", "the journal ends in a cut-off line"
    for line in lines[:-1]:
        json.loads(line)
    return len(lines) - 1


# --- PostgreSQL restarted ------------------------------------------------------------------------

class Cluster:
    """A throw-away PostgreSQL cluster on a free port (as the postgres user when we are root)."""

    def __init__(self, bin_dir: str):
        self.bin = bin_dir
        self.root = Path(tempfile.mkdtemp(prefix="vgg-sweep-pg-"))
        self.data, self.log = self.root / "data", self.root / "server.log"
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres")
        self.ctl("initdb", "-D", self.data, "-U", "postgres", "--auth=trust", "--no-sync")
        self.start()

    def ctl(self, program: str, *args) -> None:
        command = [f"{self.bin}/{program}", *map(str, args)]
        if os.geteuid() == 0:
            command = ["runuser", "-u", "postgres", "--", *command]
        # The server inherits no pipe of ours: a captured stdout would never close.
        subprocess.run(command, check=True, stdin=subprocess.DEVNULL,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=60)

    def start(self) -> None:
        self.ctl("pg_ctl", "-D", self.data, "-l", self.log, "-w", "start", "-o",
                 f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off")

    def stop(self, mode: str = "fast") -> None:
        self.ctl("pg_ctl", "-D", self.data, "-m", mode, "-w", "stop")


@pytest.fixture(scope="module")
def cluster():
    bins = sorted(glob("/usr/lib/postgresql/*/bin"))
    if not bins and shutil.which("pg_ctl"):
        bins = [str(Path(shutil.which("pg_ctl")).parent)]
    if not bins:
        pytest.skip("no PostgreSQL server binaries: apt-get install -y postgresql")
    pytest.importorskip("psycopg")
    server = Cluster(bins[-1])
    yield server
    with contextlib.suppress(subprocess.SubprocessError):
        server.stop("immediate")
    shutil.rmtree(server.root, ignore_errors=True)


def test_postgresql_restart_mid_sweep_loses_and_repeats_nothing(cluster, tmp_path):
    path, runs = write_grid(tmp_path, "pgrestart", 12), tmp_path / "runs"
    started = time.monotonic()
    process = start_sweep(path, "--runs-dir", runs, "--storage", cluster.url, "--workers", 2,
                          env={"FAKE_EPOCH_SECONDS": "0.2"})
    wait_for_complete("pgrestart", cluster.url, 3, process)
    cluster.stop("fast")  # ends every session, as a restart or failover does
    time.sleep(2)
    assert process.poll() is None  # the workers wait for the server
    cluster.start()
    result = finish(process)
    elapsed = time.monotonic() - started
    assert result.code == 0, result.err
    warnings = [line for line in result.err.splitlines() if "connection lost" in line]
    assert 1 <= len(warnings) <= 3, result.err  # at most one per worker and the sweep's own
    assert len(result.err.splitlines()) == len(warnings), result.err  # nothing else
    assert all(line.startswith("vgg-sweep: warning: --storage postgresql://postgres@127.0.0.1")
               and "retrying for up to 60 s" in line for line in warnings)
    assert "12 finished, 0 pruned, 0 failed, 0 retried" in result.out
    study = load_study("pgrestart", cluster.url)
    assert len(study.trials) == 12  # duplicates: 0
    check_each_point_once("pgrestart", cluster.url, runs, 12)
    print(f"PostgreSQL restart: 12 points, 2 workers, {elapsed:.1f} s, "
          f"{len(warnings)} warning line(s)")


def test_a_server_that_stays_away_ends_in_one_line_after_the_bound(cluster, monkeypatch,
                                                                   capsys):
    monkeypatch.setattr(storage, "RECONNECT_SECONDS", 2.0)
    opened = storage.open_storage(cluster.url)
    opened.get_all_studies()
    cluster.stop("fast")
    try:
        started = time.monotonic()
        with pytest.raises(UserError, match="has not answered for 2 s") as raised:
            opened.get_all_studies()
        assert 1.0 <= time.monotonic() - started < 5
    finally:
        cluster.start()
    assert "start it, then run the same command again" in str(raised.value)
    err = capsys.readouterr().err
    assert err.count("connection lost") == 1 and len(err.strip().splitlines()) == 1
    assert opened.get_all_studies() is not None  # and it reconnects afterwards


# --- the journal's disk full ---------------------------------------------------------------------

@pytest.fixture
def small_disk(tmp_path):
    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(disk)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({mounted.stderr.strip()}); "
                    "test_a_journal_append_cut_off_half_way_is_removed covers the journal")
    yield disk
    subprocess.run(["umount", "-l", str(disk)], capture_output=True)


def fill(disk: Path) -> Path:
    filler = disk / "filler"
    with open(filler, "wb") as handle:
        with contextlib.suppress(OSError):
            while True:
                handle.write(b"\0" * 65536)
                handle.flush()
    return filler


def test_disk_full_under_the_journal_mid_sweep_then_resume(small_disk, tmp_path):
    path, runs = write_grid(tmp_path, "full", 12), small_disk / "runs"
    url = str(runs / "full" / "study.log")
    process = start_sweep(path, "--runs-dir", runs, "--workers", 2,
                          env={"FAKE_EPOCH_SECONDS": "0.3"})
    wait_for_complete("full", url, 3, process)
    filler = fill(small_disk)
    result = finish(process)
    assert result.code == 1, (result.out, result.err)
    errors = [line for line in result.err.splitlines() if line.startswith("vgg-sweep: error:")]
    assert len(errors) == 1, result.err
    assert f"{url}: cannot write the sweep's journal (No space left on device)" in errors[0]
    assert "run the same command again to resume" in errors[0]
    journal_lines_whole(Path(url))
    done = len(load_study("full", url).get_trials(states=(TrialState.COMPLETE,)))
    assert 3 <= done < 12
    filler.unlink()
    # A trial that crashed on the full disk, and then its retry too, failed for good:
    # --retry-failed runs it again, as a new run. A trial claimed by a worker that died before
    # writing its lease is reclaimed once the claim is older than 3 x --heartbeat (30 s by
    # default): a short heartbeat reclaims it in this run.
    resumed = finish(start_sweep(path, "--runs-dir", runs, "--workers", 2, "--retry-failed",
                                 "--heartbeat", 0.2))
    story = "\n".join((result.out, result.err, resumed.out, resumed.err))
    assert resumed.code == 0 and "12 finished, 0 pruned, 0 failed" in resumed.out, story
    print(f"disk full after {done} trials; resumed: {resumed.out.splitlines()[-2]}")
    check_each_point_once("full", url, runs, 12)
    journal_lines_whole(Path(url))


def test_a_journal_append_cut_off_half_way_is_removed(tmp_path, monkeypatch):
    url = str(tmp_path / "cut" / "study.log")
    study = storage.optuna.create_study(study_name="cut", storage=storage.open_storage(url))
    study.enqueue_trial({})
    size = os.path.getsize(url)
    real_write = os.write

    def half_then_full(fd, data):
        real_write(fd, bytes(data[:len(data) // 2]))
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(storage.os, "write", half_then_full)
    with pytest.raises(UserError, match="No space left on device"):
        study.enqueue_trial({})
    monkeypatch.undo()
    assert os.path.getsize(url) == size  # the half line is gone
    study.enqueue_trial({})  # space is back: the next append follows whole lines
    assert len(load_study("cut", url).trials) == 2
    assert journal_lines_whole(Path(url)) >= 3


# --- many workers on few cores -------------------------------------------------------------------

def test_8_workers_on_2_cores_run_every_point_once(tmp_path):
    path, runs = write_grid(tmp_path, "crowd", 24), tmp_path / "runs"
    cores = sorted(os.sched_getaffinity(0))[:2]
    started = time.monotonic()
    process = start_sweep(path, "--runs-dir", runs, "--workers", 8,
                          env={"FAKE_EPOCH_SECONDS": "0.05"},
                          preexec_fn=lambda: os.sched_setaffinity(0, cores))
    result = finish(process, timeout=180)
    assert result.code == 0, result.err
    assert "24 finished, 0 pruned, 0 failed, 0 retried" in result.out
    url = str(runs / "crowd" / "study.log")
    assert len(load_study("crowd", url).trials) == 24
    check_each_point_once("crowd", url, runs, 24)
    lines = journal_lines_whole(Path(url))
    workers = {line.split("]")[0] for line in result.out.splitlines() if line.startswith("[w")}
    print(f"8 workers on {len(cores)} cores: 24 points in {time.monotonic() - started:.1f} s, "
          f"{len(workers)} workers ran trials, {lines} journal lines")
