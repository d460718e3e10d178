"""The report directory: `report.html`, `report.md`, the figures and the tables.

`build_report` computes every section once as data (paragraphs, `Table`s, `Image`s) and two
small renderers turn the same sections into Markdown and into one self-contained HTML page
(images as base64 data URIs, no scripts or styles from the network). The first section, "At
a glance", answers what a write-up needs (the best configuration, its test score, how sure
we are, which parameters matter, what the lints found); a table of contents follows, then
the details, every figure and table numbered with its caption. Every run name and config
value is escaped on the way out: a run named `<script>` stays text.

Files: `report.html`, `report.md`, `runs.csv`, `group_stats*.csv` and `importance.csv` (the
data), one PNG per figure, `figures/<name>.pdf` and `.svg` (print), `tables/<name>.csv`,
`.md` and `.tex` (booktabs) for every table of the page, and `best_run/` (the best run's
test-set plots, copied from its run folder).
"""

from __future__ import annotations

import base64
import contextlib
import difflib
import glob
import html
import re
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from analysis import plots
from analysis.conclusions import conclusions, from_lints
from analysis.configurations import (
    best_configuration,
    configuration_ids,
    configuration_table,
    winners_curse,
)
from analysis.effects import LEVEL, pairwise_effects
from analysis.importance import parameter_importance
from analysis.lints import Finding, run_lints
from analysis.rerun import RERUN_FILE, read_rerun, rerun_test_table, rerun_verdict
from analysis.runs import (
    KNOWN_STATES,
    RunTable,
    choose_metric,
    claim,
    default_goal,
    is_continuous,
    numeric_metric,
    run_step,
    short_number,
    state_counts,
)
from analysis.stats import (
    CONFIDENCE,
    MIN_RUNS,
    TOO_FEW,
    best_run,
    expected_best,
    group_stats,
    included_runs,
    interval_text,
    one_way_stats,
    swept_params,
    top_decile_shares,
)
from analysis.wandb_csv import write_csv_export
from vgg_sweep import telemetry_plots
from vgg_sweep.config import FIELDS
from vgg_sweep.errors import UserError
from vgg_sweep.record import RECORD_FILE, TEMP_SUFFIX

TABLE_ROWS = 40  # longer tables are cut in the page; the CSV files hold every row
TABLES_DIR = "tables"
BEST_RUN_DIR = "best_run"


class Svg(str):
    """Inline SVG markup built by us (every text in it escaped): HTML only."""


class Items(list):
    """A bulleted list of `label: text` lines (the label shown bold)."""


@dataclass
class Table:
    """A table of the page: `frame` is the data (tables/<name>.csv), `display` what the page,
    Markdown and LaTeX show (default: the frame); `collapsed` tables are opened on demand."""

    frame: pd.DataFrame
    name: str
    caption: str
    display: pd.DataFrame | None = None
    collapsed: bool = False

    @property
    def shown(self) -> pd.DataFrame:
        return self.frame if self.display is None else self.display


@dataclass
class Image:
    """A PNG of the page (its PDF and SVG beside it in figures/) with its caption; `link` is
    its path relative to the report directory."""

    path: Path
    caption: str
    link: str = ""

    def __post_init__(self):
        self.link = self.link or self.path.name


@dataclass
class Section:
    """A titled list of blocks: str (a paragraph), Table, Image, Svg."""

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
    formats: tuple[str, ...] = plots.FORMATS  # figure formats (png always)


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
        sections = _write_report(plan, Output(staging, options.formats), options.top_k, rerun)
        out_dir.mkdir(exist_ok=True)
        for path in staging.iterdir():
            if path.is_dir() and (out_dir / path.name).is_dir():  # figures/, tables/: anew
                shutil.rmtree(out_dir / path.name)
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


@dataclass
class Output:
    """The (staging) report directory and the figure formats asked for."""

    dir: Path
    formats: tuple[str, ...] = plots.FORMATS

    def image(self, figure, name: str, caption: str) -> Image | None:
        """`figure` saved as <name>.png (and figures/<name>.pdf, .svg) with its caption."""
        if figure is None:
            return None
        return Image(plots.save(figure, self.dir / f"{name}.png", self.formats), caption)


