"""The report directory: `report.html`, `report.md`, `runs.csv`, `group_stats.csv`, PNGs.

`build_report` computes every section once as data (paragraphs, tables, images) and two
small renderers turn the same sections into Markdown and into one self-contained HTML page
(images as base64 data URIs, no scripts or styles from the network). Every run name and
config value is escaped on the way out: a run named `<script>` stays text.
"""

from __future__ import annotations

import base64
import difflib
import html
import re
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from analysis import plots
from analysis.importance import parameter_importance
from analysis.lints import Finding, run_lints
from analysis.rerun import RERUN_FILE, read_rerun, rerun_verdict
from analysis.runs import (
    KNOWN_STATES,
    RunTable,
    choose_metric,
    claim,
    default_goal,
    numeric_metric,
    run_step,
    state_counts,
)
from analysis.stats import (
    best_run,
    expected_best,
    group_stats,
    included_runs,
    one_way_stats,
    swept_params,
    top_decile_shares,
)
from analysis.wandb_csv import write_csv_export
from vgg_sweep.errors import UserError
from vgg_sweep.record import TEMP_SUFFIX

TABLE_ROWS = 40  # longer tables are cut in the page; the CSV files hold every row


class Svg(str):
    """Inline SVG markup built by us (every text in it escaped): HTML only."""


@dataclass
class Section:
    """A titled list of blocks: str (a paragraph), DataFrame (a table), Path (a PNG), Svg."""

    title: str
    blocks: list = field(default_factory=list)


@dataclass
class ReportOptions:
    metric: str | None = None
    goal: str | None = None
    states: tuple[str, ...] | None = ("finished",)  # None: every state
    by: list[list[str]] = field(default_factory=list)
    top_k: int = 5
    rerun: Path | None = None


@dataclass
class Plan:
    """What a report or stats table analyses, all checked before anything is written."""

    table: RunTable  # the metric column as finite floats (numeric_metric)
    metric: str
    goal: str
    analysed: pd.DataFrame
    left_out: pd.DataFrame
    params: list[str]  # one-way tables
    multi: list[list[str]]  # multi-way tables


def analysis_plan(table: RunTable, options: ReportOptions) -> Plan:
    """Metric, goal, analysed and left-out runs, and the one-way and multi-way groupings."""
    metric = choose_metric(table, options.metric)
    table = numeric_metric(table, metric)
    goal = options.goal or default_goal(metric)
    _check_states(table, options.states)
    analysed, left_out = included_runs(table, options.states)
    if analysed.empty:
        raise UserError(f"no runs in states {', '.join(options.states or ())} in "
                        f"{table.source}; try --states all")
    groups = list(dict.fromkeys(tuple(dict.fromkeys(group)) for group in options.by))
    for group in groups:
        unknown = [name for name in group if name not in table.config]
        if unknown:
            raise UserError(f"--by {','.join(group)}: {', '.join(unknown)} is not a config "
                            f"column; choose from {', '.join(table.config)}")
    singles = [group[0] for group in groups if len(group) == 1]
    params = singles or swept_params(analysed, table.config)
    multi = [list(group) for group in groups if len(group) > 1]
    return Plan(table, metric, goal, analysed, left_out, params, multi)


def _check_states(table: RunTable, states: tuple[str, ...] | None) -> None:
    """Every state asked for is a known state or one the runs have; a typo gets a hint."""
    if states is None:
        return
    known = list(dict.fromkeys([*KNOWN_STATES, *table.frame["state"].dropna()]))
    for state in states:
        if state not in known:
            close = difflib.get_close_matches(state, known, n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise UserError(f"--states: unknown state {state!r}; {hint}states are "
                            f"{', '.join(known)} (or all)")


def build_report(table: RunTable, out_dir: Path, options: ReportOptions) -> list[Section]:
    """Write the report directory for `table`; returns its sections.

    Everything is checked first, and the files are written into a temporary folder beside
    `out_dir`, then moved in: an error leaves no half-written report."""
    plan = analysis_plan(table, options)
    rerun_path = Path(options.rerun or out_dir / RERUN_FILE)
    rerun = read_rerun(rerun_path) if rerun_path.is_file() else None
    staging = _staging_dir(out_dir)
    try:
        sections = _write_report(plan, staging, options.top_k, rerun)
        out_dir.mkdir(exist_ok=True)
        for path in staging.iterdir():
            path.replace(out_dir / path.name)
    except OSError as error:
        raise UserError(f"cannot write to {out_dir} ({error.strerror or error}); pass -o with "
                        "a writable directory") from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return sections


def _staging_dir(out_dir: Path) -> Path:
    try:
        out_dir.parent.mkdir(parents=True, exist_ok=True)
        return Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", suffix=TEMP_SUFFIX,
                                     dir=out_dir.parent))
    except OSError as error:
        raise UserError(f"cannot write to {out_dir} ({error.strerror or error}); pass -o with "
                        "a writable directory") from None


