"""The telemetry as PNGs in a run's `artifacts/` folder (matplotlib + seaborn, no display).

A trial draws them with `plots=true` (about a second, most of a short trial's time outside
training). Otherwise its record's tables and the few test images with their predictions
(`artifacts/predictions.npz`, always saved) are enough to draw the test-set plots later:
the report draws the best run's (`redraw_test_set`).

Figures are built with `matplotlib.figure.Figure`, which renders with Agg and touches no
pyplot state, so a trial never opens a window or changes a notebook's backend. matplotlib
and seaborn are imported here only, when a plot is drawn.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np

SAMPLE_FILE = "predictions.npz"  # the images predictions.png shows, their labels, predictions
FILES = {"grad_flow": "grad_flow.png", "weight_updates": "weight_updates.png",
         "confusion_matrix": "confusion_matrix.png",
         "per_class_accuracy": "per_class_accuracy.png", "predictions": "predictions.png"}
MAX_EPOCHS_SHOWN = 6  # grad_flow.png: bars for at most this many epochs, evenly spread


def _figure(width: float, height: float):
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), layout="constrained")


def _save(figure, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=150)
    return path


def _short(layer: str) -> str:
    return layer.removesuffix(".weight")


def grad_flow(rows: list[dict[str, Any]], path: Path) -> Path:
    """Mean and max |grad| per layer (log scale), one bar colour per sampled epoch."""
    import pandas as pd
    import seaborn as sns

    frame = pd.DataFrame(rows).groupby(["epoch", "layer"], sort=False)[["mean", "max"]]
    frame = frame.mean().reset_index()  # an epoch's samples averaged
    epochs = sorted(frame["epoch"].unique())
    step = max(1, -(-len(epochs) // MAX_EPOCHS_SHOWN))
    shown = set(epochs[::step]) | {epochs[-1]}
    frame = frame[frame["epoch"].isin(shown)].assign(layer=lambda f: f["layer"].map(_short))
    layers = frame["layer"].nunique()
    figure = _figure(max(6.0, 0.45 * layers * min(len(shown), 3)), 6.5)
    axes = figure.subplots(2, 1, sharex=True)
    for ax, stat in zip(axes, ("mean", "max"), strict=True):
        sns.barplot(frame, x="layer", y=stat, hue="epoch", ax=ax, palette="viridis")
        ax.set_yscale("log")
        ax.set_ylabel(f"{stat} |grad|")
    axes[0].set_title("Gradient flow per layer")
    axes[1].tick_params(axis="x", labelrotation=90)
    return _save(figure, path)


def weight_updates(rows: list[dict[str, Any]], path: Path) -> Path:
    """Heatmap layer x epoch of the relative update ||dW|| / ||W||."""
    import pandas as pd
    import seaborn as sns

    frame = pd.DataFrame(rows).assign(layer=lambda f: f["layer"].map(_short))
    grid = frame.pivot(index="layer", columns="epoch", values="relative")
    grid = grid.loc[list(dict.fromkeys(frame["layer"]))]  # forward order, not alphabetical
    figure = _figure(max(5.0, 0.3 * grid.shape[1] + 3), max(3.0, 0.28 * grid.shape[0] + 1.5))
    ax = figure.subplots()
    sns.heatmap(grid, ax=ax, cmap="magma", cbar_kws={"label": "||dW|| / ||W||"})
    ax.set_title("Weight-update flow (relative update per epoch)")
    return _save(figure, path)


def confusion_matrix(matrix: list[list[int]], classes: tuple[str, ...], path: Path) -> Path:
    import seaborn as sns

    size = max(5.0, 0.55 * len(classes) + 2)
    figure = _figure(size + 1, size)
    ax = figure.subplots()
    sns.heatmap(matrix, ax=ax, annot=len(classes) <= 20, fmt="d", cmap="Blues",
                xticklabels=classes, yticklabels=classes)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title("Confusion matrix (test set)")
    return _save(figure, path)


def per_class_accuracy(accuracy: dict[str, float | None], path: Path) -> Path:
    import seaborn as sns

    names = list(accuracy)
    values = [value if value is not None else 0.0 for value in accuracy.values()]
    figure = _figure(max(5.0, 0.5 * len(names) + 2), 4.0)
    ax = figure.subplots()
    sns.barplot(x=names, y=values, ax=ax, color="steelblue")
    ax.set_ylim(0, 100)
    ax.set_ylabel("accuracy (%)")
    ax.set_title("Per-class accuracy (test set)")
    ax.tick_params(axis="x", labelrotation=45)
    return _save(figure, path)


def predictions(images, true: list[int], predicted: list[int], classes: tuple[str, ...],
                path: Path) -> Path:
    """A grid of test images titled `pred: <predicted>` over `true: <label>`: green when
    right, red when wrong."""
    columns = 4
    rows = max(1, -(-len(true) // columns))
    figure = _figure(2.2 * columns, 2.4 * rows)
    axes = figure.subplots(rows, columns, squeeze=False).ravel()
    for ax in axes:
        ax.axis("off")
    for ax, image, t, p in zip(axes, images, true, predicted, strict=False):
        array = np.asarray(image).transpose(1, 2, 0)  # C, H, W -> H, W, C
        if array.shape[2] == 1:
            ax.imshow(array[:, :, 0], cmap="gray", vmin=0, vmax=255)
        else:
            ax.imshow(array)
        ax.set_title(f"pred: {classes[p]}\ntrue: {classes[t]}", fontsize=9,
                     color="green" if t == p else "red")
    return _save(figure, path)


def write_all(folder: Path, tables: dict[str, Any], classes: tuple[str, ...], images,
              true: list[int], predicted: list[int]) -> dict[str, Path]:
    """Every plot the tables allow; returns {name: path}."""
    written = {}
    if tables["grad_flow"]:
        written["grad_flow"] = grad_flow(tables["grad_flow"], folder / FILES["grad_flow"])
    if tables["weight_updates"]:
        written["weight_updates"] = weight_updates(tables["weight_updates"],
                                                   folder / FILES["weight_updates"])
    return {**written, **write_test_set(folder, tables, classes, images, true, predicted)}


def write_test_set(folder: Path, tables: dict[str, Any], classes: tuple[str, ...], images,
                   true: list[int], predicted: list[int]) -> dict[str, Path]:
    """The confusion matrix, per-class accuracy and predictions grid; returns {name: path}."""
    return {
        "confusion_matrix": confusion_matrix(tables["confusion_matrix"], classes,
                                             folder / FILES["confusion_matrix"]),
        "per_class_accuracy": per_class_accuracy(tables["per_class_accuracy"],
                                                 folder / FILES["per_class_accuracy"]),
        "predictions": predictions(images, true, predicted, classes,
                                   folder / FILES["predictions"])}


def save_sample(folder: Path, images, true: list[int], predicted: list[int]) -> None:
    """The predictions grid's images (uint8, C x H x W), labels and predictions."""
    from vgg_sweep.record import atomic_write_bytes

    buffer = io.BytesIO()
    np.savez(buffer, images=np.asarray(images, dtype=np.uint8), true=np.asarray(true),
             predicted=np.asarray(predicted))
    atomic_write_bytes(folder / SAMPLE_FILE, buffer.getvalue())


def redraw_test_set(run_dir: Path, folder: Path) -> dict[str, Path]:
    """A finished run's test-set plots, drawn into `folder` from its record's tables
    (confusion matrix; per-class accuracy, whose keys are the classes in order) and its
    saved sample. OSError, KeyError or ValueError when the run has not both."""
    from vgg_sweep.record import read_record

    tables = read_record(run_dir)["telemetry"]
    with np.load(Path(run_dir) / "artifacts" / SAMPLE_FILE) as sample:
        images, true, predicted = (sample["images"], sample["true"].tolist(),
                                   sample["predicted"].tolist())
    return write_test_set(folder, tables, tuple(tables["per_class_accuracy"]), images, true,
                          predicted)