def _write_report(plan: Plan, out: Output, top_k: int, rerun: dict | None) -> list[Section]:
    table, metric, goal, analysed = plan.table, plan.metric, plan.goal, plan.analysed
    out_dir = out.dir
    write_csv_export(table, out_dir / "runs.csv")
    one_way = one_way_stats(analysed, plan.params, metric, goal, plan.left_out)
    one_way.to_csv(out_dir / "group_stats.csv", index=False)
    importance = parameter_importance(analysed, plan.params, metric)
    ranked = _ranked_params(importance, plan.params)
    multi = plan.multi
    if not multi and len(plan.params) >= 2:
        multi = [_default_heatmap(analysed, ranked)]
    best = best_run(analysed, metric, goal)
    findings = run_lints(table.frame, analysed, table.config, plan.params, metric, one_way)
    configurations = configuration_table(analysed, plan.params, metric, goal)
    sections = [
        _at_a_glance(plan, best, ranked, one_way, findings, rerun, out, configurations),
        _conclusions(plan, findings),
        _overview(table, metric, goal, analysed, plan.left_out, plan.params),
        _best_config(table, best, plan, out),
        _configurations_section(plan, configurations),
        _group_section(plan, one_way, multi, out),
        _lint_section(findings),
        _plot_section(plan, importance, top_k, out),
        _rerun_section(best, metric, rerun),
    ]
    sections = [section for section in sections if section is not None]
    write_tables(sections, out_dir / TABLES_DIR)
    (out_dir / "report.md").write_text(render_markdown(sections, table.source))
    (out_dir / "report.html").write_text(render_html(sections, table.source))
    return sections


def _ranked_params(importance: pd.DataFrame, params: list[str]) -> list[str]:
    """The parameters, most important first (the forest's importance summed over a
    parameter's features); the sweep's order when there is no importance."""
    if importance.empty:
        return list(params)
    ranked = importance.groupby("parameter")["importance"].sum().sort_values(ascending=False)
    return [name for name in ranked.index if name in params]


def _default_heatmap(analysed: pd.DataFrame, ranked: list[str]) -> list[str]:
    """The two most important categorical parameters (continuous ones only when fewer than
    two are categorical: their bins make coarser cells)."""
    categorical = [name for name in ranked if not is_continuous(analysed[name])]
    return (categorical + [name for name in ranked if name not in categorical])[:2]


def file_stem(group: list[str], used: set[str]) -> str:
    """`A__B` for the files of a multi-way table, as a safe file name: characters other than
    letters, digits, `.`, `_` and `-` become `_`, long names are cut, repeats numbered."""
    stem = re.sub(r"[^0-9A-Za-z._-]", "_", "__".join(group))[:100]
    return claim(stem, used)


def _value_text(value) -> str:
    return short_number(value) if isinstance(value, float) else _cell(value)


def _configuration_text(best: pd.Series, params: list[str]) -> str:
    return ", ".join(f"{name} {_value_text(best[name])}" for name in params
                     if not _missing(best[name])) or "(nothing swept)"


def _at_a_glance(plan: Plan, best, ranked, one_way, findings, rerun, out: Output,
                 configurations: pd.DataFrame) -> Section:
    """The answers first: the best configuration (by its mean when configurations ran with
    several seeds), its test score, how sure we are, which parameters matter, what the lints
    found, and one figure of the parameters that matter."""
    metric = plan.metric
    if best is None:
        return Section("At a glance", [f"No run has a value of {metric}."])
    seeded = best_configuration(configurations, plan.goal)
    if seeded is not None and seeded["seeds"] >= 2:
        lines = _seeded_best(plan, seeded)
        rows = plan.analysed[plan.analysed[metric].notna()]  # as configuration_table has them
        best = rows[configuration_ids(rows, plan.params) == seeded["configuration"]].iloc[0]
    else:
        lines = [f"Best configuration: {_configuration_text(best, plan.params)} (run "
                 f"{best['name']}): {metric} = {best[metric]:.4g}, the best of "
                 f"{len(plan.analysed)} runs."]
    tests = _test_metrics(plan.table, best)
    lines.append("On the test set: " + ", ".join(f"{name} = {value:.4g}"
                                                  for name, value in tests.items()) + "."
                 if tests else "On the test set: this source has no test metric (test_*) for "
                 "the best run.")
    lines.append(_how_sure(plan, best, rerun))
    if ranked:
        lines.append("Parameters that matter most (random-forest importance): "
                     + "; ".join(_best_value(one_way, name, plan.goal) for name in ranked[:3])
                     + ".")
    lines.append(f"Lints: {len(findings)} findings ("
                 + ", ".join(finding.lint for finding in findings)
                 + "); see the Lints section." if findings else "Lints: none found anything.")
    top = ranked[:3] or plan.params[:3]
    image = out.image(plots.parameter_panels(plan.analysed, plan.table.frame, top, metric),
                      "at_a_glance", f"{metric} of every run per value of the {len(top)} "
                      "parameters that matter most (box: the analysed runs; dots: every run, "
                      "coloured by state).")
    return Section("At a glance", lines + ([image] if image else []))


