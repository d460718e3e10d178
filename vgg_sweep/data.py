"""Data sets as uint8 tensors: loaded once, split once, batched on the training device.

Formats read directly (no torchvision dataset objects, no PIL): CIFAR-10's pickled batches
(`cifar-10-batches-py/`), MNIST-style idx files (plain or .gz, in torchvision's
`<root>/<Name>/raw/` layout or a flat folder such as /usr/share/datasets/fashion-mnist), and a
synthetic set for tests. When files are missing, torchvision's downloader is tried; offline,
one error names the folder and the fix.

Decoding is paid once per machine: a data set read from files of CACHE_MIN_BYTES or more is
kept as uint8 `.npy` arrays in the cache folder (VGG_SWEEP_CACHE, else
$XDG_CACHE_HOME/vgg-sweep or ~/.cache/vgg-sweep), memory-mapped by the next trial in
milliseconds (0.45 s for Fashion-MNIST's gzipped idx files, ~0.5 ms mapped); the entry is
used only while every source file has the size, inode and change times it was read with
(tests/test_data_cache.py).
"""

from __future__ import annotations

import gzip
import hashlib
import json
import math
import os
import pickle
import shutil
import tempfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from vgg_sweep.config import TrialConfig, check_data_fit
from vgg_sweep.errors import UserError
from vgg_sweep.registry import DATASETS

CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse",
                   "ship", "truck")
FASHION_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
                   "Sneaker", "Bag", "Ankle boot")


@dataclass
class DataSet:
    """Images (N, C, H, W) uint8 and labels (N,) int64 for train and test, plus metadata."""

    train_x: torch.Tensor
    train_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor
    classes: tuple[str, ...]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    sources: tuple[Path, ...] = field(default=(), compare=False)  # the files read

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(self.train_x.shape[1:])


@dataclass
class Splits:
    """What a trial trains, validates and tests on; `val_is_test` when the validation set is
    the whole test set (val_split = 0, no val_subset): a validation pass is then a test pass."""

    train_x: torch.Tensor
    train_y: torch.Tensor
    val_x: torch.Tensor
    val_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor
    val_is_test: bool


# --- CIFAR-10 ------------------------------------------------------------------------------

def _cifar_folder(data_dir: Path) -> Path | None:
    for folder in (data_dir / "cifar-10-batches-py", data_dir):
        if (folder / "test_batch").exists():
            return folder
    return None


class _ArraysOnly(pickle.Unpickler):
    """CIFAR-10 batches hold numpy arrays, lists and bytes: any other global is refused, so
    a tampered file cannot run code as a plain `pickle.load` would let it. Allowed: what
    numpy arrays pickle to (protocol 2 from Python 3 adds `_codecs.encode`, protocol 5
    `_frombuffer`), each of which only builds arrays or bytes."""

    ALLOWED = {("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray",
               "_reconstruct"), ("numpy.core.numeric", "_frombuffer"),
               ("numpy._core.numeric", "_frombuffer"), ("numpy", "ndarray"),
               ("numpy", "dtype"), ("_codecs", "encode")}

    def find_class(self, module: str, name: str):
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"{module}.{name} is not allowed in a CIFAR-10 batch")
        return super().find_class(module, name)


