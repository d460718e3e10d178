"""`make bench`: our trial against the typical PyTorch pipeline, on this machine, in one run.

Sections 1-6 are measured side by side on the same synthetic CIFAR-10 files (written in the real
pickle format by vgg_sweep.fake_data) and the same VGG6 (64-64-M-128-128-M, BN, ReLU, Adam,
batch 128):

1. typical: torchvision.datasets.CIFAR10 + PIL RandomCrop/RandomHorizontalFlip (+ AutoAugment)
   /ToTensor/Normalize + DataLoader(num_workers=2, shuffle=True) + an fp32 training loop;
2. ours: `Trial.train_epoch` with the default config (precision auto, telemetry on; also off),
   plus our data path alone (`Trial._prepare` on every batch, no model);
3. model only: the same model, precision, optimiser and channels_last on ready, normalised
   tensors on the device -- the ceiling our pipeline should approach; and evaluation
   (`Trial.evaluate`) against the model's forward pass alone;
4. per-trial fixed overhead: `vgg-sweep train` in a fresh process against in-process
   `run_trial`, each as wall time minus the trial's own epoch_time_sec;
5. `vgg-sweep report` (load the runs directory + build the report) on 1,000 and 10,000
   synthetic runs;
6. `vgg-sweep preflight sweeps/vgg6.yaml` in a fresh process (wall time, probes, peak memory
   against a process that only imports the trainer) and one probe in this process, built and
   trained (vgg_sweep/preflight.py);
7. sweep (issue 19), on real Fashion-MNIST (/usr/share/datasets/fashion-mnist; left out with
   a note when absent): `vgg-sweep sweep` of a 4-point VGG6 grid with 2 workers, its wall time
   against the trials' train + evaluation time over the workers, each trial's wall time (from
   Optuna) and its records' per-phase breakdown; the SVM trial as a 1-point sweep (its trial
   wall time against fit + predict) and as `vgg-sweep train` in a fresh process. The sweeps
   run with warm workers (the default) and with --cold-start (a fresh interpreter per trial).

Why interleaved: this runs on shared machines. Each repetition runs every variant of a section
once, in the same order (A, B, C, A, B, C, ...), so that load from other processes hits all
variants alike; the tables show medians, and the ratios of medians are compared with the
targets of issues 7 and 19. Each throughput variant is warmed up (oneDNN/cuDNN kernel
selection, worker start-up) and sized from its warm-up rate so one measurement takes about
--seconds.

    .venv/bin/python benchmarks/bench.py                 # full run, writes BENCHMARKS.md
    .venv/bin/python benchmarks/bench.py --quick --out /tmp/bench.md   # a smoke run, ~2 min
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BATCH = 128
WARMUP_BATCHES = 3  # batches run before the clock starts (first batches select kernels)
SECTIONS = ("throughput", "overhead", "report", "preflight", "sweep")


# --- results -------------------------------------------------------------------------------

@dataclass
class Row:
    """One measured quantity: its values over the repetitions, reported as the median."""

    name: str
    unit: str
    values: list[float] = field(default_factory=list)
    work: str = ""  # what one measurement does (images, batches, runs)

    @property
    def median(self) -> float:
        return statistics.median(self.values) if self.values else math.nan


@dataclass
class Ratio:
    name: str
    value: float
    target: str = ""
    met: bool | None = None  # None: no target, or not judged (quick run)


@dataclass
class Results:
    rows: dict[str, Row] = field(default_factory=dict)
    ratios: list[Ratio] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, name: str, unit: str, value: float, work: str = "") -> None:
        row = self.rows.setdefault(name, Row(name, unit, work=work))
        row.values.append(value)

    def median(self, name: str) -> float:
        return self.rows[name].median if name in self.rows else math.nan


Measurement = Callable[[], dict[str, float]]


@dataclass
class Variant:
    """One thing to measure: `measure()` returns {row name: value}, its own row (`name`, in
    `unit`) and any breakdown rows (in seconds); `work` says what one measurement does."""

    name: str
    unit: str
    measure: Measurement
    work: str


def interleaved(variants: list[Variant], reps: int, results: Results) -> None:
    """Run the variants A, B, C, A, B, C, ... so that machine noise hits all alike."""
    for rep in range(reps):
        for variant in variants:
            values = variant.measure()
            for row_name, value in values.items():
                unit = variant.unit if row_name == variant.name else "s"
                results.add(row_name, unit, value, variant.work)
            shown = ", ".join(f"{key} {value:.4g}" for key, value in values.items())
            log(f"  rep {rep + 1}/{reps}: {shown}")


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# --- the bench: data, device, sizes --------------------------------------------------------

@dataclass
class Bench:
    tmp: Path
    data_dir: Path
    device: object  # torch.device
    images: int
    seconds: float  # target duration of one throughput measurement
    reps: int
    quick: bool
    min_batches: int  # floor on ours and model only per measurement; typical gets half

    def sync(self) -> None:
        import torch

        if self.device.type == "cuda":
            torch.cuda.synchronize()


def our_values(bench: Bench, **extra) -> dict:
    """The default trial config on the bench's data (validation on the test set, as R2/R3)."""
    return {"dataset": "cifar10", "data_dir": str(bench.data_dir), "model": "vgg6",
            "val_split": 0, "device": bench.device.type, "count_flops": False, "plots": False,
            **extra}


def build_trial(values: dict):
    """A Trial as `vgg_sweep.train._train` builds it."""
    from vgg_sweep.config import make_config
    from vgg_sweep.data import load_dataset, split
    from vgg_sweep.train import Trial, resolve_device

    config = make_config(values)
    data = load_dataset(config.dataset, config.data_dir)
    splits = split(data, config)
    return Trial(config, splits, len(data.classes), data.mean, data.std, resolve_device(config))