def _seeded_best(plan: Plan, seeded: pd.Series) -> list[str]:
    """The best configuration by its mean over seeds, and how far the best single run stands
    above its own configuration's mean (the winner's curse)."""
    metric = plan.metric
    lines = [f"Best configuration (by its mean over seeds): "
             f"{_configuration_text(seeded, [p for p in plan.params if p in seeded])}: {metric} "
             f"= {seeded['mean']:.4g} +- {seeded['std']:.2g} over {int(seeded['seeds'])} seeds "
             f"(runs {seeded['names']})."]
    curse = winners_curse(plan.analysed, plan.params, metric, plan.goal)
    if curse is not None:
        lines.append(f"Winner's curse: the best single run, {curse['run']} ({curse['best']:.4g}),"
                     f" is {curse['gap']:+.3g} from the mean of its own configuration "
                     f"({curse['mean']:.4g} over {curse['runs']} runs): quote the mean.")
    return lines


def _conclusions(plan: Plan, findings: list[Finding]) -> Section:
    """One plain sentence per swept parameter (analysis/conclusions.py), then every pair of
    values compared with the others held fixed."""
    effects = pairwise_effects(plan.analysed, plan.params, plan.metric, plan.goal)
    dead, confounded = from_lints(findings, plan.metric)
    lines = conclusions(effects, plan.params, plan.metric, plan.goal, dead, confounded)
    if not lines:
        return Section("Conclusions", ["Nothing swept: nothing to compare."])
    intro = (f"Each line compares a parameter's values with every other parameter held fixed "
             f"(a linear model of {plan.metric} on all the analysed runs, not group means, "
             f"which mix parameters a sampler moved together). Intervals hold together at "
             f"{LEVEL:.0%} over all the comparisons (Bonferroni); 'P(better run)' is the chance "
             "that a run with the first value beats an otherwise identical run with the other "
             "(Bouthillier et al. 2021). Values with fewer than 3 runs are not compared.")
    shown = effects.assign(**{column: effects[column].round(4) for column in
                              ("effect", "ci_low", "ci_high", "p_improve")})
    return Section("Conclusions", [intro, Items(lines), Table(
        shown, "effects", f"Every pair of values of every parameter: effect = {plan.metric} "
        f"with `value` minus with `against`, the rest held fixed, its {LEVEL:.0%} interval "
        "(family-wise) and P(better run).", collapsed=True)])


def _configurations_section(plan: Plan, configurations: pd.DataFrame) -> Section | None:
    """Runs identical but for their seed, when some configuration has several seeds."""
    if configurations.empty or configurations["seeds"].max() < 2:
        return None
    order = configurations.sort_values("mean", ascending=plan.goal == "min")
    return Section("Configurations", [
        "Runs identical in every swept parameter but their seed form one configuration; its "
        "mean over seeds is what a write-up quotes, its best run is partly luck.",
        Table(order, "configurations", f"Every configuration: runs, distinct seeds, mean, std "
              f"and best of {plan.metric}, its runs, its swept values.")])


def _expected_half_and_all(plan: Plan) -> tuple[pd.Series, pd.Series] | None:
    """The expected best (Dodge et al.) of about half the runs and of all of them; None for
    fewer than 2 runs."""
    curve = expected_best(plan.analysed[plan.metric], plan.goal)
    if len(curve) < 2:
        return None
    half = curve.iloc[(curve["trials"] - curve["trials"].iloc[-1] / 2).abs().argmin()]
    return half, curve.iloc[-1]


