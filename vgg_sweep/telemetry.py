"""Training telemetry: gradient flow, weight-update flow and the test-set classification report.

What R1-R3 analyse, measured for every trial and cheap enough to leave on:

- gradient flow: per layer, mean and max |grad| after a training step, every
  `grad_flow_every` batches of every `grad_flow_epochs`-th epoch (and of the last one);
- weight-update flow: per layer, mean |W_t - W_{t-1}| between consecutive epochs and the
  relative update ||W_t - W_{t-1}|| / ||W_{t-1}||;
- on the test set: the confusion matrix (rows true class, columns predicted), per-class
  accuracy (diagonal / row sum, percent) and a grid of sample predictions.

"Layers" are the trainable conv and linear weights (parameters with 2+ dimensions); biases
and BatchNorm scales are left out. Statistics stay on the training device until the epoch
ends and then cross to the CPU in one transfer, so the hot loop never waits on the GPU.
Everything lands in `tables` (record.json's `telemetry` key, see Tracker), the predictions
sample and (config.plots) PNGs in `artifacts/` (telemetry_plots.py) and, when a W&B run
exists, W&B tables, images and charts.
"""

from __future__ import annotations

import math
from collections import Counter
from pathlib import Path
from typing import Any

import torch
from torch import nn

from vgg_sweep.config import TrialConfig

PREDICTION_GRID = 16  # test images shown in predictions.png and the W&B predictions table


def tracked_layers(model: nn.Module) -> list[tuple[str, nn.Parameter]]:
    """(name, weight) of every trainable conv and linear layer, in forward order, named as a
    reader names them: conv1, conv2, ..., fc1, fc2 (`fc` when there is one), not by their
    place in nested Sequentials (`0.3.weight`); other weights keep their parameter name."""
    kinds = {id(module.weight): kind for module in model.modules()
             for kind, types in (("conv", nn.modules.conv._ConvNd), ("fc", nn.Linear))
             if isinstance(module, types)}
    weights = [(name, param) for name, param in model.named_parameters()
               if param.requires_grad and param.dim() >= 2]
    totals = Counter(kinds.get(id(param)) for _, param in weights)
    seen: Counter = Counter()
    layers = []
    for name, param in weights:
        kind = kinds.get(id(param))
        seen[kind] += 1
        layers.append((name if kind is None else kind if kind == "fc" and totals[kind] == 1
                       else f"{kind}{seen[kind]}", param))
    return layers


class Telemetry:
    """Collects one trial's gradient and weight-update flow; writes its final report.

    The trainer calls `start_epoch()` before an epoch, `after_step(epoch, batch)` after every
    optimiser step and `end_epoch(epoch)` once the epoch is complete (epochs count from 1, as
    in the history). `after_step` must come after `GradScaler.step`, which has unscaled the
    gradients in place, so fp16 statistics are true gradients without a device sync.
    """

    def __init__(self, model: nn.Module, config: TrialConfig):
        self.config = config
        self.layers = tracked_layers(model)
        self.tables: dict[str, Any] = {"grad_flow": [], "weight_updates": []}
        self._samples: list[tuple[int, int, torch.Tensor]] = []  # (epoch, batch, (L, 2))
        self._previous: list[torch.Tensor] | None = None  # weights when the epoch began
        device = self.layers[0][1].device if self.layers else torch.device("cpu")
        self._numel = torch.tensor([float(p.numel()) for _, p in self.layers], device=device)

    def samples_epoch(self, epoch: int) -> bool:
        every = self.config.grad_flow_epochs
        return (epoch - 1) % every == 0 or epoch == self.config.epochs

    # --- during training ---------------------------------------------------------------------
    def start_epoch(self) -> None:
        """Remember the weights the epoch starts from (after a resume: the loaded ones)."""
        if self.config.weight_flow and self._previous is None and self.layers:
            self._previous = [param.detach().clone() for _, param in self.layers]

    def after_step(self, epoch: int, batch: int) -> None:
        every = self.config.grad_flow_every
        if not every or batch % every or not self.layers or not self.samples_epoch(epoch):
            return
        with torch.no_grad():
            grads = [param.grad if param.grad is not None else torch.zeros_like(param)
                     for _, param in self.layers]
            mean = torch.stack([torch.linalg.vector_norm(g, 1) for g in grads]) / self._numel
            peak = torch.stack([torch.linalg.vector_norm(g, math.inf) for g in grads])
            self._samples.append((epoch, batch, torch.stack([mean, peak], 1).float()))

    @torch.no_grad()
    def end_epoch(self, epoch: int) -> dict[str, float]:
        """Turn the epoch's samples into table rows; returns per-layer scalars for W&B
        (the epoch's last gradient sample and its weight update)."""
        scalars: dict[str, float] = {}
        names = [name for name, _ in self.layers]
        if self._samples:
            stats = torch.stack([sample for *_, sample in self._samples]).cpu().tolist()
            for (at_epoch, batch, _), rows in zip(self._samples, stats, strict=True):
                self.tables["grad_flow"] += [
                    {"epoch": at_epoch, "batch": batch, "layer": name, "mean": mean, "max": peak}
                    for name, (mean, peak) in zip(names, rows, strict=True)]
            scalars.update({f"grad_mean/{name}": mean for name, (mean, _) in
                            zip(names, stats[-1], strict=True)})
            self._samples.clear()
        if self._previous is not None:
            stats = []
            for (_, param), previous in zip(self.layers, self._previous, strict=True):
                delta = param.detach() - previous
                stats.append(torch.stack([delta.abs().mean(), torch.linalg.vector_norm(delta),
                                          torch.linalg.vector_norm(previous)]).float())
                previous.copy_(param.detach())
            for name, (mean_abs, change, norm) in zip(names, torch.stack(stats).cpu().tolist(),
                                                      strict=True):
                relative = change / norm if norm > 0 else 0.0
                self.tables["weight_updates"].append(
                    {"epoch": epoch, "layer": name, "mean_abs": mean_abs, "relative": relative})
                scalars[f"weight_update/{name}"] = relative
        return scalars

    # --- at the end: the test set --------------------------------------------------------------
    def report_test_set(self, tracker, run_dir: Path, images: torch.Tensor, labels: torch.Tensor,
               predicted: torch.Tensor, classes: tuple[str, ...]) -> None:
        """Confusion matrix and per-class accuracy into `tables`; the predictions grid's
        sample into `run_dir/artifacts/`, with the plots when config.plots (telemetry_plots);
        tables, charts and images to W&B when its run exists. `images` are the uint8 test
        images, `predicted` what evaluate() returned."""
        from vgg_sweep import telemetry_plots

        matrix = confusion_matrix(predicted, labels, len(classes))
        self.tables["confusion_matrix"] = matrix.tolist()
        self.tables["per_class_accuracy"] = per_class_accuracy(matrix, classes)
        shown = min(PREDICTION_GRID, len(labels))
        sample = (images[:shown].cpu(), labels[:shown].tolist(), predicted[:shown].tolist())
        artifacts = Path(run_dir) / "artifacts"
        telemetry_plots.save_sample(artifacts, *sample)
        plots: dict[str, Path] = {}
        if self.config.plots:
            plots = telemetry_plots.write_all(artifacts, self.tables, classes, *sample)
        if tracker.wandb_enabled:
            tracker.log_media(wandb_media(self.tables, classes, labels.tolist(),
                                          predicted.tolist(), sample, plots))