def _write_report(plan: Plan, out_dir: Path, top_k: int, rerun: dict | None) -> list[Section]:
    table, metric, goal, analysed = plan.table, plan.metric, plan.goal, plan.analysed
    write_csv_export(table, out_dir / "runs.csv")
    one_way = one_way_stats(analysed, plan.params, metric, goal, plan.left_out)
    one_way.to_csv(out_dir / "group_stats.csv", index=False)
    importance = parameter_importance(analysed, plan.params, metric)
    multi = plan.multi
    if not multi and len(plan.params) >= 2:
        multi = [_two_most_important(importance, plan.params)]
    best = best_run(analysed, metric, goal)
    findings = run_lints(table.frame, analysed, table.config, plan.params, metric, one_way)
    sections = [
        _overview(table, metric, goal, analysed, plan.left_out, plan.params),
        _best_config(table, best, metric, goal, analysed),
        _group_section(one_way, analysed, plan.left_out, multi, metric, goal, out_dir),
        _lint_section(findings),
        _plot_section(table, analysed, plan.params, metric, goal, importance, top_k, out_dir),
        _rerun_section(best, metric, rerun),
    ]
    (out_dir / "report.md").write_text(render_markdown(sections, table.source))
    (out_dir / "report.html").write_text(render_html(sections, table.source))
    return sections


def _two_most_important(importance: pd.DataFrame, params: list[str]) -> list[str]:
    """The two parameters whose features the forest found most important."""
    if importance.empty:
        return params[:2]
    ranked = importance.groupby("parameter")["importance"].sum().sort_values(ascending=False)
    return [name for name in ranked.index if name in params][:2]


def file_stem(group: list[str], used: set[str]) -> str:
    """`A__B` for the files of a multi-way table, as a safe file name: characters other than
    letters, digits, `.`, `_` and `-` become `_`, long names are cut, repeats numbered."""
    stem = re.sub(r"[^0-9A-Za-z._-]", "_", "__".join(group))[:100]
    return claim(stem, used)


def _overview(table, metric, goal, analysed, left_out, params) -> Section:
    lines = [f"Source: {table.source}. {len(table.frame)} runs ("
             + state_counts(table.frame["state"]) + ").",
             f"Metric: {metric} (goal: {goal}). Swept parameters: "
             f"{', '.join(params) or 'none'}."]
    if len(left_out):
        lines.append(f"Excluded from the statistics: {state_counts(left_out['state'])} runs "
                     "(--states all includes them).")
    if table.skipped:
        lines.append(f"Skipped {table.skipped} unreadable run records.")
    return Section("Overview", lines)


def _best_config(table, best, metric, goal, analysed) -> Section:
    if best is None:
        return Section("Best configuration", [f"No run has a value of {metric}."])
    config = pd.DataFrame({"parameter": table.config,
                           "value": [best[column] for column in table.config]})
    curve = expected_best(analysed[metric], goal)
    blocks = [f"Best run: {best['name']} with {metric} = {best[metric]:.4g}.", config]
    if len(curve) > 1:
        half = curve.iloc[(curve["trials"] - curve["trials"].iloc[-1] / 2).abs().argmin()]
        last = curve.iloc[-1]
        blocks.append(f"Expected best of {int(half['trials'])} random runs from this sweep: "
                      f"{half['expected']:.4g} +- {half['std']:.2g}; of all "
                      f"{int(last['trials'])}: {last['expected']:.4g} +- {last['std']:.2g}. "
                      "A curve still rising at the end means more trials would likely help.")
    return Section("Best configuration", blocks)


def _group_section(one_way, analysed, left_out, multi, metric, goal, out_dir) -> Section:
    blocks = [f"{metric} per value of each parameter: runs, mean, std, best and 95 % "
              "t-interval; 'excluded' counts the runs of that value left out by state.",
              one_way]
    used: set[str] = set()
    for group in multi:
        two_way = group_stats(analysed, group, metric, goal, left_out)
        name = file_stem(group, used)
        two_way.to_csv(out_dir / f"group_stats_{name}.csv", index=False)
        blocks += [f"{metric} by {' x '.join(group)}:", two_way]
        if len(group) == 2:
            blocks.append(plots.heatmap(two_way, group[0], group[1], metric,
                                        out_dir / f"heatmap_{name}.png"))
    return Section("Group statistics", blocks)


def _lint_section(findings: list[Finding]) -> Section:
    if not findings:
        return Section("Lints", ["No lint found anything."])
    blocks = []
    for finding in findings:
        blocks += [f"[{finding.lint}] {finding.message}", finding.evidence]
    return Section("Lints", blocks)