def _how_sure(plan: Plan, best, rerun: dict | None) -> str:
    metric = plan.metric
    text = "How sure: the best of many runs is partly luck (it is a maximum). "
    expected = _expected_half_and_all(plan)
    if expected:
        half = expected[0]
        text += (f"Half as many runs would have found {half['expected']:.4g} +- "
                 f"{half['std']:.2g} on average. ")
    if rerun is None:
        return text + "Not re-run with other seeds yet (vgg-sweep rerun-best)."
    verdict = rerun_verdict(float(best[metric]), rerun["values"])
    return text + f"Re-runs: {verdict['verdict']}."


def _best_value(one_way: pd.DataFrame, name: str, goal: str) -> str:
    """`optimizer (best mean: Nadam, 80.1 over 31 runs)`; groups of MIN_RUNS runs or more
    preferred, as a mean of fewer says little."""
    rows = one_way[one_way["parameter"] == name]
    solid = rows[rows["runs"] >= MIN_RUNS]
    rows = solid if len(solid) else rows
    if rows.empty or rows["mean"].isna().all():
        return name
    top = rows.loc[rows["mean"].idxmax() if goal == "max" else rows["mean"].idxmin()]
    return (f"{name} (best mean: {_value_text(top['value'])}, {top['mean']:.4g} over "
            f"{int(top['runs'])} runs)")


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


def _missing(value) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and value != value)


def _test_metrics(table: RunTable, best: pd.Series) -> dict[str, float]:
    """The best run's test-set numbers (summary columns named test_*)."""
    return {name: float(best[name]) for name in table.summary
            if name.startswith("test_") and isinstance(best[name], int | float)
            and not _missing(best[name])}


def _differs_from_default(name: str, value) -> bool:
    """A trainer field whose value is not its default; a field the trainer does not know
    (another project's key) counts as differing: we cannot tell."""
    if name not in FIELDS:
        return True
    default = FIELDS[name].default
    if isinstance(default, bool) or isinstance(value, bool):
        return str(value).lower() != str(default).lower()
    if isinstance(default, int | float):
        try:
            return float(value) != float(default)  # numpy's numbers too: 0 is 0.0
        except (TypeError, ValueError):
            pass
    return str(value).lower() != str(default).lower()


def _best_config(table: RunTable, best, plan: Plan, out: Output) -> Section:
    metric = plan.metric
    if best is None:
        return Section("Best configuration", [f"No run has a value of {metric}."])
    tests = _test_metrics(table, best)
    blocks: list = [f"Best run: {best['name']} with {metric} = {best[metric]:.4g}"
                    + "".join(f", {name} = {value:.4g}" for name, value in tests.items()) + "."]
    rows = []
    for name in table.config:
        value = best[name]
        if _missing(value):
            continue
        if name in plan.params:
            rows.append({"parameter": name, "value": value, "why shown": "swept"})
        elif _differs_from_default(name, value):
            default = FIELDS[name].default if name in FIELDS else None
            rows.append({"parameter": name, "value": value, "why shown":
                         f"default {default}" if name in FIELDS else "not a trainer field"})
    blocks.append(Table(pd.DataFrame(rows, columns=["parameter", "value", "why shown"]),
                        "best_config", "The best run's parameters that were swept or differ "
                        "from the trainer's defaults."))
    every = pd.DataFrame({"parameter": table.config,
                          "value": [best[column] for column in table.config]})
    blocks.append(Table(every, "best_config_all", "Every config field of the best run.",
                        collapsed=True))
    blocks += _best_run_artifacts(table, best, out)
    expected = _expected_half_and_all(plan)
    if expected:
        half, last = expected
        blocks.append(f"Expected best of {int(half['trials'])} random runs from this sweep: "
                      f"{half['expected']:.4g} +- {half['std']:.2g}; of all "
                      f"{int(last['trials'])}: {last['expected']:.4g} +- {last['std']:.2g}. "
                      "A curve still rising at the end means more trials would likely help.")
    return Section("Best configuration", blocks)