def _read_cifar_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """One batch: a dict with `data` (N, 3072) uint8 rows and `labels` (N ints). Keys are
    bytes in the original Python 2 files and str in batches pickled by Python 3 (which
    torchvision reads too)."""
    try:
        with open(path, "rb") as handle:
            batch = _ArraysOnly(handle, encoding="bytes").load()
        batch = {key.decode("latin1") if isinstance(key, bytes) else key: value
                 for key, value in batch.items()}
        data, labels = batch["data"], np.asarray(batch["labels"])
    except Exception as error:  # noqa: BLE001 - a damaged pickle fails in many ways; the
        # unpickler above runs no code, and every failure means the same fix
        raise UserError(f"CIFAR-10 file {path} is unreadable ({type(error).__name__}: "
                        f"{str(error)[:200]}); delete {path.parent} and download again"
                        ) from None
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 \
            or data.shape[1] != 3 * 32 * 32:
        what = (f"{data.dtype} array of shape {data.shape}" if isinstance(data, np.ndarray)
                else type(data).__name__)
        raise UserError(f"CIFAR-10 file {path}: 'data' is a {what}, not uint8 rows of 3072 "
                        f"pixels; delete {path.parent} and download again")
    if labels.ndim != 1 or len(labels) != len(data) or labels.dtype.kind not in "iu":
        raise UserError(f"CIFAR-10 file {path}: 'labels' is not {len(data)} integers, one per "
                        f"image; delete {path.parent} and download again")
    return data.reshape(-1, 3, 32, 32), labels.astype(np.int64)


def load_cifar10(data_dir: Path) -> DataSet:
    folder = _cifar_folder(data_dir)
    if folder is None:
        _download("CIFAR10", data_dir, "cifar-10-batches-py/ (from cifar-10-python.tar.gz)")
        folder = data_dir / "cifar-10-batches-py"
    parts = [_read_cifar_batch(path) for path in sorted(folder.glob("data_batch_*"))]
    test_x, test_y = _read_cifar_batch(folder / "test_batch")
    if not parts:
        raise UserError(f"no data_batch_* files in {folder}; re-extract cifar-10-python.tar.gz")
    return DataSet(torch.from_numpy(np.concatenate([p[0] for p in parts])),
                   torch.from_numpy(np.concatenate([p[1] for p in parts])),
                   torch.from_numpy(test_x), torch.from_numpy(test_y), CIFAR10_CLASSES,
                   (0.4914, 0.4822, 0.4465), (0.2023, 0.1994, 0.2010),
                   (*sorted(folder.glob("data_batch_*")), folder / "test_batch"))


# --- MNIST and Fashion-MNIST (idx files) ---------------------------------------------------

def read_idx(path: Path) -> np.ndarray:
    """An idx file (LeCun's format: magic with type and rank, big-endian sizes, raw data)."""
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as handle:
            raw = handle.read()
    except (OSError, EOFError, zlib.error) as error:  # gzip: cut (EOFError), not gzip or a bad
        # CRC (OSError), damaged deflate data (zlib.error)
        raise UserError(f"{path} is unreadable ({error}); download it again") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise UserError(f"{path} is not an unsigned-byte idx file; download it again")
    rank = raw[3]
    if len(raw) < 4 + 4 * rank:
        raise UserError(f"{path} is truncated (header of rank {rank} cut short); download it "
                        "again")
    dims = [int(d) for d in np.frombuffer(raw, dtype=">u4", count=rank, offset=4)]
    expected = math.prod(dims)
    data = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * rank)
    if data.size != expected:
        raise UserError(f"{path} holds {data.size} bytes of data, its header says {expected} "
                        f"({' x '.join(map(str, dims))}): truncated or damaged; download it "
                        "again")
    return data.reshape(dims)


def _find_idx(folders: list[Path], stem: str) -> Path | None:
    for folder in folders:
        for name in (stem, stem + ".gz"):
            if (folder / name).exists():
                return folder / name
    return None


def _load_idx_dataset(data_dir: Path, torchvision_name: str, classes, mean, std) -> DataSet:
    folders = [data_dir, data_dir / torchvision_name / "raw"]
    stems = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
             "t10k-labels-idx1-ubyte")
    paths = [_find_idx(folders, stem) for stem in stems]
    if None in paths:
        _download(torchvision_name, data_dir, "the four idx files (train-images-idx3-ubyte.gz, "
                  "...)")
        paths = [_find_idx(folders, stem) for stem in stems]
    arrays = [read_idx(path) for path in paths]
    for path, array, rank in zip(paths, arrays, (3, 1, 3, 1), strict=True):  # images, labels, ...
        if array.ndim != rank or array.shape[1:] != (28, 28)[:rank - 1]:
            raise UserError(f"{path} holds an array of shape {array.shape}, not "
                            f"{'N x 28 x 28 images' if rank == 3 else 'N labels'}; download "
                            "it again")
    train_x, train_y, test_x, test_y = (torch.from_numpy(array.copy()) for array in arrays)
    return DataSet(train_x[:, None], train_y.long(), test_x[:, None], test_y.long(), classes,
                   mean, std, tuple(paths))