def confusion_matrix(predicted: torch.Tensor, labels: torch.Tensor, num_classes: int,
                     ) -> torch.Tensor:
    """(classes, classes) counts on the CPU: row = true class, column = predicted class."""
    pairs = labels.long().cpu() * num_classes + predicted.long().cpu()
    return torch.bincount(pairs, minlength=num_classes ** 2).reshape(num_classes, num_classes)


def per_class_accuracy(matrix: torch.Tensor, classes: tuple[str, ...]) -> dict[str, float | None]:
    """Percent of each class's test images predicted right (None: class absent)."""
    rows = matrix.sum(1).tolist()
    return {name: (100.0 * int(matrix[i, i]) / rows[i] if rows[i] else None)
            for i, name in enumerate(classes)}


def _hwc(image: torch.Tensor):
    """uint8 (C, H, W) tensor -> numpy (H, W, 3) or (H, W) for one channel."""
    array = image.permute(1, 2, 0).numpy()
    return array[:, :, 0] if array.shape[2] == 1 else array


def _epoch_means(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Gradient-flow rows averaged over each epoch's samples (batch = -1), layer by layer."""
    groups: dict[tuple[int, str], list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault((row["epoch"], row["layer"]), []).append(row)
    return [{"epoch": epoch, "batch": -1, "layer": layer,
             "mean": sum(r["mean"] for r in group) / len(group),
             "max": max(r["max"] for r in group)} for (epoch, layer), group in groups.items()]


def wandb_media(tables: dict[str, Any], classes: tuple[str, ...], labels: list[int],
                predicted: list[int], sample, plots: dict[str, Path]) -> dict[str, Any]:
    """W&B's own pieces: a confusion-matrix chart, tables, images."""
    import wandb

    media: dict[str, Any] = {
        "confusion_matrix": wandb.plot.confusion_matrix(
            y_true=labels, preds=predicted, class_names=list(classes)),
        "per_class_accuracy": wandb.Table(
            columns=["class", "accuracy"],
            data=[[name, acc] for name, acc in tables["per_class_accuracy"].items()]),
    }
    images, true, guess = sample
    media["predictions"] = wandb.Table(
        columns=["image", "true", "predicted", "correct"],
        data=[[wandb.Image(_hwc(image)), classes[t], classes[p], t == p]
              for image, t, p in zip(images, true, guess, strict=True)])
    grad_rows = tables["grad_flow"]
    if len(grad_rows) > wandb.Table.MAX_ROWS:  # W&B would cut it: one row per epoch and layer
        grad_rows = _epoch_means(grad_rows)
    for key, rows, columns in (
            ("grad_flow", grad_rows, ["epoch", "batch", "layer", "mean", "max"]),
            ("weight_updates", tables["weight_updates"], ["epoch", "layer", "mean_abs",
                                                          "relative"])):
        if rows:
            media[key] = wandb.Table(columns=columns,
                                     data=[[row[c] for c in columns] for row in rows])
    media.update({f"plots/{name}": wandb.Image(str(path)) for name, path in plots.items()})
    return media
