"""One trial: `run_trial(config, run_dir, ...) -> Outcome`.

The data set sits on the training device as uint8; each step gathers a batch, augments it
there, normalises it and runs the model under autocast (bf16 where the hardware has it) in
channels_last. Every epoch ends with a checkpoint (atomic) and the run record rewritten, so a
killed trial loses at most the epoch in progress and `resume=True` continues from the last
checkpoint with the same data order and augmentations. Every eval_every-th epoch and the
last first validate (on the first val_subset images of the validation split: all by
default) at the model's forward speed: large batches, inference mode, the trial's autocast.

Divergence (NaN or inf loss) ends the trial as `failed` with the reason; so does a request
that cannot be met on this machine (device=cuda without CUDA). SIGINT/SIGTERM end it as
`killed` at the end of the batch; `on_epoch` returning True ends it as `pruned` after that
epoch, tested (`vgg_sweep.outcome`). Nothing here knows of sweeps.
"""

from __future__ import annotations

import io
import math
import os
import shutil
import time
from collections.abc import Callable
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any

import torch
from torch import nn

from vgg_sweep.augment import BatchAutoAugment, cutout, random_crop_flip
from vgg_sweep.complexity import count_macs
from vgg_sweep.config import TrialConfig, config_dict, resume_conflicts
from vgg_sweep.data import Splits, load_dataset, split
from vgg_sweep.errors import UserError, warn
from vgg_sweep.fingerprint import Fingerprint
from vgg_sweep.models import build_model
from vgg_sweep.optim import build_optimizer, build_scheduler
from vgg_sweep.outcome import OnEpoch, Outcome, State, StopFlag
from vgg_sweep.phases import Phases
from vgg_sweep.progress import epoch_line
from vgg_sweep.record import atomic_write_bytes, remove_partial_writes
from vgg_sweep.registry import MODELS, SCHEDULERS
from vgg_sweep.svm import run_svm_trial
from vgg_sweep.telemetry import Telemetry
from vgg_sweep.tracking import Tracker

CHECKPOINT_FILE = "checkpoint.pt"
EVAL_BATCH = 1024
NAN_CHECK_EVERY = 25  # batches between divergence checks (each one syncs the device)
PROGRESS_EVERY = 10  # batches between live loss/accuracy updates of the progress bar
EXPLODED = 1000.0  # a mean loss this many times chance level (ln classes) has diverged


class TrialFailed(Exception):
    """The trial cannot go on (diverged, impossible device); the message is the reason."""


class CheckpointMismatch(Exception):
    """A checkpoint of another training configuration; the message says what differs."""


# --- hardware ----------------------------------------------------------------------------------

def resolve_device(config: TrialConfig) -> torch.device:
    if config.device == "cuda" and not torch.cuda.is_available():
        raise TrialFailed("device=cuda requested but no CUDA GPU is available on this machine")
    if config.device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(config.device)


@contextmanager
def torch_threads(wanted: int):
    """torch's CPU threads during a trial: `wanted` (0 = torch's default), at most the CPUs
    this process may use (more only oversubscribes them: 1024 threads on 2 cores crawl), with
    a warning when capped; the previous count is restored afterwards (in-process trials)."""
    before = torch.get_num_threads()
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    if wanted > usable:
        warn(f"threads={wanted} but this process may use {usable} CPUs; using {usable}")
    if wanted:
        torch.set_num_threads(min(wanted, usable))
    try:
        yield
    finally:
        torch.set_num_threads(before)


