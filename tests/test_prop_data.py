"""Property tests: damaged data files, written by vgg_sweep.fake_data in their real formats
and then mutated, through the readers and through `vgg-sweep train`.

A reader returns what the header promises or raises UserError (one line, naming the file);
the command keeps the CLI contract and, refusing, leaves no run folder. A mutation that
leaves a valid file must still train.
"""

from __future__ import annotations

import gzip
import pickle
import struct
import tempfile
from pathlib import Path

import numpy as np
import pytest
from contract import assert_contract, examples, run_cli
from hypothesis import given
from hypothesis import strategies as st

from vgg_sweep.data import UserError, load_dataset, read_idx
from vgg_sweep.fake_data import python2_pickle, write_cifar10, write_idx, write_mnist

TRAIN = ["--epochs=1", "--batch_size=16", "--plots=false", "--count_flops=false",
         "--grad_flow_every=0", "--precision=fp32", "--val_split=0", "--train_subset=8"]
IDX_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
             "t10k-labels-idx1-ubyte")


def train_on(dataset: str, data_dir: Path, *extra: str):
    """`vgg-sweep train` on `data_dir`: the contract, and no run folder when refused."""
    with tempfile.TemporaryDirectory() as scratch:
        runs = Path(scratch) / "runs"
        result = run_cli(["train", f"--dataset={dataset}", f"--data_dir={data_dir}", *TRAIN,
                          *extra, f"--runs_dir={runs}", "--run_id=p"])
        assert_contract(result)
        if result.code == 2:
            assert not runs.exists(), list(runs.rglob("*"))
        return result


# --- byte-level mutations ------------------------------------------------------------------------

def _apply(raw: bytes, step: tuple) -> bytes:
    kind, position, value = step
    at = position % (len(raw) + 1)
    if kind == "set":
        return raw[:at] + bytes([value % 256]) + raw[at + 1:]
    if kind == "cut":
        return raw[:at]
    if kind == "insert":
        return raw[:at] + bytes([value % 256]) * (1 + value % 7) + raw[at:]
    return raw[:at] + raw[at + 1 + value % 16:]  # delete


BYTE_STEP = st.tuples(st.sampled_from(["set", "cut", "insert", "delete"]),
                      st.integers(0, 10**6), st.integers(0, 2**16))


def _header_step():
    """Idx header fields: the magic's type and rank bytes, a dimension (big-endian u32)."""
    return st.one_of(
        st.tuples(st.just("type"), st.integers(0, 255)),
        st.tuples(st.just("rank"), st.integers(0, 255)),
        st.tuples(st.just("dim"), st.integers(0, 3), st.sampled_from(
            [0, 1, 27, 28, 29, 2**31, 2**32 - 1]) | st.integers(0, 2**32 - 1)))


def _mutate_header(raw: bytes, step: tuple) -> bytes:
    if step[0] == "type":
        return raw[:2] + bytes([step[1]]) + raw[3:]
    if step[0] == "rank":
        return raw[:3] + bytes([step[1]]) + raw[4:]
    offset = 4 + 4 * step[1]
    return raw[:offset] + struct.pack(">I", step[2]) + raw[offset + 4:] \
        if offset + 4 <= len(raw) else raw


IDX_MUTATION = st.lists(st.one_of(BYTE_STEP.map(lambda s: ("bytes", s)),
                                  _header_step().map(lambda s: ("header", s))),
                        min_size=1, max_size=3)


def mutate_idx(raw: bytes, steps) -> bytes:
    for where, step in steps:
        raw = _apply(raw, step) if where == "bytes" else _mutate_header(raw, step)
    return raw


@examples(60)
@given(shape=st.lists(st.integers(0, 5), min_size=0, max_size=4), steps=IDX_MUTATION,
       compress=st.booleans(), damage_gzip=st.lists(BYTE_STEP, max_size=2))
def test_read_idx_returns_what_the_header_says_or_one_user_error(shape, steps, compress,
                                                                  damage_gzip):
    """Header fields, truncation and insertions in the idx data; then, gzipped, damage to the
    compressed stream."""
    with tempfile.TemporaryDirectory() as folder:
        array = np.arange(int(np.prod(shape)), dtype=np.uint8).reshape(shape)
        path = write_idx(Path(folder) / "x", array, compress=False)
        raw = mutate_idx(path.read_bytes(), steps)
        if compress:
            path.unlink()
            path = Path(folder) / "x.gz"
            packed = gzip.compress(raw, mtime=0)
            for step in damage_gzip:
                packed = _apply(packed, step)
            path.write_bytes(packed)
        else:
            path.write_bytes(raw)
        try:
            result = read_idx(path)
        except UserError as error:
            assert str(path) in str(error) and "\n" not in str(error)
            return
        rank = raw[3]  # it parsed: the bytes after the header are the promised array
        dims = struct.unpack(f">{rank}I", raw[4:4 + 4 * rank])
        assert result.shape == dims and result.tobytes() == raw[4 + 4 * rank:]


@examples(8)
@given(target=st.sampled_from(IDX_FILES), steps=IDX_MUTATION, compress=st.booleans())
def test_mutated_idx_files_through_train(target, steps, compress):
    with tempfile.TemporaryDirectory() as folder:
        write_mnist(Path(folder), train=32, test=16, compress=compress)
        path = Path(folder) / (target + (".gz" if compress else ""))
        raw = gzip.decompress(path.read_bytes()) if compress else path.read_bytes()
        damaged = mutate_idx(raw, steps)
        path.write_bytes(gzip.compress(damaged) if compress else damaged)
        result = train_on("mnist", Path(folder))
        if result.code == 2:
            assert target in result.error_lines[0] or "set in" in result.error_lines[0]