def load_mnist(data_dir: Path) -> DataSet:
    return _load_idx_dataset(data_dir, "MNIST", tuple(str(d) for d in range(10)), (0.1307,),
                             (0.3081,))


def load_fashion_mnist(data_dir: Path) -> DataSet:
    return _load_idx_dataset(data_dir, "FashionMNIST", FASHION_CLASSES, (0.2860,), (0.3530,))


# --- synthetic -----------------------------------------------------------------------------

def load_synthetic(data_dir: Path, train_size: int = 1024, test_size: int = 256,
                   shape=(3, 16, 16), num_classes: int = 10) -> DataSet:
    """Learnable fake images: each class a fixed smooth template, plus per-image noise.

    Small (16x16) so that tests train real models in seconds.

    Fixed generator seed, so every trial sees the same data; the trial's seed still drives
    splits, initialisation and augmentation.
    """
    generator = torch.Generator().manual_seed(1234)
    coarse = torch.rand(num_classes, shape[0], 4, 4, generator=generator)
    templates = torch.nn.functional.interpolate(coarse, size=shape[1:], mode="bilinear") * 255

    def draw(count: int) -> tuple[torch.Tensor, torch.Tensor]:
        labels = torch.randint(0, num_classes, (count,), generator=generator)
        noise = torch.randn(count, *shape, generator=generator) * 60
        return (templates[labels] + noise).clamp(0, 255).to(torch.uint8), labels

    train_x, train_y = draw(train_size)
    test_x, test_y = draw(test_size)
    return DataSet(train_x, train_y, test_x, test_y, tuple(f"class{i}" for i in
                   range(num_classes)), (0.5,) * shape[0], (0.25,) * shape[0])


def _download(torchvision_name: str, data_dir: Path, what: str) -> None:
    """Fetch a data set with torchvision's own downloader; offline, say where files go."""
    import torchvision

    try:
        getattr(torchvision.datasets, torchvision_name)(root=str(data_dir), download=True)
    except Exception as error:  # noqa: BLE001 - any download failure means the same fix
        raise UserError(f"{torchvision_name} not found in {data_dir} and the download failed "
                        f"({type(error).__name__}); put {what} in {data_dir} or pass "
                        "--data_dir=FOLDER") from None


# --- the decoded-data cache ---------------------------------------------------------------

CACHE_MIN_BYTES = 4 * 2**20  # smaller sources decode faster than a cache entry is checked
ARRAYS = ("train_x", "train_y", "test_x", "test_y")
MANIFEST = "manifest.json"


def cache_root() -> Path:
    if os.environ.get("VGG_SWEEP_CACHE"):
        return Path(os.environ["VGG_SWEEP_CACHE"])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "vgg-sweep"


def _cache_entry(name: str, data_dir: Path) -> Path:
    folder = hashlib.sha1(str(data_dir.resolve()).encode()).hexdigest()[:16]
    return cache_root() / "data" / f"{name}-{folder}"


def _stamps(paths) -> list[list]:
    """What identifies a file's content cheaply: path, size, inode and change times (ctime
    too: a tool that restores the modification time cannot restore it)."""
    return [[str(path), (stat := Path(path).stat()).st_size, stat.st_ino, stat.st_mtime_ns,
             stat.st_ctime_ns] for path in paths]