def cpu_has_bf16() -> bool:
    """AVX512-BF16 or AMX: bf16 matmuls run natively (3-5x fp32 on such CPUs)."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def resolve_precision(config: TrialConfig, device: torch.device) -> str:
    if config.precision != "auto":
        return config.precision
    if device.type == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    return "bf16" if cpu_has_bf16() else "fp32"


def _autocast(device: torch.device, precision: str):
    if precision == "fp32":
        return nullcontext()
    dtype = torch.bfloat16 if precision == "bf16" else torch.float16
    return torch.autocast(device.type, dtype=dtype)


# --- the trial ---------------------------------------------------------------------------------

class Trial:
    """The state of one training run: model, optimiser, data on the device, history."""

    def __init__(self, config: TrialConfig, splits: Splits, num_classes: int, mean, std,
                 device: torch.device):
        self.config, self.device, self.num_classes = config, device, num_classes
        self.precision = resolve_precision(config, device)
        torch.manual_seed(config.seed)
        in_shape = tuple(splits.train_x.shape[1:])
        self.model = build_model(config.model, in_shape, num_classes,
                                 activation=config.activation, batch_norm=config.batch_norm,
                                 dropout=config.dropout).to(device)
        self.model = self.model.to(memory_format=torch.channels_last)
        self.forward = torch.compile(self.model) if config.compile else self.model
        self.optimizer = build_optimizer(config, self.model.parameters())
        self.steps_per_epoch = math.ceil(len(splits.train_x) / config.batch_size)
        self.scheduler = build_scheduler(config, self.optimizer, self.steps_per_epoch)
        self.loss_fn = nn.CrossEntropyLoss(label_smoothing=config.label_smoothing)
        self.scaler = torch.amp.GradScaler(device.type, enabled=self.precision == "fp16")
        pin = device.type == "cuda"
        self.data = {name: getattr(splits, name).to(device, non_blocking=pin) for name in
                     ("train_x", "train_y", "val_x", "val_y", "test_x", "test_y")}
        self.mean = torch.tensor(mean, device=device).view(1, -1, 1, 1) * 255
        self.std = torch.tensor(std, device=device).view(1, -1, 1, 1) * 255
        self.autoaugment = BatchAutoAugment() if config.autoaugment else None
        self.telemetry = Telemetry(self.model, config)
        self.epoch = 0
        self.best_val_acc, self.best_epoch = -1.0, 0
        self.val_is_test = splits.val_is_test  # a validation pass is a test pass
        self.last_validation = None  # (loss, accuracy, predictions) with the current weights
        self.fingerprint = Fingerprint(self)  # completed by the first steps of epoch 1

    def _prepare(self, images: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        """uint8 batch -> augmented (training only), normalised float, channels_last."""
        if generator is not None:
            if self.autoaugment is not None:
                images = self.autoaugment(images, generator)
            if self.config.crop_flip:
                images = random_crop_flip(images, generator)
        x = (images.float() - self.mean) / self.std
        if generator is not None and self.config.use_cutout:
            x = cutout(x, self.config.cutout_size, generator)
        return x.contiguous(memory_format=torch.channels_last)

    def train_epoch(self, progress=None, should_stop: Callable[[], bool] = lambda: False,
                    ) -> dict[str, float]:
        """One pass over the training set; the epoch's order and augmentations follow from
        (seed, epoch) alone, so a resumed run repeats them exactly."""
        config, data = self.config, self.data
        self.last_validation = None  # the weights change
        generator = torch.Generator().manual_seed(config.seed * 1_000_003 + self.epoch)
        order = torch.randperm(len(data["train_x"]), generator=generator).to(self.device)
        self.model.train()
        loss_sum = torch.zeros((), device=self.device)
        correct = torch.zeros((), device=self.device, dtype=torch.long)
        seen, start = 0, time.perf_counter()
        self.telemetry.start_epoch()
        for index, begin in enumerate(range(0, len(order), config.batch_size)):
            batch = order[begin:begin + config.batch_size]
            x = self._prepare(data["train_x"][batch], generator)
            y = data["train_y"][batch]
            with _autocast(self.device, self.precision):
                logits = self.forward(x)
                loss = self.loss_fn(logits, y)
            self.optimizer.zero_grad(set_to_none=True)
            self.scaler.scale(loss).backward()
            self.scaler.step(self.optimizer)
            self.scaler.update()
            if self.epoch == 0 and not self.fingerprint.complete:
                self.fingerprint.after_step(index, x, loss, self.model)
            self.telemetry.after_step(self.epoch + 1, index)
            if self.scheduler is not None and SCHEDULERS[config.scheduler].steps_per_batch:
                self.scheduler.step()
            loss_sum += loss.detach() * len(batch)
            correct += (logits.argmax(1) == y).sum()
            seen += len(batch)
            if index % NAN_CHECK_EVERY == 0:
                self._check_divergence(float(loss_sum) / seen)
            if progress is not None and not progress.disable:
                progress.update(len(batch))
                if index % PROGRESS_EVERY == 0:  # a device sync: only for a visible bar
                    progress.set_postfix(loss=f"{float(loss_sum) / seen:.3f}",
                                         acc=f"{100.0 * float(correct) / seen:.1f}%")
            if should_stop():
                break
        train_loss = float(loss_sum) / max(seen, 1)
        self._check_divergence(train_loss)
        if self.scheduler is not None and not SCHEDULERS[config.scheduler].steps_per_batch:
            self.scheduler.step()
        elapsed = time.perf_counter() - start
        return {"train_loss": train_loss, "train_acc": 100.0 * float(correct) / max(seen, 1),
                "epoch_time_sec": elapsed, "images_per_sec": seen / max(elapsed, 1e-9),
                "complete": seen == len(order)}

    def _check_divergence(self, mean_loss: float) -> None:
        """NaN/inf, or a loss a thousand times chance level: the run has diverged."""
        chance = math.log(self.num_classes)
        if math.isfinite(mean_loss) and mean_loss < EXPLODED * chance:
            return
        what = "non-finite" if not math.isfinite(mean_loss) else f"{mean_loss:.3g}"
        raise TrialFailed(f"loss diverged ({what}) in epoch {self.epoch + 1}; "
                          f"lower lr={self.config.lr:g}")

    @torch.inference_mode()
    def evaluate(self, images: torch.Tensor, labels: torch.Tensor,
                 ) -> tuple[float, float, torch.Tensor]:
        """Mean loss, accuracy (percent) and the predicted labels.

        The sums stay on the device and are read once at the end (reading one per batch
        waits for the GPU every batch); the loss sums in float64, as Python's float did, so
        the numbers are the same to the last bit.
        """
        self.model.eval()
        loss_sum = torch.zeros((), dtype=torch.float64, device=self.device)
        predictions = []
        for begin in range(0, len(images), EVAL_BATCH):
            x = self._prepare(images[begin:begin + EVAL_BATCH], None)
            y = labels[begin:begin + EVAL_BATCH]
            with _autocast(self.device, self.precision):
                logits = self.forward(x)
            loss_sum += nn.functional.cross_entropy(logits.float(), y, reduction="sum").double()
            predictions.append(logits.argmax(1))
        predicted = torch.cat(predictions)
        accuracy = 100.0 * int((predicted == labels).sum()) / len(labels)
        return float(loss_sum) / len(labels), accuracy, predicted

    def test_pass(self) -> tuple[float, float, torch.Tensor]:
        """The test set's loss, accuracy and predictions with the current weights: the last
        validation pass when it was on the whole test set with these weights (val_split = 0
        without val_subset, validated after the last epoch trained: the same data and weights
        give the same numbers), else a pass of its own."""
        if self.val_is_test and self.last_validation is not None:
            return self.last_validation
        return self.evaluate(self.data["test_x"], self.data["test_y"])

    # --- checkpoints -----------------------------------------------------------------------------
    def state_dict(self, history: list[dict]) -> dict[str, Any]:
        return {"epoch": self.epoch, "config": config_dict(self.config),
                "model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
                "scaler": self.scaler.state_dict(), "best_val_acc": self.best_val_acc,
                "best_epoch": self.best_epoch, "history": history,
                "telemetry": self.telemetry.tables}

    def save(self, path: Path, history: list[dict]) -> None:
        buffer = io.BytesIO()
        torch.save(self.state_dict(history), buffer)
        atomic_write_bytes(path, buffer.getvalue())

    def load(self, path: Path) -> list[dict]:
        """Restore from a checkpoint; returns its history. weights_only: never unpickle code.

        Only a checkpoint of this training configuration continues (CheckpointMismatch
        otherwise); `epochs` may have grown: the schedule is then the one over the new count,
        advanced past the epochs done.
        """
        state = torch.load(path, map_location=self.device, weights_only=True)
        conflicts = resume_conflicts(state["config"], self.config)
        if conflicts:
            raise CheckpointMismatch(f"was trained with {', '.join(conflicts)}")
        if state["epoch"] > self.config.epochs:
            raise CheckpointMismatch(f"has {state['epoch']} epochs, more than "
                                     f"epochs={self.config.epochs}")
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler = build_scheduler(self.config, self.optimizer, self.steps_per_epoch,
                                         epochs_done=state["epoch"])
        if state["scaler"]:  # empty when saved without fp16 (precision may change)
            self.scaler.load_state_dict(state["scaler"])
        self.epoch = state["epoch"]
        self.best_val_acc, self.best_epoch = state["best_val_acc"], state["best_epoch"]
        self.telemetry.tables.update(state.get("telemetry", {}))
        return state["history"]


def count_parameters(model: nn.Module) -> dict[str, int]:
    return {"params": sum(p.numel() for p in model.parameters() if p.requires_grad),
            "params_total": sum(p.numel() for p in model.parameters())}


def run_trial(config: TrialConfig, run_dir: Path, *, run_id: str, sweep: str | None = None,
              name: str | None = None, group: str | None = None, resume: bool = False,
              on_epoch: OnEpoch | None = None, show_progress: bool = False,
              wandb_mode: str | None = None, phases: Phases | None = None) -> Outcome:
    """Train and evaluate one configuration; always leaves a run record in `run_dir`.

    `on_epoch(epoch, metrics)` returning True stops the trial after that epoch: it is tested
    and recorded `pruned`. That is how an engine applies hyperband. `phases` times the
    trial's parts into its summary's `seconds` (`vgg_sweep.phases`).
    """
    run_dir = Path(run_dir)
    phases = phases or Phases()
    fresh = not run_dir.exists()  # a start refused below removes what it made (W&B's files)
    remove_partial_writes(run_dir)  # a killed earlier attempt's half-written files
    with phases.timed("tracking"):
        tracker = Tracker(run_dir, run_id, sweep, name=name, mode=wandb_mode, group=group)
        config = tracker.start(config)
    try:
        with StopFlag().installed() as stop:
            if MODELS[config.model].family == "svm":
                state, summary = run_svm_trial(config, tracker, phases)
                return Outcome(State(state), summary, tracker.history)
            with torch_threads(config.threads):
                return _train(config, run_dir, tracker, resume, on_epoch, show_progress, stop,
                              phases)
    except TrialFailed as failure:
        summary = {**(tracker.history[-1] if tracker.history else {}),
                   "failure_reason": str(failure)}
        tracker.finish(State.FAILED, summary)
        return Outcome(State.FAILED, summary, tracker.history, str(failure))
    except UserError:  # refused before training: the data is missing, the config does not fit it
        tracker.discard()
        if fresh:
            shutil.rmtree(run_dir, ignore_errors=True)
        raise


def _train(config, run_dir, tracker, resume, on_epoch, show_progress, stop, phases) -> Outcome:
    started = time.monotonic()
    device = resolve_device(config)
    with phases.timed("data"):
        data = load_dataset(config.dataset, config.data_dir)
        splits = split(data, config)
    checkpoint = run_dir / CHECKPOINT_FILE
    with phases.timed("model"):
        trial = _built_trial(config, splits, data, device, checkpoint, resume, tracker)
    tracker.telemetry = trial.telemetry.tables  # record.json's `telemetry`, kept current
    with phases.timed("flops"):
        macs = count_macs(trial.model, splits.train_x.shape[1:]) if config.count_flops else {}
    base = {**count_parameters(trial.model), **macs, "precision": trial.precision,
            "device": str(device), "threads": torch.get_num_threads(),
            "train_size": len(splits.train_x),
            "val_size": len(trial.data["val_y"])}  # images validated on (val_subset)
    state = State.FINISHED
    while trial.epoch < config.epochs and state == State.FINISHED:
        row = _run_epoch(trial, show_progress, stop, phases)
        if not row.pop("complete") or stop.raised:
            state = State.KILLED  # the partial epoch is not recorded; the checkpoint stays
            break
        trial.epoch += 1
        with phases.timed("telemetry"):
            media = trial.telemetry.end_epoch(trial.epoch)
        if "val_acc" in row and row["val_acc"] > trial.best_val_acc:
            trial.best_val_acc, trial.best_epoch = row["val_acc"], trial.epoch
        with phases.timed("checkpoint"):
            trial.save(checkpoint, tracker.history + [row])
        with phases.timed("tracking"):
            tracker.log_epoch(row, media)
        if on_epoch is None:  # no engine says this trial's epochs (vgg_sweep.progress): we do
            print(epoch_line(trial.epoch, config.epochs, row, time.monotonic() - started),
                  flush=True)
        elif on_epoch(trial.epoch, row):
            state = State.PRUNED  # tested below with this epoch's weights
    summary = {**base, **(tracker.history[-1] if tracker.history else {}),
               "best_val_acc": trial.best_val_acc, "best_epoch": trial.best_epoch,
               "train_time_sec": sum(row["epoch_time_sec"] for row in tracker.history),
               "fingerprint": trial.fingerprint.parts}
    if state != State.KILLED:
        with phases.timed("test"):
            test_loss, test_acc, predicted = trial.test_pass()
        summary.update(test_loss=test_loss, test_acc=test_acc)
        with phases.timed("telemetry"):
            trial.telemetry.report_test_set(tracker, run_dir, trial.data["test_x"],
                                            trial.data["test_y"], predicted, data.classes)
    summary["seconds"] = phases.summary()
    tracker.finish(state, summary)
    return Outcome(state, summary, tracker.history)


def _built_trial(config, splits, data, device, checkpoint: Path, resume: bool,
                 tracker) -> Trial:
    """The trial, restored from its checkpoint when resuming (its history to the tracker)."""
    trial = Trial(config, splits, len(data.classes), data.mean, data.std, device)
    if resume and checkpoint.exists():
        try:
            tracker.history = trial.load(checkpoint)
        except Exception as error:  # truncated, corrupt, of another model or config: start over
            reason = (str(error).strip() or type(error).__name__).splitlines()[0][:300]
            why = reason if isinstance(error, CheckpointMismatch) else f"unreadable ({reason})"
            warn(f"{checkpoint} {why}; training from scratch")
            trial = Trial(config, splits, len(data.classes), data.mean, data.std, device)
            tracker.history = []
    return trial


def _run_epoch(trial: Trial, show_progress: bool, stop: StopFlag,
               phases: Phases) -> dict[str, Any]:
    from tqdm import tqdm

    lr = trial.optimizer.param_groups[0]["lr"]  # the rate this epoch trains with
    with phases.timed("train"), tqdm(total=len(trial.data["train_x"]), unit="img",
                                     leave=False, disable=not show_progress,
                                     desc=f"epoch {trial.epoch + 1}/{trial.config.epochs}"
                                     ) as progress:
        row = trial.train_epoch(progress, should_stop=lambda: stop.raised)
    if not row["complete"]:
        return row
    row = {"epoch": trial.epoch + 1, **row}
    if validates(trial.config, trial.epoch + 1):
        with phases.timed("validation"):
            trial.last_validation = trial.evaluate(trial.data["val_x"], trial.data["val_y"])
        row["val_loss"], row["val_acc"], _ = trial.last_validation
    return {**row, "lr": lr}


def validates(config: TrialConfig, epoch: int) -> bool:
    """Whether `epoch` (from 1) ends with a validation pass: every eval_every-th and the last
    (a row without one has no val_loss or val_acc)."""
    return epoch % config.eval_every == 0 or epoch == config.epochs
