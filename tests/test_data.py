"""Data sets read from their real on-disk formats; splits are seeded and disjoint."""

import gzip

import numpy as np
import pytest
import torch

from vgg_sweep.config import make_config
from vgg_sweep.data import UserError, load_dataset, read_idx, split
from vgg_sweep.fake_data import write_cifar10, write_idx, write_mnist
from vgg_sweep.registry import DATASETS

# Files in each registered data set's on-disk format (synthetic needs none).
WRITERS = {"cifar10": write_cifar10, "mnist": write_mnist, "fashion_mnist": write_mnist,
           "synthetic": lambda folder: None}


def test_cifar10_pickle_layout(cifar_dir):
    data = load_dataset("cifar10", cifar_dir)
    assert data.train_x.shape == (100, 3, 32, 32) and data.train_x.dtype == torch.uint8
    assert data.test_x.shape == (30, 3, 32, 32)
    assert data.train_y.dtype == torch.int64 and len(data.train_y) == 100
    assert data.classes[0] == "airplane" and len(data.classes) == 10


def test_cifar10_pickles_load_like_the_real_python2_files(cifar_dir):
    """Keys are Python 2 str: bytes under encoding='bytes', str under torchvision's latin1."""
    import pickle

    path = cifar_dir / "cifar-10-batches-py" / "data_batch_1"
    with open(path, "rb") as handle:
        as_latin1 = pickle.load(handle, encoding="latin1")
    with open(path, "rb") as handle:
        as_bytes = pickle.load(handle, encoding="bytes")
    assert set(as_latin1) == {"batch_label", "data", "labels", "filenames"}
    assert set(as_bytes) == {b"batch_label", b"data", b"labels", b"filenames"}
    assert as_latin1["data"].shape == (20, 3072)


def test_cifar10_rows_are_chw(tmp_path):
    """The first 1024 bytes of a row are the red plane: check one pixel end to end."""
    folder = write_cifar10(tmp_path)
    import pickle
    with open(folder / "data_batch_1", "rb") as handle:
        raw = pickle.load(handle, encoding="bytes")[b"data"]
    data = load_dataset("cifar10", tmp_path)
    assert int(data.train_x[0, 1, 2, 3]) == int(raw[0][1024 + 2 * 32 + 3])


@pytest.mark.parametrize("compress", [True, False])
def test_idx_flat_folder(tmp_path, compress):
    write_mnist(tmp_path, train=50, test=20, compress=compress)
    data = load_dataset("fashion_mnist", tmp_path)
    assert data.train_x.shape == (50, 1, 28, 28) and data.test_x.shape == (20, 1, 28, 28)
    assert data.classes[9] == "Ankle boot"


def test_idx_torchvision_layout(tmp_path):
    write_mnist(tmp_path / "MNIST" / "raw", train=40, test=10)
    data = load_dataset("mnist", tmp_path)
    assert len(data.train_y) == 40 and data.shape == (1, 28, 28)


def test_idx_values_roundtrip(tmp_path):
    array = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    write_idx(tmp_path / "x", array, compress=True)
    assert (read_idx(tmp_path / "x.gz") == array).all()


def test_truncated_idx_is_a_user_error(tmp_path):
    write_mnist(tmp_path, compress=False)
    path = tmp_path / "train-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(UserError, match="truncated"):
        load_dataset("mnist", tmp_path)


def test_not_idx_is_a_user_error(tmp_path):
    write_mnist(tmp_path, compress=True)
    (tmp_path / "t10k-images-idx3-ubyte.gz").write_bytes(gzip.compress(b"hello world"))
    with pytest.raises(UserError, match="not an unsigned-byte idx file"):
        load_dataset("mnist", tmp_path)


def test_split_is_seeded_disjoint_and_sized(cifar_dir):
    data = load_dataset("cifar10", cifar_dir)
    config = make_config({"dataset": "cifar10", "val_split": 0.2, "seed": 3})
    first, again = split(data, config), split(data, config)
    assert len(first.train_x) == 80 and len(first.val_x) == 20 and not first.val_is_test
    assert torch.equal(first.val_x, again.val_x)
    other = split(data, make_config({"val_split": 0.2, "seed": 4}))
    assert not torch.equal(first.val_y, other.val_y) or not torch.equal(first.val_x,
                                                                         other.val_x)
    rows = {bytes(x.flatten().numpy()) for x in first.train_x}
    assert not rows & {bytes(x.flatten().numpy()) for x in first.val_x}


def test_val_split_zero_validates_on_test(cifar_dir):
    data = load_dataset("cifar10", cifar_dir)
    splits = split(data, make_config({"val_split": 0, "train_subset": 25}))
    assert splits.val_is_test and torch.equal(splits.val_x, data.test_x)
    assert len(splits.train_x) == 25


def test_synthetic_is_deterministic():
    a, b = load_dataset("synthetic", "unused"), load_dataset("synthetic", "unused")
    assert torch.equal(a.train_x, b.train_x) and a.train_x.shape == (1024, 3, 16, 16)


@pytest.mark.parametrize("name", list(DATASETS))
def test_every_data_set_loads_as_its_registry_entry_says(name, tmp_path):
    """The lints take chance as 1 / num_classes from the entry: it must be the loader's."""
    WRITERS[name](tmp_path)
    data, entry = load_dataset(name, tmp_path), DATASETS[name]
    assert len(data.classes) == entry.num_classes
    assert data.shape == entry.image_shape == tuple(data.test_x.shape[1:])