ARTIFACT_CAPTIONS = {"confusion_matrix": "Confusion matrix of the best run on the test set.",
                     "per_class_accuracy": "Per-class test accuracy of the best run.",
                     "predictions": "Test images and the best run's predictions "
                                    "(pred / true)."}


def _best_run_artifacts(table: RunTable, best, out: Output) -> list:
    """The best run's learning curves and its test-set plots (runs directories), copied
    into best_run/ so that the report directory stands alone."""
    blocks: list = []
    history = table.history(best.name)
    if history is not None and len(history):
        blocks.append(out.image(plots.training_curves({str(best["name"]): history}),
                                "best_run_curves", "Loss and accuracy per epoch of the best "
                                "run."))
    folder = _run_folder(table, best)
    if folder is None:
        return blocks
    shown = _test_set_plots(folder, out.dir / BEST_RUN_DIR)
    blocks += [Image(shown[stem], caption, f"{BEST_RUN_DIR}/{shown[stem].name}")
               for stem, caption in ARTIFACT_CAPTIONS.items() if stem in shown]
    return blocks


def _test_set_plots(folder: Path, target: Path) -> dict[str, Path]:
    """The run's test-set PNGs in `target`: copied when it drew them (plots=true), else drawn
    from its record and saved sample; none for a run that has neither (another program's)."""
    sources = {stem: folder / "artifacts" / f"{stem}.png" for stem in ARTIFACT_CAPTIONS}
    shown: dict[str, Path] = {}
    if not all(path.is_file() for path in sources.values()):
        with contextlib.suppress(OSError, KeyError, ValueError, TypeError):
            shown = telemetry_plots.redraw_test_set(folder, target)
    for stem, path in sources.items():
        if path.is_file():
            target.mkdir(exist_ok=True)
            shown[stem] = Path(shutil.copyfile(path, target / path.name))
    return shown


def _run_folder(table: RunTable, best) -> Path | None:
    """The best run's folder when the source is a runs directory (`<root>/.../<id>/`)."""
    root = Path(table.source)
    if not root.is_dir() or _missing(best.get("id")):
        return None
    pattern = f"{glob.escape(str(best['id']))}/{RECORD_FILE}"
    return next((path.parent for path in root.rglob(pattern)), None)


def _shown_stats(table: pd.DataFrame) -> pd.DataFrame:
    """A group table as the page shows it: the interval as text, TOO_FEW where there is none."""
    interval = [interval_text(low, high) for low, high in zip(table["ci_low"], table["ci_high"],
                                                                strict=True)]
    shown = table.drop(columns=["ci_low", "ci_high"])
    shown.insert(shown.columns.get_loc("best") + 1, f"{CONFIDENCE:.0%} CI of mean", interval)
    return shown


def _group_section(plan: Plan, one_way, multi, out: Output) -> Section:
    metric, analysed = plan.metric, plan.analysed
    blocks: list = []
    blocks.append(out.image(plots.parameter_panels(analysed, plan.table.frame, plan.params,
                                                   metric), "parameters",
                            f"{metric} per value of every swept parameter (continuous ones "
                            "against their value; box: the analysed runs; dots: every run, "
                            "coloured by state)."))
    blocks.append(Table(one_way, "group_stats", f"{metric} per value of each parameter "
                        "(continuous parameters in bins): runs, mean, std, best, the 95 % "
                        f"t-interval of the mean clipped to the metric's range ({TOO_FEW} "
                        f"below {MIN_RUNS} runs); 'excluded' counts the runs of that value "
                        "left out by state.", display=_shown_stats(one_way)))
    used: set[str] = set()
    for group in multi:
        two_way = group_stats(analysed, group, metric, plan.goal, plan.left_out)
        name = file_stem(group, used)
        two_way.to_csv(out.dir / f"group_stats_{name}.csv", index=False)
        blocks.append(Table(two_way, f"group_stats_{name}",
                            f"{metric} by {' x '.join(group)}.", display=_shown_stats(two_way)))
        if len(group) == 2:
            blocks.append(out.image(plots.heatmap(two_way, group[0], group[1], metric),
                                    f"heatmap_{name}", f"Mean {metric} by {group[0]} and "
                                    f"{group[1]} (n: runs per cell)."))
    return Section("Group statistics", [block for block in blocks if block is not None])