def sized(rate: float, bench: Bench) -> tuple[int, int]:
    """(train_subset, epochs) so that one measurement takes about bench.seconds at `rate`
    images/s; the subset is whole batches (a ragged last batch would select new kernels)."""
    wanted = max(bench.min_batches * BATCH, rate * bench.seconds)
    full = bench.images // BATCH * BATCH
    subset = min(full, int(wanted // BATCH) * BATCH)
    return subset, max(1, round(wanted / subset))


# --- 1. the typical pipeline ---------------------------------------------------------------

def torchvision_cifar10(root: Path, transform):
    """torchvision.datasets.CIFAR10 (its PIL `__getitem__`, what the loop runs) holding our
    synthetic training set. Its own `__init__` cannot read the files: it checks them against
    the real download's MD5 sums, and fake_data pickles the keys as Python 3 bytes, where the
    real files have Python 2 strings that torchvision's `encoding="latin1"` turns into str."""
    from torchvision.datasets import CIFAR10, VisionDataset

    from vgg_sweep.data import load_cifar10

    class SyntheticCIFAR10(CIFAR10):
        def __init__(self):
            VisionDataset.__init__(self, str(root), transform=transform)
            data = load_cifar10(root)
            self.train = True
            self.data = data.train_x.permute(0, 2, 3, 1).contiguous().numpy()  # HWC, as theirs
            self.targets = data.train_y.tolist()
            self.classes = list(data.classes)

    return SyntheticCIFAR10()


def typical_pipeline(bench: Bench, autoaugment: bool) -> Variant:
    """torchvision's CIFAR10 dataset, per-image PIL transforms, DataLoader with 2 workers, fp32.

    Each measurement is the first `count` batches of an epoch, clock started before the
    DataLoader iterator: worker start-up and the empty prefetch queue are included, as every
    epoch of the usual loop (no persistent_workers) pays them. Starting the clock after some
    batches instead would credit up to 2 x prefetch_factor batches made before it started."""
    import torch
    from torch.utils.data import DataLoader
    from torchvision import transforms

    from vgg_sweep.data import load_cifar10
    from vgg_sweep.models import build_model

    reference = load_cifar10(bench.data_dir)
    steps = [transforms.RandomCrop(32, padding=4), transforms.RandomHorizontalFlip()]
    if autoaugment:
        steps.append(transforms.AutoAugment(transforms.AutoAugmentPolicy.CIFAR10))
    steps += [transforms.ToTensor(), transforms.Normalize(reference.mean, reference.std)]
    dataset = torchvision_cifar10(bench.data_dir, transforms.Compose(steps))
    loader = DataLoader(dataset, batch_size=BATCH, shuffle=True, num_workers=2)
    torch.manual_seed(0)
    model = build_model("vgg6", (3, 32, 32), 10).to(bench.device)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = torch.nn.CrossEntropyLoss()
    model.train()

    def batches() -> Iterator:
        while True:
            yield from loader

    def step(images, labels) -> None:
        images, labels = images.to(bench.device), labels.to(bench.device)
        loss = loss_fn(model(images), labels)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    def run(count: int) -> float:
        bench.sync()
        start, seen = time.perf_counter(), 0
        stream = batches()
        for _ in range(count):
            images, labels = next(stream)
            step(images, labels)
            seen += len(labels)
        bench.sync()
        elapsed = time.perf_counter() - start
        stream.close()
        return seen / elapsed

    rate = run(WARMUP_BATCHES)  # also selects the kernels: a low estimate, never too long
    count = max(bench.min_batches // 2, round(rate * bench.seconds / BATCH))
    name = "typical, AutoAugment + crop + flip" if autoaugment else "typical, crop + flip"
    work = f"first {count} batches of an epoch"
    log(f"{name}: {work}")
    return Variant(name, "img/s", lambda: {name: run(count)}, work)


# --- 2. our trial --------------------------------------------------------------------------

def our_size(bench: Bench) -> tuple[int, int]:
    """(train_subset, epochs) of one measurement of ours, from a short warm-up trial; the
    warm-up also selects the kernels (oneDNN, cuDNN) every later trial of this shape reuses."""
    warm = build_trial(our_values(bench, train_subset=2 * BATCH))
    warm.train_epoch()
    subset, epochs = sized(warm.train_epoch()["images_per_sec"], bench)
    log(f"ours: {epochs} x {subset} images per measurement (precision {warm.precision})")
    return subset, epochs


def our_trial(bench: Bench, size: tuple[int, int], autoaugment: bool, telemetry: bool = True,
              ) -> tuple[Variant, object]:
    """Trial.train_epoch on the default config, plus Telemetry.end_epoch (weight flow), as an
    epoch of `_train` runs them; images/s over the whole measurement. Also returns the Trial,
    which the data-path and model-only variants reuse."""
    import torch

    subset, epochs = size
    extra = {"autoaugment": autoaugment}
    if not telemetry:
        extra.update(grad_flow_every=0, weight_flow=False)
    trial = build_trial(our_values(bench, train_subset=subset, **extra))
    trial._prepare(trial.data["train_x"][:BATCH], torch.Generator())  # AutoAugment's tables

    def measure() -> dict[str, float]:
        seen, elapsed = 0, 0.0
        for _ in range(epochs):
            row = trial.train_epoch()
            start = time.perf_counter()
            trial.epoch += 1
            trial.telemetry.end_epoch(trial.epoch)
            elapsed += row["epoch_time_sec"] + time.perf_counter() - start
            seen += round(row["images_per_sec"] * row["epoch_time_sec"])
        return {name: seen / elapsed}

    augment = "AutoAugment + crop + flip" if autoaugment else "crop + flip"
    name = f"ours, {augment}" + ("" if telemetry else ", telemetry off")
    return Variant(name, "img/s", measure, f"{epochs} x {subset} images"), trial


def data_path_only(bench: Bench, trial, epochs: int, name: str) -> Variant:
    """Our data path alone: every batch of the same epochs gathered and `_prepare`d (augment,
    normalise, channels_last), no model."""
    import torch

    def measure() -> dict[str, float]:
        images = trial.data["train_x"]
        bench.sync()
        start = time.perf_counter()
        for epoch in range(epochs):
            generator = torch.Generator().manual_seed(epoch)
            order = torch.randperm(len(images), generator=generator).to(bench.device)
            for begin in range(0, len(order), BATCH):
                trial._prepare(images[order[begin:begin + BATCH]], generator)
        bench.sync()
        return {name: epochs * len(images) / (time.perf_counter() - start)}

    return Variant(name, "img/s", measure, f"{epochs} x {len(trial.data['train_x'])} images")


def model_only(bench: Bench, trial, epochs: int) -> Variant:
    """The trial's model, optimiser, scaler and precision on ready tensors: no data path and
    no syncs but the last. The pool of batches is prepared (normalised, channels_last) once."""
    from vgg_sweep.train import _autocast

    count = epochs * len(trial.data["train_x"]) // BATCH
    images, labels = trial.data["train_x"], trial.data["train_y"]
    pool = [(trial._prepare(images[i:i + BATCH], None), labels[i:i + BATCH])
            for i in range(0, min(len(images), 8 * BATCH), BATCH)]
    trial.model.train()

    def step(x, y):
        with _autocast(trial.device, trial.precision):
            loss = trial.loss_fn(trial.forward(x), y)
        trial.optimizer.zero_grad(set_to_none=True)
        trial.scaler.scale(loss).backward()
        trial.scaler.step(trial.optimizer)
        trial.scaler.update()
        return loss

    for x, y in pool[:WARMUP_BATCHES]:
        step(x, y)

    def measure() -> dict[str, float]:
        bench.sync()
        start = time.perf_counter()
        for index in range(count):
            loss = step(*pool[index % len(pool)])
        float(loss.detach())  # waits for the device
        return {"model only": count * BATCH / (time.perf_counter() - start)}

    return Variant("model only", "img/s", measure, f"{count} batches from a pool of {len(pool)}")


def evaluation(bench: Bench, trial) -> list[Variant]:
    """`Trial.evaluate` on the test set (as validation and test run it: inference mode, the
    trial's precision, EVAL_BATCH images a batch, one read of the sums per pass) against the
    model's forward pass alone on the same batches prepared once: the ceiling."""
    import torch

    from vgg_sweep.train import EVAL_BATCH, _autocast

    images, labels = trial.data["test_x"], trial.data["test_y"]
    batches = [trial._prepare(images[i:i + EVAL_BATCH], None)
               for i in range(0, len(images), EVAL_BATCH)]
    trial.evaluate(images, labels)  # kernel selection for this batch shape

    def ours() -> dict[str, float]:
        start = time.perf_counter()
        trial.evaluate(images, labels)
        return {"ours, evaluation": len(images) / (time.perf_counter() - start)}

    @torch.inference_mode()
    def forward_only() -> dict[str, float]:
        trial.model.eval()
        bench.sync()
        start = time.perf_counter()
        for x in batches:
            with _autocast(trial.device, trial.precision):
                logits = trial.forward(x)
        float(logits[0, 0])  # waits for the device
        return {"model forward only": len(images) / (time.perf_counter() - start)}

    work = f"{len(images)} test images, batches of {EVAL_BATCH}"
    return [Variant("ours, evaluation", "img/s", ours, work),
            Variant("model forward only", "img/s", forward_only, work)]


def throughput(bench: Bench, results: Results) -> None:
    log("== throughput: typical pipeline, ours, model only")
    size = our_size(bench)
    epochs = size[1]
    variants = []
    for autoaugment in (False, True):
        augment = "AutoAugment + crop + flip" if autoaugment else "crop + flip"
        variants.append(typical_pipeline(bench, autoaugment))
        ours, trial = our_trial(bench, size, autoaugment)
        variants.append(ours)
        variants.append(data_path_only(bench, trial, epochs, f"our data path only ({augment})"))
        if not autoaugment:
            variants.append(model_only(bench, trial, epochs))
            variants.append(our_trial(bench, size, autoaugment, telemetry=False)[0])
            variants += evaluation(bench, trial)
    interleaved(variants, bench.reps, results)


# --- 4. per-trial fixed overhead -----------------------------------------------------------

TINY_TRIAL = {"dataset": "synthetic", "epochs": 1, "train_subset": 64, "plots": False}


def cli_command() -> list[str]:
    script = Path(sys.executable).with_name("vgg-sweep")
    return [str(script)] if script.exists() else [sys.executable, "-m", "vgg_sweep"]


def overhead(bench: Bench, results: Results) -> None:
    """Fixed cost of one tiny trial (everything but its training epoch): a fresh process per
    trial (what a W&B agent does) against run_trial in a process that has run one before."""
    from vgg_sweep.config import make_config
    from vgg_sweep.train import run_trial

    log("== per-trial fixed overhead")
    runs = bench.tmp / "overhead"
    env = {**os.environ, "WANDB_MODE": "disabled", "WANDB_SILENT": "true"}
    device = ["--device=cpu"] if bench.device.type == "cpu" else []
    counter = iter(range(10**6))

    def subprocess_trial() -> dict[str, float]:
        run_id = f"sub{next(counter)}"
        command = cli_command() + ["train", "--dataset=synthetic", "--epochs=1",
                                   "--train_subset=64", "--wandb_mode=disabled", "--plots=false",
                                   f"--runs_dir={runs}", f"--run_id={run_id}", *device]
        start = time.perf_counter()
        subprocess.run(command, check=True, capture_output=True, env=env, cwd=bench.tmp)
        wall = time.perf_counter() - start
        record = json.loads((runs / "adhoc" / run_id / "record.json").read_text())
        return {"trial overhead, subprocess": wall - record["summary"]["epoch_time_sec"]}

    config = make_config({**TINY_TRIAL, "device": bench.device.type})

    def in_process_trial() -> dict[str, float]:
        run_id = f"in{next(counter)}"
        start = time.perf_counter()
        result = run_trial(config, runs / "inproc" / run_id, run_id=run_id,
                           wandb_mode="disabled")
        wall = time.perf_counter() - start
        if result.state != "finished":
            raise RuntimeError(f"in-process tiny trial ended {result.state}: {result.reason}")
        return {"trial overhead, in-process": wall - result.summary["epoch_time_sec"]}

    def python_import(modules: str, name: str) -> Measurement:
        def measure() -> dict[str, float]:
            start = time.perf_counter()
            subprocess.run([sys.executable, "-c", f"import {modules}"], check=True, env=env)
            return {name: time.perf_counter() - start}
        return measure

    in_process_trial()  # the first trial of a process pays lazy imports (tqdm, ptflops)
    work = "1 trial: synthetic, 64 images, 1 epoch"
    torch_only, with_vision = "python -c 'import torch'", "python -c 'import torchvision'"
    interleaved([
        Variant("trial overhead, subprocess", "s", subprocess_trial, work),
        Variant("trial overhead, in-process", "s", in_process_trial, work),
        Variant(torch_only, "s", python_import("torch", torch_only), "1 process"),
        Variant(with_vision, "s", python_import("torch, torchvision", with_vision), "1 process"),
    ], bench.reps, results)


# --- 5. report build time ------------------------------------------------------------------

SPACE = {"activation": ["ReLU", "GELU", "SiLU", "Tanh"], "optimizer": ["SGD", "Adam", "Nadam"],
         "lr": [0.01, 0.001, 0.0001], "batch_size": [64, 128, 256], "batch_norm": [True, False]}


def write_synthetic_runs(root: Path, count: int, epochs: int = 5) -> Path:
    """`count` run records (record.json, the shape run_trial writes) of a 5-parameter sweep;
    val_acc depends on the config plus noise, ~5 % crashed. Plain writes: no fsync."""
    import random

    rng = random.Random(count)
    for index in range(count):
        config = {key: rng.choice(values) for key, values in SPACE.items()}
        config.update(dataset="cifar10", model="vgg6", epochs=epochs, seed=index)
        final = (60 + 10 * (config["optimizer"] != "SGD") + 5 * (config["activation"] == "GELU")
                 - 8 * (config["lr"] == 0.0001) + rng.gauss(0, 2))
        history = [{"epoch": e, "train_loss": 2.0 / e, "train_acc": final * e / epochs + 3,
                    "val_loss": 2.2 / e, "val_acc": final * e / epochs, "lr": config["lr"],
                    "epoch_time_sec": 10.0, "images_per_sec": 5000.0}
                   for e in range(1, epochs + 1)]
        summary = {**history[-1], "best_val_acc": max(row["val_acc"] for row in history),
                   "test_acc": final - 1, "params": 262_000}
        record = {"id": f"r{index:05d}", "name": f"run-{index}", "sweep": "bench",
                  "state": "crashed" if rng.random() < 0.05 else "finished",
                  "created": f"2025-10-01T00:00:{index % 60:02d}Z", "runtime": 50.0,
                  "config": config, "summary": summary, "history": history}
        run_dir = root / record["id"]
        run_dir.mkdir(parents=True)
        (run_dir / "record.json").write_text(json.dumps(record))
    return root


def report(bench: Bench, results: Results, sizes: tuple[int, ...]) -> None:
    """`vgg-sweep report RUNS_DIR` without the process start: load_source + build_report."""
    log("== report build time")
    try:
        from analysis.report import ReportOptions, build_report
        from analysis.sources import load_source
    except ImportError as error:
        results.notes.append(f"Report rows left out: the analysis package cannot be imported "
                             f"({error}).")
        return
    variants = []
    for count in sizes:
        runs = write_synthetic_runs(bench.tmp / f"report_runs_{count}", count)
        name = f"report, {count} runs"

        def measure(runs=runs, name=name) -> dict[str, float]:
            out = bench.tmp / "report_out"
            shutil.rmtree(out, ignore_errors=True)
            start = time.perf_counter()
            table = load_source(str(runs))
            loaded = time.perf_counter()
            build_report(table, out, ReportOptions())
            done = time.perf_counter()
            return {name: done - start, f"{name}: load records": loaded - start}

        variants.append(Variant(name, "s", measure, f"{count} record.json files"))
    try:
        interleaved(variants, bench.reps, results)
    except Exception as error:  # noqa: BLE001 - another package's failure is a note here
        results.notes.append(f"Report rows left out: building the report failed "
                             f"({type(error).__name__}: {error}).")
        for variant in variants:
            results.rows.pop(variant.name, None)
            results.rows.pop(f"{variant.name}: load records", None)


# --- 6. preflight --------------------------------------------------------------------------

def _peak(command: list[str], env: dict) -> tuple[float, float, str]:
    """(seconds, peak RSS in MiB, stdout) of a command run to its end."""
    start = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                               env=env, cwd=ROOT, text=True)
    out = process.stdout.read()
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode:
        raise RuntimeError(f"{command} exited {process.returncode}")
    return time.perf_counter() - start, usage.ru_maxrss / 1024, out  # Linux: KiB


def preflight(bench: Bench, results: Results) -> None:
    """What preflight costs: the whole check of sweeps/vgg6.yaml as a user runs it, and one
    probe of its base point (batch 64), built only and trained STEPS steps."""
    from vgg_sweep.config import make_config
    from vgg_sweep.data import load_dataset
    from vgg_sweep.preflight import probe

    log("== preflight")
    env = {**os.environ, "WANDB_MODE": "disabled"}
    whole = "preflight sweeps/vgg6.yaml"
    memory = {"preflight, peak RSS": [], "import vgg_sweep.train, peak RSS": []}

    def check() -> dict[str, float]:
        seconds, mib, out = _peak(cli_command() + ["preflight", "sweeps/vgg6.yaml",
                                                   "--override", f"data_dir={bench.data_dir}"],
                                  env)
        memory["preflight, peak RSS"].append(mib)
        probes, trained = (int(n) for n in re.search(r"(\d+) probes \((\d+) trained", out)
                           .groups())
        results.notes.append(f"{whole}: {probes} probes, {trained} of them trained")
        return {whole: seconds}

    def imports_only() -> dict[str, float]:
        seconds, mib, _ = _peak([sys.executable, "-c", "import vgg_sweep.train"], env)
        memory["import vgg_sweep.train, peak RSS"].append(mib)
        return {"python -c 'import vgg_sweep.train'": seconds}

    config = make_config(our_values(bench, optimizer="SGD", lr=0.01, batch_size=64,
                                    epochs=20, use_cutout=True, autoaugment=True))
    data = load_dataset(config.dataset, config.data_dir)

    def one_probe(train: bool, name: str) -> Measurement:
        def measure() -> dict[str, float]:
            start = time.perf_counter()
            probe(config, data, train)
            return {name: time.perf_counter() - start}
        return measure

    one_probe(True, "")()  # kernel selection for this shape
    work = "vgg6.yaml's base point: VGG6, batch 64"
    interleaved([
        Variant(whole, "s", check, "21 values of 9 parameters, fresh process"),
        Variant("python -c 'import vgg_sweep.train'", "s", imports_only, "1 process"),
        Variant("one probe, built", "s", one_probe(False, "one probe, built"), work),
        Variant("one probe, trained", "s", one_probe(True, "one probe, trained"), work),
    ], bench.reps, results)
    for name, values in memory.items():
        for value in values:
            results.add(name, "MiB", value, "peak resident memory of the process")
    results.notes[:] = list(dict.fromkeys(results.notes))


# --- 7. sweep throughput -------------------------------------------------------------------

FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")  # Debian's dataset-fashion-mnist
TRAIN_EVAL = ("train", "validation", "test")  # the phases a sweep is for
GRID_WORKERS = 2


def sweep_yaml(name: str, parameters: dict) -> str:
    """A sweep file of fixed values and swept lists (JSON is YAML), metric val_acc."""
    lines = [f"name: {name}", "method: grid", "metric: {name: val_acc, goal: maximize}",
             "parameters:"]
    for key, value in parameters.items():
        kind = "values" if isinstance(value, list) else "value"
        lines.append(f"  {key}: {{{kind}: {json.dumps(value)}}}")
    return "\n".join(lines) + "\n"


def user_env(bench: Bench) -> dict:
    """The environment a user's second sweep meets: WANDB_MODE as it is (unset: offline
    without an account), the data cache warm, W&B's own files kept inside the bench's tmp."""
    scratch = bench.tmp / "wandb"
    return {**os.environ, "VGG_SWEEP_CACHE": str(bench.tmp / "cache"), "WANDB_SILENT": "true",
            **{f"WANDB_{kind}_DIR": str(scratch / kind.lower())
               for kind in ("CACHE", "CONFIG", "DATA", "ARTIFACT")}, "WANDB_DIR": str(scratch)}


@dataclass
class Trials:
    """The trials of one measurement: their records, wall times and, of each, the seconds
    from its record's last write (the summary) to its end."""

    records: list[dict]
    walls: list[float]
    tails: list[float]


def trial_rows(prefix: str, trials: Trials, train_eval: bool = True) -> dict[str, float]:
    """Per-trial means of the time outside train + evaluation, of the time outside every
    phase the record names (process start and exit, W&B's finish, the worker), of the part
    of it after the record's last write, and of each phase (train, validation and test only
    if `train_eval`)."""
    walls = trials.walls
    phases = [record["summary"]["seconds"] for record in trials.records]

    def outside(names) -> float:
        return statistics.mean(wall - sum(seconds.get(name, 0.0) for name in names(seconds))
                               for wall, seconds in zip(walls, phases, strict=True))

    rows = {f"{prefix}: mean trial outside train + evaluation": outside(lambda _: TRAIN_EVAL),
            f"{prefix}: mean trial outside the record's phases": outside(lambda s: s),
            f"{prefix}: mean trial after the record's last write": statistics.mean(trials.tails)}
    for name in dict.fromkeys(name for seconds in phases for name in seconds):
        if train_eval or name not in TRAIN_EVAL:
            rows[f"{prefix}: mean {name}"] = statistics.mean(s.get(name, 0.0) for s in phases)
    return rows


def run_sweep(bench: Bench, sweep_file: Path, workers: int, flags: list[str], env: dict,
              ) -> tuple[float, float, Trials]:
    """`vgg-sweep sweep` into a fresh runs dir: (wall, start to first trial, its trials),
    each trial's wall time as the engine saw it: Optuna's start to complete."""
    import optuna

    from vgg_sweep.engine.storage import default_journal, open_storage

    runs = Path(tempfile.mkdtemp(prefix="runs-", dir=bench.tmp))
    command = cli_command() + ["sweep", str(sweep_file), "--workers", str(workers),
                               "--runs-dir", str(runs), *flags]
    started = datetime.now()  # Optuna's datetimes are local and naive
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env=env, cwd=bench.tmp)
    wall = time.perf_counter() - start
    if done.returncode:
        raise RuntimeError(f"{' '.join(command)} exited {done.returncode}: "
                           f"{(done.stdout + done.stderr)[-2000:]}")
    name = sweep_file.stem
    trials = optuna.load_study(study_name=name, storage=open_storage(
        default_journal(runs, name))).trials
    paths = [Path(trial.user_attrs["record"]) for trial in trials]
    measured = Trials([json.loads(path.read_text()) for path in paths],
                      [(trial.datetime_complete - trial.datetime_start).total_seconds()
                       for trial in trials],
                      [(trial.datetime_complete - datetime.fromtimestamp(path.stat().st_mtime)
                        ).total_seconds() for trial, path in zip(trials, paths, strict=True)])
    first = (min(trial.datetime_start for trial in trials) - started).total_seconds()
    shutil.rmtree(runs)
    return wall, first, measured


def fit_predict(prefix: str, record: dict) -> dict[str, float]:
    """An SVM's fit (`train`) and predictions (`validation` + `test`; with val_split 0 the
    test set is the validation set, predicted once)."""
    seconds = record["summary"]["seconds"]
    predict = seconds.get("validation", 0.0) + seconds.get("test", 0.0)
    return {f"{prefix}: fit + predict": seconds["train"] + predict,
            f"{prefix}: fit": seconds["train"], f"{prefix}: predict": predict}


def sweep(bench: Bench, results: Results) -> None:
    """What a sweep of short trials spends outside training and evaluation (issue 19): the
    4-point grid and the SVM trial on real Fashion-MNIST, warm workers and --cold-start."""
    log("== sweep: 4-point grid and the SVM trial on Fashion-MNIST")
    if not (FASHION_MNIST / "train-images-idx3-ubyte.gz").exists():
        results.notes.append(f"Sweep rows left out: no Fashion-MNIST at {FASHION_MNIST} "
                             "(apt install dataset-fashion-mnist).")
        return
    env = user_env(bench)
    help_text = subprocess.run(cli_command() + ["sweep", "--help"], capture_output=True,
                               text=True, check=True, env=env).stdout
    modes = {"": []}
    if "--cold-start" in help_text:
        modes[", --cold-start"] = ["--cold-start"]
    else:
        results.notes.append("Sweep rows: this `vgg-sweep sweep` has no --cold-start; only its "
                             "default was measured.")
    subset, svm_subset = (1000, 1000) if bench.quick else (4000, 5000)
    data = {"dataset": "fashion_mnist", "data_dir": str(FASHION_MNIST)}
    grid_file, svm_file = bench.tmp / "bench_grid.yaml", bench.tmp / "bench_svm.yaml"
    grid_file.write_text(sweep_yaml("bench_grid", {
        **data, "model": "vgg6", "activation": ["ReLU", "GELU"],
        "optimizer": ["Adam", "Nesterov"], "batch_size": 64, "epochs": 1,
        "train_subset": subset}))
    svm = {**data, "model": "svm", "kernel": "rbf", "C": 1, "train_subset": svm_subset,
           "val_split": 0}
    svm_file.write_text(sweep_yaml("bench_svm", svm))
    subprocess.run([sys.executable, "-c", "from vgg_sweep.data import load_dataset; "
                    f"load_dataset('fashion_mnist', {str(FASHION_MNIST)!r})"],
                   check=True, env=env)  # decodes the data set into the cache once

    def grid(label: str, flags: list[str]) -> Measurement:
        name = f"grid sweep{label}"

        def measure() -> dict[str, float]:
            wall, first, trials = run_sweep(bench, grid_file, GRID_WORKERS, flags, env)
            busy = sum(record["summary"]["seconds"].get(phase, 0.0)
                       for record in trials.records for phase in TRAIN_EVAL)
            return {name: wall, f"{name}: train + evaluation / workers": busy / GRID_WORKERS,
                    f"{name}: start to first trial": first,
                    f"{name}: mean trial wall": statistics.mean(trials.walls),
                    **trial_rows(name, trials)}
        return measure

    def svm_sweep(label: str, flags: list[str]) -> Measurement:
        name = f"SVM trial in a 1-point sweep{label}"

        def measure() -> dict[str, float]:
            wall, _, trials = run_sweep(bench, svm_file, 1, flags, env)
            return {name: trials.walls[0], **fit_predict(name, trials.records[0]),
                    f"{name}: sweep wall": wall, **trial_rows(name, trials, train_eval=False)}
        return measure

    counter = iter(range(10**6))
    standalone = "SVM trial, vgg-sweep train"

    def svm_train() -> dict[str, float]:
        runs, run_id = bench.tmp / "svm_runs", f"svm{next(counter)}"
        command = cli_command() + ["train", *(f"--{key}={value}" for key, value in svm.items()),
                                   f"--runs_dir={runs}", f"--run_id={run_id}"]
        start = time.perf_counter()
        subprocess.run(command, check=True, capture_output=True, env=env, cwd=bench.tmp)
        wall, end = time.perf_counter() - start, time.time()
        path = runs / "adhoc" / run_id / "record.json"
        trials = Trials([json.loads(path.read_text())], [wall], [end - path.stat().st_mtime])
        shutil.rmtree(runs)
        return {standalone: wall, **fit_predict(standalone, trials.records[0]),
                **trial_rows(standalone, trials, train_eval=False)}

    grid_work = (f"4 trials, {GRID_WORKERS} workers: VGG6, 1 epoch of {subset} images, "
                 "batch 64")
    svm_work = f"rbf, C=1, {svm_subset} images, val_split 0"
    variants = []
    for label, flags in modes.items():
        variants.append(Variant(f"grid sweep{label}", "s", grid(label, flags), grid_work))
    for label, flags in modes.items():
        variants.append(Variant(f"SVM trial in a 1-point sweep{label}", "s",
                                svm_sweep(label, flags), f"1 worker: {svm_work}"))
    variants.append(Variant(standalone, "s", svm_train, f"fresh process: {svm_work}"))
    interleaved(variants, 1 if bench.quick else bench.reps, results)


# --- ratios and targets --------------------------------------------------------------------

def judge(results: Results, quick: bool, report_sizes: tuple[int, ...]) -> None:
    def add(name, numerator, denominator, target=None, check=None):
        value = results.median(numerator) / results.median(denominator)
        if math.isnan(value):
            return
        met = None if check is None or quick else check(value)
        results.ratios.append(Ratio(name, value, target or "", met))

    for augment in ("crop + flip", "AutoAugment + crop + flip"):
        add(f"ours / typical ({augment})", f"ours, {augment}", f"typical, {augment}",
            ">= 3x", lambda v: v >= 3)
    add("ours / model only (crop + flip, same precision)", "ours, crop + flip", "model only",
        ">= 0.90", lambda v: v >= 0.9)
    add("ours telemetry on / off", "ours, crop + flip", "ours, crop + flip, telemetry off")
    add("ours, evaluation / model forward only", "ours, evaluation", "model forward only",
        ">= 0.90", lambda v: v >= 0.9)
    add("trial overhead: subprocess / in-process", "trial overhead, subprocess",
        "trial overhead, in-process")
    inproc = results.median("trial overhead, in-process")
    if not math.isnan(inproc):
        results.ratios.append(Ratio("trial overhead, in-process (s)", inproc, "<= 1 s",
                                    None if quick else inproc <= 1.0))
    if len(report_sizes) == 2:
        small, large = (f"report, {count} runs" for count in report_sizes)
        add(f"report {report_sizes[1]} / {report_sizes[0]} runs", large, small)
        seconds = results.median(large)
        if not math.isnan(seconds):
            results.ratios.append(Ratio(f"report on {report_sizes[1]} runs (s)", seconds,
                                        "<= 10 s", None if quick or report_sizes[1] < 10_000
                                        else seconds <= 10.0))
    seconds = results.median("preflight sweeps/vgg6.yaml")
    if not math.isnan(seconds):
        results.ratios.append(Ratio("preflight sweeps/vgg6.yaml (s)", seconds, "<= 60 s",
                                    None if quick else seconds <= 60.0))
    for label in ("", ", --cold-start"):  # issue 19's targets hold for the default
        judged = not label
        grid, svm = f"grid sweep{label}", f"SVM trial in a 1-point sweep{label}"
        add(f"{grid}: wall / (train + evaluation / workers)", grid,
            f"{grid}: train + evaluation / workers", "<= 1.15" if judged else None,
            (lambda v: v <= 1.15) if judged else None)
        outside = results.median(f"{grid}: mean trial outside train + evaluation")
        if not math.isnan(outside):
            results.ratios.append(Ratio(f"{grid}: mean trial outside train + evaluation (s)",
                                        outside, "<= 1 s" if judged else "",
                                        None if quick or not judged else outside <= 1.0))
        add(f"{svm}: trial wall / (fit + predict)", svm, f"{svm}: fit + predict",
            "<= 1.3" if judged else None, (lambda v: v <= 1.3) if judged else None)
    add("grid sweep wall: default / --cold-start", "grid sweep", "grid sweep, --cold-start")
    add("SVM trial, vgg-sweep train: wall / (fit + predict)", "SVM trial, vgg-sweep train",
        "SVM trial, vgg-sweep train: fit + predict")


# --- Markdown ------------------------------------------------------------------------------

def machine(bench: Bench) -> dict[str, str]:
    import torch
    import torchvision

    from vgg_sweep.train import cpu_has_bf16

    cpu = platform.processor() or "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    info = {"date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
            "CPU": f"{cpu} ({os.cpu_count()} logical cores, bf16 "
                   f"{'yes' if cpu_has_bf16() else 'no'})",
            "torch threads": str(torch.get_num_threads()),
            "torch / torchvision": f"{torch.__version__} / {torchvision.__version__}",
            "python": platform.python_version(),
            "device": str(bench.device)}
    if bench.device.type == "cuda":
        info["GPU"] = torch.cuda.get_device_name(bench.device)
    if hasattr(os, "getloadavg"):
        info["load average at start (1 min)"] = f"{os.getloadavg()[0]:.2f}"
    return info


