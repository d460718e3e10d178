"""Several workers on a real PostgreSQL server (the several-machines setup, on loopback).

Uses $VGG_SWEEP_TEST_POSTGRES when set; otherwise postgresql://vggsweep:vggsweep@127.0.0.1/
vggsweep_test, starting Debian's cluster and creating that role and database when
`pg_ctlcluster` is there and we are root (as on CI after `apt-get install -y postgresql`).
"""

import os
import shutil
import subprocess
import uuid

import pytest
from fake_trial import run_trial as fake_trial
from study_helpers import load_study
from test_local_engine import GRID_12, check_each_point_once

from vgg_sweep.engine.local import run_sweep
from vgg_sweep.engine.spec import load_spec

DEFAULT_URL = "postgresql://vggsweep:vggsweep@127.0.0.1/vggsweep_test"
SETUP = ["CREATE ROLE vggsweep LOGIN PASSWORD 'vggsweep'",
         "CREATE DATABASE vggsweep_test OWNER vggsweep"]


def _reachable(url: str) -> bool:
    try:
        import sqlalchemy
    except ImportError:
        return False
    try:
        with sqlalchemy.create_engine(url).connect():
            return True
    except Exception:
        return False


def _start_local_server() -> None:
    if not shutil.which("pg_ctlcluster") or os.geteuid() != 0:
        return
    for version in sorted(os.listdir("/etc/postgresql"), reverse=True):
        subprocess.run(["pg_ctlcluster", version, "main", "start"], capture_output=True)
        break
    for statement in SETUP:  # fails harmlessly when they exist
        subprocess.run(["su", "postgres", "-c", f'psql -c "{statement}"'], capture_output=True)


@pytest.fixture(scope="module")
def postgres_url():
    url = os.environ.get("VGG_SWEEP_TEST_POSTGRES", DEFAULT_URL)
    if not _reachable(url) and "VGG_SWEEP_TEST_POSTGRES" not in os.environ:
        _start_local_server()
    if not _reachable(url):
        pytest.skip(f"no PostgreSQL server at {url}: apt-get install -y postgresql, or set "
                    "VGG_SWEEP_TEST_POSTGRES")
    return url


@pytest.mark.parametrize("repeat", range(2))
def test_grid_of_12_with_4_workers_on_postgresql(repeat, postgres_url, write_sweep, tmp_path):
    name = f"pg-{uuid.uuid4().hex[:8]}"
    spec = load_spec(write_sweep(GRID_12.replace("name: grid12", f"name: {name}")))
    summary = run_sweep(spec, storage=postgres_url, runs_dir=tmp_path / "runs", workers=4,
                        in_process=True, trial_fn=fake_trial)
    study = load_study(name, postgres_url)
    assert len(study.trials) == 12 and summary.states["finished"] == 12
    check_each_point_once(study, spec, tmp_path / "runs")


def test_agent_joins_a_sweep_started_elsewhere(postgres_url, write_sweep, tmp_path):
    name = f"pg-{uuid.uuid4().hex[:8]}"
    spec = load_spec(write_sweep(GRID_12.replace("name: grid12", f"name: {name}")))
    run_sweep(spec, storage=postgres_url, runs_dir=tmp_path / "runs", count=3,
              in_process=True, trial_fn=fake_trial)
    joined = run_sweep(spec, storage=postgres_url, runs_dir=tmp_path / "runs", workers=2,
                       create=False, in_process=True, trial_fn=fake_trial)
    assert joined.states["finished"] == 12
    check_each_point_once(load_study(name, postgres_url), spec, tmp_path / "runs")
