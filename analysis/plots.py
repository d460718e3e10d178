"""The report's pictures, as PNG files (matplotlib, Agg backend, no display needed).

Each function draws one figure from plain tables and writes it to `path`. Figures are built
with `matplotlib.figure.Figure`, not pyplot, so no global state is kept between plots. Many
runs are drawn as one collection (`LineCollection`, one `scatter`), never one artist per run,
so 10,000 runs plot in well under a second.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.collections import LineCollection  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from analysis.runs import as_numbers  # noqa: E402

DPI = 100
CMAP = "viridis"


def _save(figure: Figure, path: Path) -> Path:
    with warnings.catch_warnings():  # run names in scripts the font lacks: boxes, no warning
        warnings.filterwarnings("ignore", "Glyph .* missing from font", UserWarning)
        figure.savefig(path, dpi=DPI, bbox_inches="tight")
    return path


def axis_positions(column: pd.Series) -> tuple[np.ndarray, list[tuple[float, str]]]:
    """A parameter on a [0, 1] axis: categories (text, booleans) evenly spaced in sorted
    order, numbers linearly, or logarithmically when positive and spanning 100x or more.
    Returns the positions (NaN where missing) and (position, label) ticks."""
    if pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column):
        values = as_numbers(column)
        low, high = values.min(), values.max()
        log = low > 0 and high / low >= 100
        scaled = np.log10(values) if log else values
        lo, hi = (np.log10(low), np.log10(high)) if log else (low, high)
        span = (hi - lo) or 1.0
        positions = ((scaled - lo) / span).to_numpy()
        ticks = sorted(values.dropna().unique())
        if len(ticks) > 6:
            ticks = list(10 ** np.linspace(lo, hi, 5)) if log else list(np.linspace(lo, hi, 5))
        return positions, [(((np.log10(t) if log else t) - lo) / span, f"{t:.3g}")
                           for t in ticks]
    text = column.astype(str).where(column.notna())
    levels = sorted(text.dropna().unique())
    step = 1.0 / max(len(levels) - 1, 1)
    codes = {level: i * step for i, level in enumerate(levels)}
    return text.map(codes).astype("float64").to_numpy(), [(codes[lv], lv) for lv in levels]


def parallel_coordinates(frame: pd.DataFrame, params: list[str], metric: str, goal: str,
                         path: Path) -> Path | None:
    """One line per run across the swept parameters and the metric, coloured by the metric;
    the best runs drawn last (on top)."""
    rows = frame[frame[metric].notna()]
    if rows.empty or not params:
        return None
    rows = rows.iloc[np.argsort(rows[metric].to_numpy(dtype="float64")
                                * (1 if goal == "max" else -1), kind="stable")]
    axes_columns = [*params, metric]
    encoded = [axis_positions(rows[column]) for column in axes_columns]
    ys = np.column_stack([positions for positions, _ in encoded])
    xs = np.arange(len(axes_columns), dtype="float64")
    segments = np.stack([np.broadcast_to(xs, ys.shape), ys], axis=-1)
    figure = Figure(figsize=(max(6.0, 1.3 * len(axes_columns)), 4.5))
    ax = figure.subplots()
    values = rows[metric].to_numpy(dtype="float64")
    lines = LineCollection(list(segments), array=values, cmap=CMAP,
                           linewidths=0.8, alpha=max(0.15, min(0.8, 30 / len(rows) ** 0.5)))
    ax.add_collection(lines)
    for x, (_, ticks) in zip(xs, encoded, strict=True):
        ax.axvline(x, color="0.3", linewidth=0.8)
        for position, label in ticks:
            ax.text(x + 0.03, position, label, fontsize=7, va="center")
    ax.set_xlim(-0.2, len(axes_columns) - 0.6)
    ax.set_ylim(-0.05, 1.05)
    ax.set_xticks(xs, axes_columns, rotation=20)
    ax.set_yticks([])
    figure.colorbar(lines, ax=ax, label=metric)
    ax.set_title(f"Parallel coordinates ({len(rows)} runs)")
    return _save(figure, path)


def metric_vs_step(frame: pd.DataFrame, steps: pd.Series, metric: str, goal: str,
                   path: Path) -> Path | None:
    """The metric of each run against its position in the sweep, with the best so far:
    flattening means the sweep stopped finding better configs."""
    rows = frame[frame[metric].notna()]
    if rows.empty:
        return None
    order = steps.loc[rows.index].sort_values(kind="stable")
    values = rows.loc[order.index, metric].astype("float64")
    running = values.cummax() if goal == "max" else values.cummin()
    figure = Figure(figsize=(7, 4))
    ax = figure.subplots()
    for state, group in rows.groupby("state"):
        ax.scatter(steps.loc[group.index], group[metric], s=12, label=state, alpha=0.8)
    ax.step(order.to_numpy(), running.to_numpy(), where="post", color="black", linewidth=1,
            label=f"best so far ({goal})")
    ax.set_xlabel("run (creation order)")
    ax.set_ylabel(metric)
    ax.legend(fontsize=8)
    ax.set_title(f"{metric} vs step")
    return _save(figure, path)


def training_curves(histories: dict[str, pd.DataFrame], path: Path) -> Path | None:
    """Loss and accuracy per epoch, train dashed and validation solid, one colour per run."""
    panels = [("loss", "train_loss", "val_loss"), ("accuracy", "train_acc", "val_acc")]
    if not histories:
        return None
    figure = Figure(figsize=(11, 4))
    axes = figure.subplots(1, 2)
    colours = matplotlib.colormaps["tab10"]
    for index, (name, history) in enumerate(histories.items()):
        x = history["epoch"] if "epoch" in history else np.arange(1, len(history) + 1)
        for ax, (_, train, val) in zip(axes, panels, strict=True):
            if train in history:
                ax.plot(x, history[train], linestyle="--", color=colours(index % 10))
            if val in history:
                ax.plot(x, history[val], color=colours(index % 10), label=name)
    for ax, (title, _, _) in zip(axes, panels, strict=True):
        ax.set_xlabel("epoch")
        ax.set_title(f"{title} (dashed: train, solid: validation)", fontsize=9)
    axes[1].legend(fontsize=7)
    return _save(figure, path)


def heatmap(table: pd.DataFrame, rows: str, columns: str, metric: str, path: Path) -> Path:
    """Mean metric over a grid of two parameters (R5's accuracy matrices), from a two-way
    `group_stats` table (its first two columns); cell text shows the mean and the number of
    runs; `rows` and `columns` label the axes."""
    keys = list(table.columns[:2])
    means = table.pivot_table(index=keys[0], columns=keys[1], values="mean", dropna=False,
                              observed=False)
    counts = table.pivot_table(index=keys[0], columns=keys[1], values="runs", dropna=False,
                               observed=False).reindex_like(means)
    figure = Figure(figsize=(1.1 * means.shape[1] + 3, 0.6 * means.shape[0] + 2))
    ax = figure.subplots()
    image = ax.imshow(means.to_numpy(dtype="float64"), cmap=CMAP, aspect="auto")
    for (i, j), value in np.ndenumerate(means.to_numpy(dtype="float64")):
        if np.isfinite(value):
            ax.text(j, i, f"{value:.3g}\n(n={int(counts.iat[i, j])})", ha="center",
                    va="center", fontsize=7, color="white")
    ax.set_xticks(range(means.shape[1]), [str(c) for c in means.columns], rotation=30)
    ax.set_yticks(range(means.shape[0]), [str(r) for r in means.index])
    ax.set_xlabel(columns)
    ax.set_ylabel(rows)
    figure.colorbar(image, ax=ax, label=f"mean {metric}")
    return _save(figure, path)


def importance_bars(table: pd.DataFrame, metric: str, path: Path, top: int = 15,
                    ) -> Path | None:
    """Forest importance and correlation with the metric, side by side, for the top features."""
    if table.empty:
        return None
    shown = table.head(top).iloc[::-1]
    figure = Figure(figsize=(10, 0.35 * len(shown) + 1.5))
    left, right = figure.subplots(1, 2, sharey=True)
    left.barh(shown["feature"], shown["importance"], color="tab:blue")
    left.set_title("importance (random forest)", fontsize=9)
    correlation = shown["correlation"].fillna(0.0)
    right.barh(shown["feature"], correlation,
               color=np.where(correlation >= 0, "tab:green", "tab:red"))
    right.axvline(0, color="0.3", linewidth=0.8)
    right.set_xlim(-1, 1)
    right.set_title(f"correlation with {metric}", fontsize=9)
    return _save(figure, path)


def expected_best_curve(table: pd.DataFrame, metric: str, path: Path) -> Path | None:
    """Expected best metric against the number of trials, +- one std (Dodge et al. 2019)."""
    if table.empty:
        return None
    figure = Figure(figsize=(7, 4))
    ax = figure.subplots()
    ax.plot(table["trials"], table["expected"], color="tab:blue")
    ax.fill_between(table["trials"], table["expected"] - table["std"],
                    table["expected"] + table["std"], alpha=0.25, color="tab:blue")
    ax.set_xscale("log")
    ax.set_xlabel("trials (n runs)")
    ax.set_ylabel(f"expected best {metric}")
    ax.set_title("Expected best vs number of trials")
    return _save(figure, path)


def parallel_coordinates_svg(frame: pd.DataFrame, params: list[str], metric: str, goal: str,
                             max_runs: int = 500) -> str | None:
    """The parallel-coordinates plot as inline SVG for the HTML page: hover a line to see the
    run's name and metric (a `<title>` per line, plain CSS, no script, works offline). Only
    the best `max_runs` runs, to keep the page small; the PNG shows them all."""
    import html

    from matplotlib import colormaps
    from matplotlib.colors import Normalize, to_hex

    rows = frame[frame[metric].notna()]
    if rows.empty or not params:
        return None
    values = rows[metric].astype("float64")
    rows = rows.loc[values.sort_values(ascending=goal == "min").index[:max_runs][::-1]]
    columns = [*params, metric]
    encoded = [axis_positions(rows[column]) for column in columns]
    width, height, pad = 110 * len(columns), 320, 30
    xs = [pad + i * (width - 2 * pad) / max(len(columns) - 1, 1) for i in range(len(columns))]

    def y(position: float) -> float:
        return pad + (1 - position) * (height - 2 * pad)

    colour = colormaps[CMAP]
    scale = Normalize(values.min(), values.max())
    parts = [f"<svg viewBox='0 0 {width} {height}' width='100%' role='img' "
             f"aria-label='parallel coordinates'><style>polyline{{fill:none;stroke-width:1.2;"
             "opacity:.6}polyline:hover{stroke:#d62728;stroke-width:3;opacity:1}</style>"]
    ys = np.column_stack([positions for positions, _ in encoded])
    names, scores = rows["name"].astype(str).to_numpy(), rows[metric].to_numpy(dtype="float64")
    for name, score, points in zip(names, scores, ys, strict=True):
        path = " ".join(f"{x:.1f},{y(p):.1f}" for x, p in zip(xs, points, strict=True)
                        if np.isfinite(p))
        title = html.escape(f"{name}: {metric} = {score:.4g}")
        parts.append(f"<polyline points='{path}' stroke='{to_hex(colour(scale(score)))}'>"
                     f"<title>{title}</title></polyline>")
    for x, column, (_, ticks) in zip(xs, columns, encoded, strict=True):
        parts.append(f"<line x1='{x:.1f}' x2='{x:.1f}' y1='{pad}' y2='{height - pad}' "
                     "stroke='#444'/>")
        parts.append(f"<text x='{x:.1f}' y='{height - 8}' font-size='11' text-anchor='middle'>"
                     f"{html.escape(column)}</text>")
        parts += [f"<text x='{x + 3:.1f}' y='{y(p) + 3:.1f}' font-size='9'>{html.escape(t)}"
                  "</text>" for p, t in ticks]
    parts.append("</svg>")
    return "".join(parts)