@pytest.mark.parametrize("target, array, fragment", [
    ("train-images-idx3-ubyte", np.zeros((4, 14, 56)), "not N x 28 x 28 images"),
    ("train-images-idx3-ubyte", np.zeros((4, 28 * 28)), "not N x 28 x 28 images"),
    ("train-labels-idx1-ubyte", np.zeros((32, 1)), "not N labels"),
    ("t10k-labels-idx1-ubyte", np.full(16, 10), "labels outside 0..9"),
    ("t10k-images-idx3-ubyte", np.zeros((0, 28, 28)), "16 labels"),
    ("train-labels-idx1-ubyte", np.zeros(31), "32 images but 31 labels"),
])
def test_idx_files_of_the_wrong_shape_or_labels_are_one_line(tmp_path, target, array,
                                                             fragment):
    """Before these checks such files reached the models and the loss unchecked (a rank-2
    image file, labels >= 10 for 10 classes, counts that differ)."""
    write_mnist(tmp_path, train=32, test=16, compress=False)
    write_idx(tmp_path / target, array, compress=False)
    result = train_on("mnist", tmp_path)
    assert result.code == 2 and fragment in result.error_lines[0]


def test_damaged_deflate_data_is_one_line(tmp_path):
    """zlib.error ('invalid distance too far back', ...) is not an OSError."""
    write_mnist(tmp_path, train=32, test=16)
    path = tmp_path / "train-images-idx3-ubyte.gz"
    packed = bytearray(path.read_bytes())
    packed[40:48] = b"\xff" * 8
    path.write_bytes(bytes(packed))
    with pytest.raises(UserError, match="train-images-idx3-ubyte.gz"):
        load_dataset("mnist", tmp_path)


# --- CIFAR-10 batches ---------------------------------------------------------------------------

def _data(draw_shape, dtype) -> np.ndarray:
    return (np.arange(int(np.prod(draw_shape))) % 256).astype(dtype).reshape(draw_shape)


@st.composite
def cifar_batches(draw):
    """A batch dict with Python 2 bytes keys or Python 3 str keys, often valid, else with a
    wrong shape, dtype, label range or count, a missing key or another top-level object."""
    rows = draw(st.integers(0, 6))
    shape = draw(st.sampled_from([(rows, 3072), (rows, 3072), (rows, 1024), (rows, 3, 32, 32),
                                  (rows,), (rows, 3073)]))
    dtype = draw(st.sampled_from([np.uint8, np.uint8, np.int64, np.float32, np.uint16]))
    labels = draw(st.lists(st.integers(-2, 11) | st.integers(0, 9), min_size=max(rows - 1, 0),
                           max_size=rows + 1))
    labels = draw(st.sampled_from([labels, np.array(labels, dtype=np.int64),
                                   [float(v) for v in labels], [str(v) for v in labels]]))
    batch = {"data": _data(shape, dtype), "labels": labels, "batch_label": "x"}
    for key in draw(st.lists(st.sampled_from(["data", "labels"]), max_size=1)):
        del batch[key]
    top = draw(st.sampled_from(["dict", "dict", "dict", "list", "array"]))
    if top == "list":
        batch = list(batch.values())
    elif top == "array":
        batch = np.zeros(3, dtype=np.uint8)
    py2 = draw(st.booleans())
    if isinstance(batch, dict) and py2:
        batch = {key.encode(): value for key, value in batch.items()}
    raw = python2_pickle(batch) if py2 else pickle.dumps(batch, protocol=draw(
        st.integers(2, 5)))
    cut = draw(st.none() | st.integers(0, len(raw) - 1))
    return batch, raw if cut is None else raw[:cut], cut is not None


def _valid_batch(batch) -> bool:
    if not isinstance(batch, dict):
        return False
    batch = {key.decode() if isinstance(key, bytes) else key: value
             for key, value in batch.items()}
    data, labels = batch.get("data"), batch.get("labels")
    return (isinstance(data, np.ndarray) and data.dtype == np.uint8 and data.ndim == 2
            and data.shape[1] == 3072 and len(data) > 0 and labels is not None
            and len(labels) == len(data) and np.asarray(labels).dtype.kind in "iu"
            and all(0 <= int(v) < 10 for v in labels))


@examples(12)
@given(mutated=cifar_batches(), target=st.sampled_from(["data_batch_1", "test_batch"]))
def test_mutated_cifar_batches_through_train(mutated, target):
    batch, raw, truncated = mutated
    with tempfile.TemporaryDirectory() as folder:
        batches = write_cifar10(Path(folder), per_batch=4, test=6)
        if target == "data_batch_1":  # the others go: the mutated batch is the training set
            for path in batches.glob("data_batch_[2-5]"):
                path.unlink()
        (batches / target).write_bytes(raw)
        result = train_on("cifar10", Path(folder))
    # a valid batch trains in either key style; anything else (a cut pickle always lacks
    # its STOP opcode) is refused in one line naming the file or the set
    assert result.code == (0 if _valid_batch(batch) and not truncated else 2), result.err
    if result.code == 2:
        assert target in result.error_lines[0] or "set in" in result.error_lines[0]


def test_tampered_cifar_batch_runs_nothing(tmp_path):
    """Protocol 5 and Python 3's protocol 2 need two more numpy/codecs globals; still no
    others: os.system is refused."""
    batches = write_cifar10(tmp_path)

    class Evil:
        def __reduce__(self):
            return (__import__("os").system, (f"touch {tmp_path / 'pwned'}",))

    (batches / "data_batch_1").write_bytes(pickle.dumps({"data": Evil()}, protocol=5))
    result = train_on("cifar10", tmp_path)
    assert result.code == 2 and "posix.system is not allowed" in result.error_lines[0]
    assert not (tmp_path / "pwned").exists()