def markdown(bench: Bench, info: dict[str, str], results: Results, argv: list[str]) -> str:
    command = "python benchmarks/bench.py " + " ".join(argv)
    lines = ["# Benchmarks", "",
             f"Generated by `{command.strip()}` (do not edit: run it again). Medians of "
             f"{bench.reps} interleaved repetitions on synthetic CIFAR-10 files "
             f"({bench.images} training images, the real pickle format), VGG6 "
             "(64-64-M-128-128-M, BN, ReLU), Adam, batch 128; the sweep rows on real "
             "Fashion-MNIST."
             + (" **Quick run: sizes too small to judge the targets.**" if bench.quick else ""),
             "", "| machine | |", "|---|---|"]
    lines += [f"| {key} | {value} |" for key, value in info.items()]
    lines += ["", "## Measurements", "",
              "| measurement | median | unit | repetitions | one measurement |",
              "|---|---:|---|---|---|"]
    for row in results.rows.values():
        reps = ", ".join(_number(value) for value in row.values)
        lines.append(f"| {row.name} | {_number(row.median)} | {row.unit} | {reps} | "
                     f"{row.work} |")
    lines += ["", "## Ratios and targets (issues 7 and 19)", "",
              "| ratio | value | target | |", "|---|---:|---|---|"]
    for ratio in results.ratios:
        verdict = {True: "met", False: "**missed**", None: ""}[ratio.met]
        lines.append(f"| {ratio.name} | {_number(ratio.value)} | {ratio.target} | {verdict} |")
    lines += ["", "## What the rows measure", "",
              "- **typical**: `torchvision.datasets.CIFAR10` + PIL `RandomCrop(32, padding=4)`, "
              "`RandomHorizontalFlip` (+ `AutoAugment(CIFAR10)`), `ToTensor`, `Normalize`; "
              "`DataLoader(num_workers=2, batch_size=128, shuffle=True)`; fp32, "
              "contiguous memory format. One measurement is the first batches of an epoch, "
              "the clock started before the DataLoader iterator: worker start-up and the empty "
              "prefetch queue are included, as every epoch of the usual loop pays them.",
              "- **ours**: `Trial.train_epoch()` and `Telemetry.end_epoch()` of the default "
              "config (`precision=auto`, channels_last, gradient flow every 50 batches, weight "
              "flow), the data set as uint8 on the device, augmented per batch. *Telemetry "
              "off*: `grad_flow_every=0, weight_flow=False`.",
              "- **our data path only**: the gather and `Trial._prepare` (augment, normalise, "
              "channels_last) of every batch of the same epochs, without the model.",
              "- **model only**: the same model, optimiser, precision and channels_last on "
              "batches prepared once: the ceiling for a data path.",
              "- **ours, evaluation**: `Trial.evaluate` of the test set, as validation and test "
              "run it (inference mode, the trial's precision, 1,024-image batches, the sums read "
              "once per pass); *model forward only*: the model's forward pass alone on the "
              "same batches prepared once: the ceiling for evaluation.",
              "- **trial overhead**: wall time of a whole tiny trial (synthetic data, 64 images, "
              "1 epoch, W&B disabled, no plots) minus its `epoch_time_sec`: process start, "
              "imports, data, model, evaluation, checkpoint and record. *subprocess*: "
              "`vgg-sweep train ...` as a W&B agent starts it; *in-process*: `run_trial` in a "
              "process that has run one trial before.",
              "- **report**: `load_source(runs_dir)` + `build_report` (what `vgg-sweep report` "
              "does after its imports) on synthetic record.json files of a 5-parameter sweep.",
              "- **preflight**: `vgg-sweep preflight sweeps/vgg6.yaml` on the bench's CIFAR-10 "
              "files in a fresh process, and its peak resident memory against a process that "
              "only imports the trainer; *one probe*: `vgg_sweep.preflight.probe` of the "
              "sweep's base point, the Trial built only, or trained its 2 steps.",
              "- **grid sweep**: `vgg-sweep sweep` of a 4-point grid (activation ReLU/GELU x "
              "optimizer Adam/Nesterov; VGG6, 1 epoch of 4,000 real Fashion-MNIST images, batch "
              "64, metric val_acc) with 2 workers, a fresh runs dir each time, the data cache "
              "warmed once (a user's second sweep), W&B as the environment has it (unset: "
              "offline). *wall*: the command's, preflight included; *train + evaluation / "
              "workers*: the records' `seconds` train + validation + test, summed over the "
              "trials, over 2; *trial wall*: Optuna's start to complete of each trial (what the "
              "worker spends on it); *outside train + evaluation*: trial wall minus those "
              "phases; *outside the record's phases*: trial wall minus all its `seconds` "
              "(process start and exit, W&B's finish, the worker), *after the record's last "
              "write* the part of it from the record file's last change to the trial's end; "
              "*start to first trial*: "
              "imports, preflight, the study; *mean PHASE*: the records' `seconds` "
              "(vgg_sweep/phases.py). "
              "*--cold-start*: every trial in a fresh interpreter.",
              "- **SVM trial**: `--model=svm --kernel=rbf --C=1`, 5,000 Fashion-MNIST images, "
              "`--val_split=0` (the test set is the validation set, predicted once); *fit* is "
              "the record's `train`, *predict* its `validation` + `test`. *In a 1-point sweep*: "
              "the trial's wall time from Optuna in `vgg-sweep sweep` with 1 worker (what a "
              "sweep user meets; the target is judged here); *vgg-sweep train*: the command's "
              "wall time in a fresh process, interpreter start and imports included.",
              ]
    if results.notes:
        lines += ["", "## Notes", ""] + [f"- {note}" for note in results.notes]
    return "\n".join(lines) + "\n"


