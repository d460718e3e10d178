"""The report's pictures: PNG for the page, PDF and SVG for print (matplotlib, Agg backend).

Each function draws one figure from plain tables and returns it; `save` writes it as a PNG
at DPI and as `figures/<stem>.pdf` and `.svg` beside it. Figures are built with
`matplotlib.figure.Figure`, not pyplot, so no global state is kept between plots. Many runs
are drawn as one collection (`LineCollection`, one `scatter`), never one artist per run.
Numbers on axes and ticks go through `short_number` (`0.0012`, `1e-4`), a parameter drawn
log-uniformly (`is_log_scale`) gets a log axis, and tick labels closer than a label's
height are thinned out, so labels never overprint.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import matplotlib
import matplotlib.lines

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.collections import LineCollection  # noqa: E402
from matplotlib.colors import to_rgb  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.ticker import (  # noqa: E402
    FuncFormatter,
    LogLocator,
    MaxNLocator,
    NullFormatter,
)

from analysis.runs import (  # noqa: E402
    MISSING,
    as_categories,
    as_numbers,
    is_continuous,
    is_log_scale,
    short_number,
)

DPI = 150  # PNG, for the page; print uses the PDF and SVG
PRINT_DPI = 200  # the raster parts of PDF and SVG (the dots of many runs, see _raster)
FORMATS = ("png", "pdf", "svg")  # the PNG is always written: the page shows it
FIGURES_DIR = "figures"
CMAP = "viridis"
MIN_GAP = 0.07  # parallel coordinates: ticks of one axis at least this far apart (axis = 1)
STATE_COLOURS = {"finished": "tab:blue", "pruned": "tab:orange", "crashed": "tab:red",
                 "failed": "tab:purple", "killed": "tab:gray", "running": "tab:green"}
PANEL_COLUMNS = 3
RASTER_RUNS = 500  # more runs than this: their dots and lines are raster inside PDF and SVG


def _raster(count: int) -> bool:
    """Whether many-run artists are drawn as an image inside vector files: 10,000 runs as
    vector dots make a slow, 8 MB SVG; axes and text stay vectors."""
    return count > RASTER_RUNS


def save(figure: Figure, path: Path, formats: tuple[str, ...] = FORMATS) -> Path:
    """Write `figure` as the PNG `path` (DPI) and, for each other format asked for, as
    figures/<stem>.<format> beside it (PDF, SVG: vector, for print); returns `path`."""
    # Figures lay themselves out (layout="constrained"): no bbox_inches="tight", which costs a
    # second drawing per file. SVG keeps its text as text (editable, smaller).
    with warnings.catch_warnings(), matplotlib.rc_context({"svg.fonttype": "none"}):
        # run names in scripts the font lacks: boxes, no warning
        warnings.filterwarnings("ignore", "Glyph .* missing from font", UserWarning)
        figure.savefig(path, dpi=DPI)
        for fmt in formats:
            if fmt != "png":
                (path.parent / FIGURES_DIR).mkdir(exist_ok=True)
                figure.savefig(path.parent / FIGURES_DIR / f"{path.stem}.{fmt}", dpi=PRINT_DPI)
    return path


def number_axis(ax, values: pd.Series, axis: str = "x") -> None:
    """Readable ticks for a numeric axis: log scale when the values span decades (ticks at
    powers of ten, or 1-2-5 within one decade), labels as short numbers, no minor labels."""
    target = ax.xaxis if axis == "x" else ax.yaxis
    if is_log_scale(as_numbers(values).dropna()):
        (ax.set_xscale if axis == "x" else ax.set_yscale)("log")
        present = as_numbers(values).dropna()
        subs = (1.0,) if present.max() >= 10 * present.min() else (1.0, 2.0, 5.0)
        target.set_major_locator(LogLocator(base=10, subs=subs, numticks=7))
        target.set_minor_formatter(NullFormatter())
    else:
        target.set_major_locator(MaxNLocator(6))
    target.set_major_formatter(FuncFormatter(lambda value, _: short_number(value)))


def _thinned(ticks: list[tuple[float, str]], gap: float = MIN_GAP) -> list[tuple[float, str]]:
    """Ticks at least `gap` apart, from the first; the last kept gives way to the axis's last
    tick, so both ends stay labelled. Labels of one axis never overprint."""
    kept: list[tuple[float, str]] = []
    for tick in sorted(ticks):
        if not kept or tick[0] - kept[-1][0] >= gap:
            kept.append(tick)
    if len(kept) > 1 and kept[-1] != max(ticks):
        kept[-1] = max(ticks)
    return kept


def _number_ticks(low: float, high: float, log: bool) -> np.ndarray:
    """Tick values in [low, high]: the ends and the powers of ten on a log axis, else
    MaxNLocator's round numbers."""
    if log:  # the ends too: a log-uniform draw rarely starts at a power of ten
        ticks = 10.0 ** np.arange(np.ceil(np.log10(low)), np.floor(np.log10(high)) + 1)
        return np.unique(np.r_[low, ticks if len(ticks) >= 2 else np.geomspace(low, high, 3),
                               high])
    ticks = MaxNLocator(5).tick_values(low, high)
    return ticks[(ticks >= low - 1e-12 * abs(low)) & (ticks <= high + 1e-12 * abs(high))]