def _lint_section(findings: list[Finding]) -> Section:
    if not findings:
        return Section("Lints", ["No lint found anything."])
    blocks: list = []
    used: set[str] = set()
    for finding in findings:
        name = claim("lint_" + re.sub(r"[^0-9a-z]+", "_", finding.lint), used)
        blocks.append(Table(finding.evidence, name, f"[{finding.lint}] {finding.message}"))
    return Section("Lints", blocks)


def _plot_section(plan: Plan, importance, top_k, out: Output) -> Section:
    table, analysed, params = plan.table, plan.analysed, plan.params
    metric, goal = plan.metric, plan.goal
    blocks: list = []
    blocks.append(out.image(plots.parallel_coordinates(analysed, params, metric, goal),
                            "parallel_coordinates", "Parallel coordinates: one line per run "
                            f"across the swept parameters, coloured by {metric} (best runs on "
                            "top)."))
    interactive = plots.parallel_coordinates_svg(analysed, params, metric, goal)
    if interactive:
        blocks.append(Svg(interactive))
    blocks.append(Table(top_decile_shares(analysed, params, metric, goal), "top_decile",
                        "Top decile against all runs (lift = top share / overall share)."))
    blocks.append(out.image(plots.metric_vs_step(table.frame, run_step(table.frame), metric,
                                                 goal), "metric_vs_step",
                            f"{metric} of each run in creation order, with the best so far: a "
                            "flat line means the sweep stopped finding better runs."))
    order = analysed[metric].astype("float64").sort_values(ascending=goal == "min")
    histories = {}
    for label in order.dropna().index[:top_k]:
        history = table.history(label)
        if history is not None and len(history):
            histories[str(analysed.at[label, "name"])] = history
    curves = out.image(plots.training_curves(histories), "curves",
                       f"Training curves of the {len(histories)} best runs.")
    blocks.append(curves or "No per-epoch histories in this source (CSV exports have "
                  "none).")
    if not importance.empty:
        importance.to_csv(out.dir / "importance.csv", index=False)
        blocks += [Table(importance, "importance", "Parameter importance (random forest on "
                         f"ranks) and linear correlation with {metric}."),
                   out.image(plots.importance_bars(importance, metric), "importance",
                             "Parameter importance and correlation, most important first.")]
    blocks.append(out.image(plots.expected_best_curve(expected_best(analysed[metric], goal),
                                                      metric), "expected_best",
                            f"Expected best {metric} of n runs drawn from this sweep, +- one "
                            "std (Dodge et al. 2019)."))
    return Section("Plots", [block for block in blocks if block is not None])


def _rerun_section(best, metric, rerun: dict | None) -> Section:
    if rerun is None:
        return Section("Re-run of the best configuration",
                       [f"No re-runs yet ({RERUN_FILE} not found): run `vgg-sweep rerun-best "
                        "--seeds N` to check that the best configuration reproduces."])
    if best is None:
        return Section("Re-run of the best configuration", ["No best run to compare with."])
    verdict = rerun_verdict(float(best[metric]), rerun["values"])
    columns = ("sweep_best", "runs", "mean", "std", "gap", "min", "max", "low", "high")
    blocks: list = [verdict["verdict"] + ".",
                    Table(pd.DataFrame([{key: verdict[key] for key in columns}]), "rerun",
                          f"{metric} of the re-runs against the sweep's best (gap = best - "
                          "mean; low, high = mean -+ 2 std).")]
    if rerun["metric"] not in (None, metric):
        blocks.append(f"Warning: the re-runs measured {rerun['metric']}, the report {metric}.")
    if rerun.get("test"):
        blocks.append(Table(rerun_test_table(rerun), "rerun_test",
                            "Test-set metrics of the re-runs: mean +- std over the seeds, and "
                            "every seed's value."))
    return Section("Re-run of the best configuration", blocks)


# --- writing the tables and the pages -----------------------------------------------------


def _cell(value) -> str:
    if _missing(value):
        return ""
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _shown(frame: pd.DataFrame, limit: int | None = TABLE_ROWS) -> tuple[pd.DataFrame, str]:
    if limit is None or len(frame) <= limit:
        return frame, ""
    return frame.head(limit), f"... {len(frame) - limit} more rows in the CSV files."


