"""Small data sets written in their real on-disk formats, for tests, benchmarks and demos.

CIFAR-10 as torchvision's pickled batches (`cifar-10-batches-py/`), MNIST-style idx files
(optionally gzipped): the loaders read them exactly as they read the real downloads.
"""

from __future__ import annotations

import gzip
import io
import pickle
import struct
from pathlib import Path

import numpy as np


class _Python2Pickler(pickle._Pickler):
    """Writes bytes as Python 2 `str` (BINSTRING), as the real CIFAR-10 files were written:
    they load as bytes with encoding='bytes' (our loader) and as str with 'latin1'
    (torchvision's)."""

    dispatch = dict(pickle._Pickler.dispatch)

    def _save_py2_str(self, obj: bytes) -> None:
        self.write(pickle.BINSTRING + struct.pack("<i", len(obj)) + obj)
        self.memoize(obj)

    dispatch[bytes] = _save_py2_str


def python2_pickle(obj) -> bytes:
    """`obj` pickled as Python 2 wrote it (bytes as `str`): the real CIFAR-10 files' form."""
    buffer = io.BytesIO()
    _Python2Pickler(buffer, protocol=2).dump(obj)
    return buffer.getvalue()


def write_cifar10(root: Path, per_batch: int = 20, test: int = 30, seed: int = 0) -> Path:
    """Five data_batch_N and a test_batch: pickled dicts with b'data' (N, 3072) uint8 rows
    in CHW order and b'labels', plus batches.meta; returns the cifar-10-batches-py folder."""
    rng = np.random.default_rng(seed)
    folder = Path(root) / "cifar-10-batches-py"
    folder.mkdir(parents=True, exist_ok=True)

    def dump(name: str, count: int) -> None:
        data = rng.integers(0, 256, (count, 3072), dtype=np.uint8)
        labels = [int(v) for v in rng.integers(0, 10, count)]
        (folder / name).write_bytes(python2_pickle({
            b"batch_label": name.encode(), b"data": data, b"labels": labels,
            b"filenames": [b"x.png"] * count}))

    for index in range(1, 6):
        dump(f"data_batch_{index}", per_batch)
    dump("test_batch", test)
    (folder / "batches.meta").write_bytes(python2_pickle({b"label_names": [b"airplane"] * 10}))
    return folder


def write_idx(path: Path, array: np.ndarray, compress: bool) -> Path:
    """One idx file: zero bytes, type 0x08 (unsigned byte), rank, big-endian sizes, data."""
    header = struct.pack(">BBBB", 0, 0, 0x08, array.ndim)
    header += struct.pack(f">{array.ndim}I", *array.shape)
    payload = header + array.astype(np.uint8).tobytes()
    if compress:
        path = path.with_name(path.name + ".gz")
        payload = gzip.compress(payload)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(payload)
    return path


def write_mnist(folder: Path, train: int = 64, test: int = 32, compress: bool = True,
                seed: int = 0) -> Path:
    """The four idx files of MNIST / Fashion-MNIST as LeCun publishes them."""
    rng = np.random.default_rng(seed)
    folder = Path(folder)
    write_idx(folder / "train-images-idx3-ubyte", rng.integers(0, 256, (train, 28, 28)),
              compress)
    write_idx(folder / "train-labels-idx1-ubyte", rng.integers(0, 10, train), compress)
    write_idx(folder / "t10k-images-idx3-ubyte", rng.integers(0, 256, (test, 28, 28)), compress)
    write_idx(folder / "t10k-labels-idx1-ubyte", rng.integers(0, 10, test), compress)
    return folder