def axis_positions(column: pd.Series) -> tuple[np.ndarray, list[tuple[float, str]]]:
    """A parameter on a [0, 1] axis: categories (text, booleans) evenly spaced in sorted
    order, numbers linearly, or logarithmically when `is_log_scale`. Returns the positions
    (NaN where missing) and (position, label) ticks, thinned so that none overprint."""
    if pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column):
        values = as_numbers(column)
        low, high = values.min(), values.max()
        log = is_log_scale(values.dropna())
        scaled = np.log10(values) if log else values
        lo, hi = (np.log10(low), np.log10(high)) if log else (low, high)
        span = (hi - lo) or 1.0
        positions = ((scaled - lo) / span).to_numpy()
        ticks = sorted(values.dropna().unique())
        if len(ticks) > 6:
            ticks = list(_number_ticks(low, high, log))
        return positions, _thinned([(((np.log10(t) if log else t) - lo) / span,
                                     short_number(t)) for t in ticks])
    text = column.astype(object).where(column.notna()).map(str, na_action="ignore")
    levels = sorted(text.dropna().unique())
    step = 1.0 / max(len(levels) - 1, 1)
    codes = {level: i * step for i, level in enumerate(levels)}
    return (text.map(codes).astype("float64").to_numpy(),
            _thinned([(codes[lv], lv) for lv in levels]))