def _from_cache(entry: Path) -> DataSet | None:
    """The cached arrays, memory-mapped copy-on-write; None when absent or stale."""
    try:
        manifest = json.loads((entry / MANIFEST).read_text())
        if _stamps(source for source, *_ in manifest["sources"]) != manifest["sources"]:
            return None
        arrays = [torch.from_numpy(np.load(entry / f"{array}.npy", mmap_mode="c"))
                  for array in ARRAYS]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return DataSet(*arrays, tuple(manifest["classes"]), tuple(manifest["mean"]),
                   tuple(manifest["std"]), tuple(Path(s) for s, *_ in manifest["sources"]))


def _to_cache(entry: Path, data: DataSet) -> None:
    """Keep a decoded data set; written whole into a temporary folder, then renamed (another
    worker may be writing the same entry). A cache that cannot be written costs only time."""
    try:
        if not data.sources or sum(p.stat().st_size for p in data.sources) < CACHE_MIN_BYTES:
            return
        entry.parent.mkdir(parents=True, exist_ok=True)
        temp = Path(tempfile.mkdtemp(dir=entry.parent, prefix=f".{entry.name}-"))
    except OSError:
        return
    try:
        for array in ARRAYS:
            np.save(temp / f"{array}.npy", getattr(data, array).numpy())
        (temp / MANIFEST).write_text(json.dumps({
            "sources": _stamps(data.sources), "classes": data.classes, "mean": data.mean,
            "std": data.std}))
        shutil.rmtree(entry, ignore_errors=True)  # stale
        os.rename(temp, entry)
    except OSError:  # a full disk, or another worker's entry landed first
        shutil.rmtree(temp, ignore_errors=True)


def load_dataset(name: str, data_dir: str | Path) -> DataSet:
    """The data set registered as `name` (`vgg_sweep.registry.DATASETS` names its loader),
    from the cache when its files have not changed, checked: images and labels pair up,
    labels name a class, neither the training nor the test set is empty; else UserError
    naming the folder."""
    entry = _cache_entry(name, Path(data_dir))
    data = _from_cache(entry)
    if data is None:
        data = DATASETS[name].load()(Path(data_dir))
        _to_cache(entry, data)
    for part, images, labels in (("training", data.train_x, data.train_y),
                                 ("test", data.test_x, data.test_y)):
        problem = (f"{len(images)} images but {len(labels)} labels"
                   if len(images) != len(labels) else "no images" if not len(images)
                   else f"labels outside 0..{len(data.classes) - 1}"
                   if not 0 <= int(labels.min()) <= int(labels.max()) < len(data.classes)
                   else None)
        if problem:
            raise UserError(f"{name} {part} set in {data_dir}: {problem}; download it again")
    return data


def split(data: DataSet, config: TrialConfig) -> Splits:
    """Seeded train/validation split (val_split of train, R1) or validation on the test set
    (val_split = 0, R2/R3); then keep at most train_subset training images, and validate on
    the first val_subset images of the validation set (all by default: with val_split = 0
    the test set in its file order, the same images for every seed). A config that does not
    fit the data (a val_split of 0 images, ...) raises ConfigError."""
    generator = torch.Generator().manual_seed(config.seed)
    order = torch.randperm(len(data.train_x), generator=generator)
    n_val = round(len(order) * config.val_split)
    val_idx, train_idx = order[:n_val], order[n_val:]
    if config.train_subset:
        train_idx = train_idx[:config.train_subset]
    check_data_fit(config, images=len(order), held_out=n_val,
                   train_classes=len(data.train_y[train_idx].unique()),
                   image_side=min(data.shape[1:]))
    if n_val:
        val_x, val_y = data.train_x[val_idx], data.train_y[val_idx]
    else:
        val_x, val_y = data.test_x, data.test_y
    validated = slice(config.val_subset or None)
    val_x, val_y = val_x[validated], val_y[validated]
    return Splits(data.train_x[train_idx], data.train_y[train_idx], val_x, val_y,
                  data.test_x, data.test_y,
                  val_is_test=not n_val and len(val_y) == len(data.test_y))