def _number(value: float) -> str:
    if math.isnan(value):
        return ""
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:.3g}" if abs(value) >= 1 else f"{value:.3f}"


# --- main ----------------------------------------------------------------------------------

def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true",
                        help="small sizes for a smoke run (2,000 images, ~2 s measurements, "
                             "reports on 100 and 1,000 runs, one repetition of sweeps of "
                             "1,000 images); targets are not judged")
    parser.add_argument("--reps", type=int, default=None,
                        help="interleaved repetitions per section (default 5; quick 2)")
    parser.add_argument("--images", type=int, default=None,
                        help="synthetic training images (default 10000; quick 2000)")
    parser.add_argument("--seconds", type=float, default=None,
                        help="target duration of one throughput measurement (default 10; "
                             "quick 2)")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto",
                        help="auto: cuda when available")
    parser.add_argument("--sections", default=",".join(SECTIONS),
                        help=f"comma-separated subset of {','.join(SECTIONS)}")
    parser.add_argument("--out", type=Path, default=ROOT / "BENCHMARKS.md",
                        help="Markdown file to write (default: BENCHMARKS.md)")
    args = parser.parse_args(argv)
    args.reps = args.reps or (2 if args.quick else 5)
    args.images = args.images or (2000 if args.quick else 10_000)
    args.seconds = args.seconds or (2.0 if args.quick else 10.0)
    args.sections = [name.strip() for name in args.sections.split(",") if name.strip()]
    unknown = set(args.sections) - set(SECTIONS)
    if unknown:
        parser.error(f"--sections: unknown {', '.join(sorted(unknown))}; choose from "
                     f"{', '.join(SECTIONS)}")
    if args.images < 4 * BATCH:
        parser.error(f"--images: at least {4 * BATCH}")
    return args


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    import torch

    from vgg_sweep.fake_data import write_cifar10

    if args.device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--device cuda: no CUDA GPU on this machine")
    device = torch.device("cuda" if args.device == "auto" and torch.cuda.is_available()
                          else args.device if args.device != "auto" else "cpu")
    tmp = Path(tempfile.mkdtemp(prefix="vgg-sweep-bench-"))
    try:
        data_dir = tmp / "data"
        write_cifar10(data_dir, per_batch=args.images // 5, test=1000, seed=0)
        bench = Bench(tmp, data_dir, device, args.images // 5 * 5, args.seconds, args.reps,
                      args.quick, min_batches=4 if args.quick else 20)
        info = machine(bench)
        results = Results()
        report_sizes = (100, 1000) if args.quick else (1000, 10_000)
        if "throughput" in args.sections:
            throughput(bench, results)
        if "overhead" in args.sections:
            overhead(bench, results)
        if "report" in args.sections:
            report(bench, results, report_sizes)
        if "preflight" in args.sections:
            preflight(bench, results)
        if "sweep" in args.sections:
            sweep(bench, results)
        judge(results, args.quick, report_sizes)
        text = markdown(bench, info, results, argv)
        args.out.write_text(text)
        print(text)
        log(f"wrote {args.out}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
