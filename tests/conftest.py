"""Shared fixtures: data sets written in their real on-disk formats, W&B kept offline."""

from __future__ import annotations

import gzip
import pickle
import struct
from pathlib import Path

import numpy as np
import pytest

SHARED = Path(__file__).resolve().parents[2] / "shared"
FIXTURES = SHARED / "fixtures" / "real"


@pytest.fixture(autouse=True)
def _wandb_disabled(monkeypatch, tmp_path):
    """No test talks to W&B unless it asks to; nothing lands in the working tree."""
    monkeypatch.setenv("WANDB_MODE", "disabled")
    monkeypatch.setenv("WANDB_DIR", str(tmp_path))
    monkeypatch.delenv("WANDB_SWEEP_ID", raising=False)
    monkeypatch.delenv("WANDB_SWEEP_PARAM_PATH", raising=False)


def write_cifar10(root: Path, per_batch: int = 20, test: int = 30, seed: int = 0) -> Path:
    """A tiny CIFAR-10 in torchvision's layout: pickled dicts with b'data' (N, 3072) uint8
    rows in CHW order and b'labels'."""
    rng = np.random.default_rng(seed)
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)

    def dump(name: str, count: int) -> None:
        data = rng.integers(0, 256, (count, 3072), dtype=np.uint8)
        labels = [int(v) for v in rng.integers(0, 10, count)]
        with open(folder / name, "wb") as handle:
            pickle.dump({b"batch_label": name.encode(), b"data": data, b"labels": labels,
                         b"filenames": [b"x.png"] * count}, handle)

    for index in range(1, 6):
        dump(f"data_batch_{index}", per_batch)
    dump("test_batch", test)
    with open(folder / "batches.meta", "wb") as handle:
        pickle.dump({b"label_names": [b"airplane"] * 10}, handle)
    return folder


def write_idx(path: Path, array: np.ndarray, compress: bool) -> None:
    header = struct.pack(">BBBB", 0, 0, 0x08, array.ndim)
    header += struct.pack(f">{array.ndim}I", *array.shape)
    payload = header + array.astype(np.uint8).tobytes()
    if compress:
        path = path.with_name(path.name + ".gz")
        payload = gzip.compress(payload)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(payload)


def write_mnist(folder: Path, train: int = 64, test: int = 32, compress: bool = True,
                seed: int = 0) -> Path:
    """Four idx files as LeCun publishes them (optionally gzipped)."""
    rng = np.random.default_rng(seed)
    write_idx(folder / "train-images-idx3-ubyte", rng.integers(0, 256, (train, 28, 28)), compress)
    write_idx(folder / "train-labels-idx1-ubyte", rng.integers(0, 10, train), compress)
    write_idx(folder / "t10k-images-idx3-ubyte", rng.integers(0, 256, (test, 28, 28)), compress)
    write_idx(folder / "t10k-labels-idx1-ubyte", rng.integers(0, 10, test), compress)
    return folder


@pytest.fixture
def cifar_dir(tmp_path) -> Path:
    write_cifar10(tmp_path / "cifar")
    return tmp_path / "cifar"
