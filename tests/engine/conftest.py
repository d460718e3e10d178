"""Fixtures for engine tests: sweep files on disk (helpers: study_helpers.py)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest


@pytest.fixture
def write_sweep(tmp_path):
    """write_sweep(yaml_text, name="sweep") -> path of the file."""

    def write(text: str, name: str = "sweep") -> Path:
        path = tmp_path / f"{name}.yaml"
        path.write_text(textwrap.dedent(text))
        return path

    return write