def parallel_coordinates(frame: pd.DataFrame, params: list[str], metric: str, goal: str,
                         ) -> Figure | None:
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
    figure = Figure(figsize=(max(6.0, 1.3 * len(axes_columns)), 4.5), layout="constrained")
    ax = figure.subplots()
    values = rows[metric].to_numpy(dtype="float64")
    lines = LineCollection(list(segments), array=values, cmap=CMAP, rasterized=_raster(len(rows)),
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
    return figure


def metric_vs_step(frame: pd.DataFrame, steps: pd.Series, metric: str, goal: str,
                   ) -> Figure | None:
    """The metric of each run against its position in the sweep, with the best so far:
    flattening means the sweep stopped finding better configs."""
    rows = frame[frame[metric].notna()]
    if rows.empty:
        return None
    order = steps.loc[rows.index].sort_values(kind="stable")
    values = rows.loc[order.index, metric].astype("float64")
    running = values.cummax() if goal == "max" else values.cummin()
    figure = Figure(figsize=(7, 4), layout="constrained")
    ax = figure.subplots()
    for state, group in rows.groupby("state"):
        ax.scatter(steps.loc[group.index], group[metric], s=12, label=state, alpha=0.8,
                   rasterized=_raster(len(rows)))
    ax.step(order.to_numpy(), running.to_numpy(), where="post", color="black", linewidth=1,
            label=f"best so far ({goal})")
    ax.set_xlabel("run (creation order)")
    ax.set_ylabel(metric)
    ax.legend(fontsize=8)
    ax.set_title(f"{metric} vs step")
    return figure


def training_curves(histories: dict[str, pd.DataFrame]) -> Figure | None:
    """Loss and accuracy per epoch, train dashed and validation solid, one colour per run."""
    panels = [("loss", "train_loss", "val_loss"), ("accuracy", "train_acc", "val_acc")]
    if not histories:
        return None
    figure = Figure(figsize=(11, 4), layout="constrained")
    axes = figure.subplots(1, 2)
    colours = matplotlib.colormaps["tab10"]
    for index, (name, history) in enumerate(histories.items()):
        x = history["epoch"] if "epoch" in history else np.arange(1, len(history) + 1)
        for ax, (_, train, val) in zip(axes, panels, strict=True):
            if train in history:  # markers: a one-epoch run is a point, not an empty plot
                ax.plot(x, history[train], linestyle="--", marker="o", markersize=3,
                        color=colours(index % 10))
            if val in history:
                ax.plot(x, history[val], marker="o", markersize=3, color=colours(index % 10),
                        label=name)
    for ax, (title, _, _) in zip(axes, panels, strict=True):
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_title(f"{title} (dashed: train, solid: validation)", fontsize=9)
    axes[1].legend(fontsize=7)
    return figure


def heatmap(table: pd.DataFrame, rows: str, columns: str, metric: str) -> Figure:
    """Mean metric over a grid of two parameters (R5's accuracy matrices), from a two-way
    `group_stats` table (its first two columns); cell text shows the mean and the number of
    runs; `rows` and `columns` label the axes."""
    keys = list(table.columns[:2])
    means = table.pivot_table(index=keys[0], columns=keys[1], values="mean", dropna=False,
                              observed=False)
    counts = table.pivot_table(index=keys[0], columns=keys[1], values="runs", dropna=False,
                               observed=False).reindex_like(means)
    figure = Figure(figsize=(1.3 * means.shape[1] + 3, 0.7 * means.shape[0] + 2),
                    layout="constrained")
    ax = figure.subplots()
    image = ax.imshow(means.to_numpy(dtype="float64"), cmap=CMAP, aspect="auto")
    for (i, j), value in np.ndenumerate(means.to_numpy(dtype="float64")):
        if np.isfinite(value):
            ax.text(j, i, f"{value:.3g}\n(n={int(counts.iat[i, j])})", ha="center",
                    va="center", fontsize=9, color=text_colour(image.to_rgba(value)))
    ax.set_xticks(range(means.shape[1]), [str(c) for c in means.columns], rotation=30)
    ax.set_yticks(range(means.shape[0]), [str(r) for r in means.index])
    ax.set_xlabel(columns)
    ax.set_ylabel(rows)
    figure.colorbar(image, ax=ax, label=f"mean {metric}")
    return figure


def text_colour(background) -> str:
    """Black on light cells, white on dark ones (relative luminance, WCAG weights)."""
    red, green, blue = to_rgb(background)
    return "black" if 0.2126 * red + 0.7152 * green + 0.0722 * blue > 0.45 else "white"


def importance_bars(table: pd.DataFrame, metric: str, top: int = 15) -> Figure | None:
    """Forest importance and correlation with the metric, side by side, for the top features."""
    if table.empty:
        return None
    shown = table.head(top).iloc[::-1]
    figure = Figure(figsize=(10, 0.35 * len(shown) + 1.5), layout="constrained")
    left, right = figure.subplots(1, 2, sharey=True)
    left.barh(shown["feature"], shown["importance"], color="tab:blue")
    left.set_title("importance (random forest)", fontsize=9)
    correlation = shown["correlation"].fillna(0.0)
    right.barh(shown["feature"], correlation,
               color=np.where(correlation >= 0, "tab:green", "tab:red"))
    right.axvline(0, color="0.3", linewidth=0.8)
    right.set_xlim(-1, 1)
    right.set_title(f"correlation with {metric}", fontsize=9)
    return figure


def expected_best_curve(table: pd.DataFrame, metric: str) -> Figure | None:
    """Expected best metric against the number of trials, +- one std (Dodge et al. 2019)."""
    if table.empty:
        return None
    figure = Figure(figsize=(7, 4), layout="constrained")
    ax = figure.subplots()
    ax.plot(table["trials"], table["expected"], color="tab:blue")
    ax.fill_between(table["trials"], table["expected"] - table["std"],
                    table["expected"] + table["std"], alpha=0.25, color="tab:blue")
    ax.set_xscale("log")
    ax.set_xlabel("trials (n runs)")
    ax.set_ylabel(f"expected best {metric}")
    ax.set_title("Expected best vs number of trials")
    return figure


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


def _levels(column: pd.Series) -> list[str]:
    """The groups of a categorical parameter in a reader's order: numbers by value, text
    alphabetically, MISSING last."""
    text = as_categories(column)
    present = [level for level in text.unique() if level != MISSING]
    numbers = as_numbers(pd.Series(present, dtype=object))
    if len(present) and numbers.notna().all():
        present = [level for _, level in sorted(zip(numbers, present, strict=True))]
    else:
        present = sorted(present)
    return present + ([MISSING] if (text == MISSING).any() else [])


def parameter_panels(analysed: pd.DataFrame, runs: pd.DataFrame, params: list[str],
                     metric: str) -> Figure | None:
    """One panel per parameter: the metric of every run (dots coloured by state) per value,
    a box over the analysed runs for a categorical parameter; a continuous one is a scatter
    against its value, on a log axis when it was drawn log-uniformly. None without
    parameters or metric values."""
    rows = runs[runs[metric].notna()]
    if not params or rows.empty:
        return None
    columns = min(PANEL_COLUMNS, len(params))
    lines = -(-len(params) // columns)
    figure = Figure(figsize=(4.2 * columns, 3.4 * lines), layout="constrained")
    axes = figure.subplots(lines, columns, squeeze=False).ravel()
    states = [state for state in (*STATE_COLOURS, *rows["state"].unique())
              if state in set(rows["state"])]
    palette = {state: STATE_COLOURS.get(state, "black") for state in states}
    for ax, param in zip(axes, params, strict=False):
        _parameter_panel(ax, analysed, rows, param, metric, palette)
    for ax in axes[len(params):]:
        ax.set_visible(False)
    handles = [matplotlib.lines.Line2D([], [], marker="o", linestyle="", color=colour,
                                       label=state) for state, colour in palette.items()]
    figure.legend(handles=handles, loc="outside upper right", fontsize=8, title="run state",
                  ncols=len(handles))
    return figure


def _parameter_panel(ax, analysed: pd.DataFrame, rows: pd.DataFrame, param: str, metric: str,
                     palette: dict[str, str]) -> None:
    import seaborn as sns

    if is_continuous(analysed[param]):
        values = as_numbers(rows[param])
        for state, colour in palette.items():
            mine = rows["state"] == state
            ax.scatter(values[mine], rows.loc[mine, metric], s=14, color=colour, alpha=0.8,
                       rasterized=_raster(len(rows)))
        number_axis(ax, values)
    else:
        order = _levels(rows[param])
        analysed_rows = analysed[analysed[metric].notna()]
        with warnings.catch_warnings():  # seaborn 0.13 passes matplotlib 3.11's deprecated vert
            warnings.simplefilter("ignore", matplotlib.MatplotlibDeprecationWarning)
            sns.boxplot(x=as_categories(analysed_rows[param]), y=analysed_rows[metric],
                        order=order, ax=ax, color="0.92", showfliers=False, width=0.6)
        sns.stripplot(x=as_categories(rows[param]), y=rows[metric], hue=rows["state"],
                      order=order, hue_order=list(palette), palette=palette, ax=ax, size=3.5,
                      jitter=0.25, alpha=0.8, legend=False, rasterized=_raster(len(rows)))
        if sum(len(level) for level in order) > 30:
            ax.tick_params(axis="x", labelrotation=30)
    ax.set_xlabel(param)
    ax.set_ylabel(metric)