def _md_text(value) -> str:
    """A value as Markdown text: `<` escaped where it would open an HTML tag (renderers pass
    raw HTML through; `<=` stays as it is), `|` escaped."""
    text = re.sub(r"&(?=#?\w+;)", "&amp;", _cell(value))
    return re.sub(r"<(?=[A-Za-z/!?])", "&lt;", text).replace("|", "\\|")


def markdown_table(frame: pd.DataFrame, limit: int | None = TABLE_ROWS) -> str:
    """A table as GitHub Markdown, cut at `limit` rows (None: every row)."""
    shown, more = _shown(frame, limit)
    lines = ["| " + " | ".join(_md_text(c) for c in shown.columns) + " |",
             "|" + "---|" * len(shown.columns)]
    lines += ["| " + " | ".join(_md_text(v) for v in row) + " |"
              for row in shown.itertuples(index=False)]
    return "\n".join(lines + ([more] if more else []))


LATEX_SPECIALS = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#",
                  "_": r"\_", "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}",
                  "^": r"\textasciicircum{}", "<": r"\textless{}", ">": r"\textgreater{}"}


def _tex(value) -> str:
    return "".join(LATEX_SPECIALS.get(char, char) for char in _cell(value))


def latex_table(frame: pd.DataFrame, caption: str, label: str) -> str:
    """A table as LaTeX with booktabs rules (`\\usepackage{booktabs}`), numbers right-aligned."""
    align = "".join("r" if pd.api.types.is_numeric_dtype(frame[column])
                    and not pd.api.types.is_bool_dtype(frame[column]) else "l"
                    for column in frame.columns)
    lines = [r"\begin{table}[ht]", r"\centering", rf"\caption{{{_tex(caption)}}}",
             rf"\label{{tab:{label}}}", rf"\begin{{tabular}}{{{align}}}", r"\toprule",
             " & ".join(_tex(column) for column in frame.columns) + r" \\", r"\midrule"]
    lines += [" & ".join(_tex(value) for value in row) + r" \\"
              for row in frame.itertuples(index=False)]
    lines += [r"\bottomrule", r"\end{tabular}", r"\end{table}"]
    return "\n".join(lines) + "\n"


def write_tables(sections: list[Section], folder: Path) -> None:
    """Every table of the report as tables/<name>.csv (the data), .md and .tex (as shown)."""
    folder.mkdir(exist_ok=True)
    for section in sections:
        for block in section.blocks:
            if isinstance(block, Table):
                block.frame.to_csv(folder / f"{block.name}.csv", index=False)
                (folder / f"{block.name}.md").write_text(markdown_table(block.shown, None) + "\n")
                (folder / f"{block.name}.tex").write_text(
                    latex_table(block.shown, block.caption, block.name))


def _anchor(title: str) -> str:
    return re.sub(r"[^0-9a-z]+", "-", title.lower()).strip("-")


def _numbered(sections: list[Section]) -> dict[int, str]:
    """`Figure 3` / `Table 5` for every image and table, by id, in page order."""
    labels, counts = {}, {"Figure": 0, "Table": 0}
    for section in sections:
        for block in section.blocks:
            kind = "Figure" if isinstance(block, Image) else "Table" if isinstance(
                block, Table) else None
            if kind:
                counts[kind] += 1
                labels[id(block)] = f"{kind} {counts[kind]}"
    return labels


def render_markdown(sections: list[Section], source: str) -> str:
    """The sections as GitHub Markdown; images referenced by file name beside report.md,
    tables numbered with their captions; a table of contents after the first section."""
    labels = _numbered(sections)
    lines = [f"# Sweep report: {_md_text(source)}", ""]
    for index, section in enumerate(sections):
        lines += [f"## {section.title}", ""]
        for block in section.blocks:
            if isinstance(block, Table):
                lines.append(f"*{labels[id(block)]}: {_md_text(block.caption)}* "
                             f"(`{TABLES_DIR}/{block.name}.csv`, `.tex`)")
                lines.append("" if block.collapsed else "\n" + markdown_table(block.shown))
            elif isinstance(block, Image):
                lines += [f"![{_md_text(block.caption)}]({block.link})",
                          "", f"*{labels[id(block)]}: {_md_text(block.caption)}*"]
            elif isinstance(block, Svg):
                lines.append("(Interactive parallel coordinates: see report.html.)")
            elif isinstance(block, Items):
                for item in block:
                    label, _, rest = item.partition(": ")
                    lines.append(f"- **{_md_text(label)}:** {_md_text(rest)}")
            else:
                lines.append(_md_text(block))
            lines.append("")
        if index == 0:
            lines += ["## Contents", ""] + [f"- [{s.title}](#{_anchor(s.title)})"
                                            for s in sections[1:]] + [""]
    return "\n".join(lines)