def _plot_section(table, analysed, params, metric, goal, importance, top_k,
                  out_dir) -> Section:
    blocks = []
    steps = run_step(table.frame)
    blocks.append(plots.parallel_coordinates(analysed, params, metric, goal,
                                             out_dir / "parallel_coordinates.png"))
    interactive = plots.parallel_coordinates_svg(analysed, params, metric, goal)
    if interactive:
        blocks.append(Svg(interactive))
    blocks += ["Top decile against all runs (lift = top share / overall share):",
               top_decile_shares(analysed, params, metric, goal)]
    blocks.append(plots.metric_vs_step(table.frame, steps, metric, goal,
                                       out_dir / "metric_vs_step.png"))
    order = analysed[metric].astype("float64").sort_values(ascending=goal == "min")
    histories = {}
    for label in order.dropna().index[:top_k]:
        history = table.history(label)
        if history is not None and len(history):
            histories[str(analysed.at[label, "name"])] = history
    curves = plots.training_curves(histories, out_dir / "curves.png")
    blocks.append(curves or "No per-epoch histories in this source (CSV exports have none).")
    if not importance.empty:
        importance.to_csv(out_dir / "importance.csv", index=False)
        blocks += ["Parameter importance:", importance,
                   plots.importance_bars(importance, metric, out_dir / "importance.png")]
    blocks.append(plots.expected_best_curve(expected_best(analysed[metric], goal), metric,
                                            out_dir / "expected_best.png"))
    return Section("Plots", [block for block in blocks if block is not None])


def _rerun_section(best, metric, rerun: dict | None) -> Section:
    if rerun is None:
        return Section("Re-run of the best configuration",
                       [f"No re-runs yet ({RERUN_FILE} not found): run `vgg-sweep rerun-best "
                        "--seeds N` to check that the best configuration reproduces."])
    if best is None:
        return Section("Re-run of the best configuration", ["No best run to compare with."])
    verdict = rerun_verdict(float(best[metric]), rerun["values"])
    blocks = [verdict["verdict"] + ".",
              pd.DataFrame([{key: verdict[key] for key in ("sweep_best", "runs", "mean", "std",
                                                           "min", "max", "low", "high")}])]
    if rerun["metric"] not in (None, metric):
        blocks.append(f"Warning: the re-runs measured {rerun['metric']}, the report {metric}.")
    return Section("Re-run of the best configuration", blocks)


def _cell(value) -> str:
    if value is None or value is pd.NA or (isinstance(value, float) and value != value):
        return ""
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _shown(frame: pd.DataFrame, limit: int | None = TABLE_ROWS) -> tuple[pd.DataFrame, str]:
    if limit is None or len(frame) <= limit:
        return frame, ""
    return frame.head(limit), f"... {len(frame) - limit} more rows in the CSV files."


def _md_text(value) -> str:
    """A value as Markdown text: HTML-escaped (renderers pass raw HTML through), `|` escaped."""
    return html.escape(_cell(value), quote=False).replace("|", "\\|")


def markdown_table(frame: pd.DataFrame, limit: int | None = TABLE_ROWS) -> str:
    """A table as GitHub Markdown, cut at `limit` rows (None: every row)."""
    shown, more = _shown(frame, limit)
    lines = ["| " + " | ".join(_md_text(c) for c in shown.columns) + " |",
             "|" + "---|" * len(shown.columns)]
    lines += ["| " + " | ".join(_md_text(v) for v in row) + " |"
              for row in shown.itertuples(index=False)]
    return "\n".join(lines + ([more] if more else []))


def render_markdown(sections: list[Section], source: str) -> str:
    """The sections as GitHub Markdown; images referenced by file name beside report.md."""
    lines = [f"# Sweep report: {_md_text(source)}", ""]
    for section in sections:
        lines += [f"## {section.title}", ""]
        for block in section.blocks:
            if isinstance(block, pd.DataFrame):
                lines.append(markdown_table(block))
            elif isinstance(block, Path):
                lines.append(f"![{block.stem}]({block.name})")
            elif isinstance(block, Svg):
                lines.append("(Interactive parallel coordinates: see report.html.)")
            else:
                lines.append(_md_text(block))
            lines.append("")
    return "\n".join(lines)


STYLE = """body{font-family:sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:.5em 0 1.5em;font-size:13px}
td,th{border:1px solid #ccc;padding:2px 8px;text-align:left}th{background:#f0f0f0}
img{max-width:100%;display:block;margin:1em 0}"""


def render_html(sections: list[Section], source: str) -> str:
    """The sections as one self-contained HTML page: images inlined as data URIs."""
    parts = ["<!DOCTYPE html><html><head><meta charset='utf-8'>",
             f"<title>Sweep report: {html.escape(source)}</title><style>{STYLE}</style>",
             f"</head><body><h1>Sweep report: {html.escape(source)}</h1>"]
    for section in sections:
        parts.append(f"<h2>{html.escape(section.title)}</h2>")
        for block in section.blocks:
            if isinstance(block, pd.DataFrame):
                shown, more = _shown(block)
                parts.append(shown.to_html(index=False, escape=True, na_rep="",
                                           formatters={c: _cell for c in shown.columns}))
                parts += [f"<p>{html.escape(more)}</p>"] if more else []
            elif isinstance(block, Svg):
                parts.append("<p>Hover a line to see its run (best runs only):</p>" + block)
            elif isinstance(block, Path):
                data = base64.b64encode(block.read_bytes()).decode()
                parts.append(f"<img alt='{html.escape(block.stem)}' "
                             f"src='data:image/png;base64,{data}'>")
            else:
                parts.append(f"<p>{html.escape(str(block))}</p>")
    parts.append("</body></html>")
    return "\n".join(parts)
