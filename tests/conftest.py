"""Shared fixtures: data sets written in their real on-disk formats, W&B kept offline, the
data cache per test."""

from __future__ import annotations

from pathlib import Path

import pytest

from vgg_sweep.fake_data import write_cifar10


@pytest.fixture(autouse=True)
def _wandb_disabled(monkeypatch, tmp_path):
    """No test talks to W&B unless it asks to; nothing lands in the working tree."""
    monkeypatch.setenv("WANDB_MODE", "disabled")
    monkeypatch.setenv("WANDB_DIR", str(tmp_path))
    monkeypatch.delenv("WANDB_SWEEP_ID", raising=False)
    monkeypatch.delenv("WANDB_SWEEP_PARAM_PATH", raising=False)
    monkeypatch.setenv("VGG_SWEEP_CACHE", str(tmp_path / "cache"))  # not the user's cache


@pytest.fixture(autouse=True)
def _no_preflight(monkeypatch):
    """Engine tests start sweeps of fake trials and data that is not there: no preflight
    (tests/test_preflight.py turns it back on)."""
    monkeypatch.setenv("VGG_SWEEP_NO_PREFLIGHT", "1")


@pytest.fixture
def cifar_dir(tmp_path) -> Path:
    write_cifar10(tmp_path / "cifar")
    return tmp_path / "cifar"