STYLE = """body{font-family:sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:.3em 0 1em;font-size:13px}
td,th{border:1px solid #ccc;padding:2px 8px;text-align:left}th{background:#f0f0f0}
img{max-width:100%;display:block;margin:.5em 0}figure{margin:1em 0}
figcaption{font-size:13px;color:#444;margin:.2em 0}
.glance{background:#f6f8fa;border:1px solid #d0d7de;border-radius:6px;padding:.2em 1.2em}
.glance li{margin:.3em 0}"""


def _html_table(frame: pd.DataFrame) -> str:
    shown, more = _shown(frame)
    head = "".join(f"<th>{html.escape(str(column))}</th>" for column in shown.columns)
    rows = "".join("<tr>" + "".join(f"<td>{html.escape(_cell(value))}</td>" for value in row)
                   + "</tr>" for row in shown.itertuples(index=False))
    table = f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>"
    return table + (f"<p>{html.escape(more)}</p>" if more else "")


def _html_block(block, label: str | None) -> str:
    if isinstance(block, Table):
        caption = html.escape(f"{label}: {block.caption}")
        if block.collapsed:
            return f"<details><summary>{caption}</summary>{_html_table(block.shown)}</details>"
        return f"<figure><figcaption>{caption}</figcaption>{_html_table(block.shown)}</figure>"
    if isinstance(block, Image):
        data = base64.b64encode(block.path.read_bytes()).decode()
        return (f"<figure><img alt='{html.escape(block.caption)}' "
                f"src='data:image/png;base64,{data}'><figcaption>"
                f"{html.escape(f'{label}: {block.caption}')}</figcaption></figure>")
    if isinstance(block, Svg):
        return ("<figure class='parallel'><figcaption>Hover a line to see its run (the best "
                f"runs only).</figcaption>{block}</figure>")
    if isinstance(block, Items):
        return f"<ul>{''.join(_glance_item(item) for item in block)}</ul>"
    return f"<p>{html.escape(str(block))}</p>"


def _glance_item(line: str) -> str:
    """A `label: text` line as a list item: its label bold, the Lints section linked."""
    label, _, rest = line.partition(": ")
    text = (f"<strong>{html.escape(label)}:</strong> {html.escape(rest)}" if rest
            else html.escape(line))
    return "<li>" + text.replace("the Lints section", "the <a href='#lints'>Lints section</a>") \
        + "</li>"


def render_html(sections: list[Section], source: str) -> str:
    """The sections as one self-contained HTML page: images inlined as data URIs, the first
    section boxed as a list, then a table of contents."""
    labels = _numbered(sections)
    parts = ["<!DOCTYPE html><html><head><meta charset='utf-8'>",
             f"<title>Sweep report: {html.escape(source)}</title><style>{STYLE}</style>",
             f"</head><body><h1>Sweep report: {html.escape(source)}</h1>"]
    for index, section in enumerate(sections):
        parts.append(f"<h2 id='{_anchor(section.title)}'>{html.escape(section.title)}</h2>")
        if index == 0:
            items = [_glance_item(b) for b in section.blocks if isinstance(b, str)]
            parts.append(f"<div class='glance'><ul>{''.join(items)}</ul>")
            parts += [_html_block(b, labels.get(id(b))) for b in section.blocks
                      if not isinstance(b, str)]
            parts.append("</div><h2 id='contents'>Contents</h2><ul>" + "".join(
                f"<li><a href='#{_anchor(s.title)}'>{html.escape(s.title)}</a></li>"
                for s in sections[1:]) + "</ul>")
            continue
        parts += [_html_block(block, labels.get(id(block))) for block in section.blocks]
    parts.append("</body></html>")
    return "\n".join(parts)
