"""The decoded-data cache: a second load maps the arrays instead of decoding, and a changed,
damaged or unwritable cache never changes what a trial sees."""

import os

import numpy as np
import pytest
import torch

from vgg_sweep import data
from vgg_sweep.fake_data import write_cifar10, write_idx, write_mnist


@pytest.fixture
def cache_everything(monkeypatch, tmp_path):
    monkeypatch.setattr(data, "CACHE_MIN_BYTES", 0)
    monkeypatch.setenv("VGG_SWEEP_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache" / "data"


def _no_decoding(monkeypatch):
    def refuse(*_):
        raise AssertionError("decoded although the cache holds this data set")
    monkeypatch.setattr(data, "read_idx", refuse)
    monkeypatch.setattr(data, "_read_cifar_batch", refuse)


def _same(a: data.DataSet, b: data.DataSet) -> None:
    for array in data.ARRAYS:
        assert torch.equal(getattr(a, array), getattr(b, array))
    assert (a.classes, a.mean, a.std) == (b.classes, b.mean, b.std)


@pytest.mark.parametrize("name", ["fashion_mnist", "cifar10"])
def test_the_second_load_maps_the_cached_arrays(name, cache_everything, tmp_path, monkeypatch):
    folder = tmp_path / "data"
    write_mnist(folder) if name == "fashion_mnist" else write_cifar10(folder)
    first = data.load_dataset(name, folder)
    [entry] = cache_everything.iterdir()
    _no_decoding(monkeypatch)
    second = data.load_dataset(name, folder)
    _same(first, second)
    second.train_x[0] += 1  # copy-on-write: a trial's writes never reach the cache
    assert torch.equal(data.load_dataset(name, folder).train_x, first.train_x)


def test_a_changed_source_file_is_decoded_again(cache_everything, tmp_path):
    folder = tmp_path / "data"
    write_mnist(folder)
    before = data.load_dataset("fashion_mnist", folder)
    images = folder / "train-images-idx3-ubyte.gz"
    stat = images.stat()
    changed = data.read_idx(images).copy()
    changed[0] = 255 - changed[0]
    write_idx(folder / "train-images-idx3-ubyte", changed, compress=True)
    os.utime(images, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # even with the old time
    after = data.load_dataset("fashion_mnist", folder)
    assert torch.equal(after.train_x[0, 0], torch.from_numpy(changed[0]))
    assert not torch.equal(before.train_x, after.train_x)


def test_a_damaged_entry_is_decoded_again_and_replaced(cache_everything, tmp_path):
    folder = tmp_path / "data"
    write_mnist(folder)
    first = data.load_dataset("fashion_mnist", folder)
    [entry] = cache_everything.iterdir()
    (entry / "train_x.npy").write_bytes(b"\x93NUMPY cut")
    _same(first, data.load_dataset("fashion_mnist", folder))
    assert np.load(entry / "train_x.npy").shape == tuple(first.train_x.shape)


def test_an_unwritable_cache_costs_only_time(monkeypatch, tmp_path):
    monkeypatch.setattr(data, "CACHE_MIN_BYTES", 0)
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("VGG_SWEEP_CACHE", str(blocker))
    write_mnist(tmp_path / "data")
    assert len(data.load_dataset("fashion_mnist", tmp_path / "data").train_x) == 64


def test_small_sources_are_not_cached(monkeypatch, tmp_path):
    monkeypatch.setenv("VGG_SWEEP_CACHE", str(tmp_path / "cache"))
    write_mnist(tmp_path / "data")
    data.load_dataset("fashion_mnist", tmp_path / "data")
    assert not (tmp_path / "cache").exists()
