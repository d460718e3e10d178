"""Fixtures for the analysis tests."""

from pathlib import Path

import pytest
from sweep_data import make_runs_dir


@pytest.fixture
def runs_dir(tmp_path) -> Path:
    """A fabricated runs directory (see sweep_data.make_runs_dir)."""
    return make_runs_dir(tmp_path / "runs" / "synthetic")
