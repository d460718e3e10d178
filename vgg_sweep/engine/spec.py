"""Load a W&B sweep YAML and validate it against W&B's schema and our TrialConfig.

W&B's rules come from its open-source engine (`sweeps` 0.2.0, `config/schema.json`) and the
client's `_validate_config_and_fill_distribution`: the top-level keys, the distribution kinds
and their keys, how a distribution is inferred when omitted, min < max, grid only over finite
kinds, hyperband keys. Ours come from `vgg_sweep.config`: every parameter is a TrialConfig
field, every value passes `parse_value`, every range lies inside the field's bounds. A
sweep whose `program:`/`command:` is not our trainer (`SweepSpec.foreign`, run by
`engine/foreign.py`) gets W&B's rules only: any name, any range, any metric, and W&B's
nested parameters (flattened to `outer.inner`). The first problem found is raised as one
`SpecError` line naming the file, the key and the fix, before any trial starts; things W&B
accepts but that will surprise (a `1e-3` that YAML reads as a string) are returned as
warnings.

Validated means usable: every value in an accepted file is plain data that an Optuna study
stores and gives back (strings without NUL, integers within 2**53, finite floats; no dates,
bytes or sets), every draw's range is finite, and the work is bounded (the file's size, the
nodes its aliases expand to, the grid's size, the runs planned up front).
"""

from __future__ import annotations

import dataclasses
import datetime
import difflib
import math
import reprlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from vgg_sweep import config as trial_config
from vgg_sweep.config import ConfigError, describe_allowed, field_type, parse_value
from vgg_sweep.engine.distributions import TAIL_Z, support
from vgg_sweep.engine.methods import MAX_RUNS, METHODS, Method
from vgg_sweep.errors import UserError
from vgg_sweep.registry import METRICS, MODELS

TOP_LEVEL = ("program", "command", "method", "metric", "parameters", "early_terminate",
             "run_cap", "name", "description", "project", "entity",
             "apiVersion", "kind", "controller",  # these three: W&B schema, ignored here
             "seeds")  # ours: seeds per configuration (W&B warns of the key and ignores it)
GOALS = ("minimize", "maximize")
METRIC_KEYS = ("name", "goal", "target", "impute")
HYPERBAND_KEYS = ("type", "min_iter", "max_iter", "s", "eta", "strict")

# W&B distribution -> (required keys, optional keys with W&B's defaults).
KINDS: dict[str, tuple[tuple[str, ...], dict[str, float]]] = {
    "constant": (("value",), {}),
    "categorical": (("values",), {}),
    "categorical_w_probabilities": (("values", "probabilities"), {}),
    "int_uniform": (("min", "max"), {}),
    "uniform": (("min", "max"), {}),
    "q_uniform": (("min", "max"), {"q": 1.0}),
    "log_uniform": (("min", "max"), {}),
    "log_uniform_values": (("min", "max"), {}),
    "q_log_uniform": (("min", "max"), {"q": 1.0}),
    "q_log_uniform_values": (("min", "max"), {"q": 1.0}),
    "inv_log_uniform": (("min", "max"), {}),
    "inv_log_uniform_values": (("min", "max"), {}),
    "normal": ((), {"mu": 0.0, "sigma": 1.0}),
    "q_normal": ((), {"mu": 0.0, "sigma": 1.0, "q": 1.0}),
    "log_normal": ((), {"mu": 0.0, "sigma": 1.0}),
    "q_log_normal": ((), {"mu": 0.0, "sigma": 1.0, "q": 1.0}),
    "beta": ((), {"a": 1.0, "b": 1.0}),
    "q_beta": ((), {"a": 1.0, "b": 1.0, "q": 1.0}),
}
FINITE_KINDS = ("constant", "categorical", "int_uniform", "q_uniform")  # W&B's grid kinds
CHOICE_KINDS = ("constant", "categorical", "categorical_w_probabilities")
# Bounds on the work an accepted file can ask for; sweep files are a few hundred bytes.
MAX_FILE_BYTES = 64 * 1024  # PyYAML reads ~70 KB/s: under a second
MAX_NODES = 100_000  # YAML nodes once aliases are expanded (a "billion laughs" file)
MAX_DEPTH = 32  # nesting levels; a sweep file needs 5
MAX_BANDS = 100  # hyperband bands, W&B's count for min_iter
MAX_INT = 2**53  # the largest integer a float64 (Optuna's params, JSON readers) holds exactly
MAX_NAME_BYTES = 200  # the sweep's name is a folder name
OUR_TRAINER = ("vgg_sweep", "vgg-sweep")  # a command with one of these words runs our trainer
MAX_SEEDS = 100  # seeds per configuration
_SHORT = reprlib.Repr()  # values quoted in messages: a line, not the whole value
_SHORT.maxstring = _SHORT.maxother = 60
_show = _SHORT.repr


class SpecError(UserError):
    """A sweep YAML problem: `file: key: what is wrong; what to write instead`."""

    def __init__(self, path: Path | str, key: str, message: str):
        super().__init__(f"{path}: {key}: {message}")
        self.key = key


@dataclass(frozen=True)
class Param:
    """One swept TrialConfig field (or a foreign program's parameter): its W&B distribution
    and that distribution's keys (defaults filled in as W&B fills them). A foreign program's
    nested parameter is named by its keys joined with `.` (`optimizer.lr`); `keys` holds them."""

    name: str
    kind: str
    args: dict[str, Any]
    keys: tuple[str, ...] = ()  # a nested parameter's keys; () for a top-level one

    @property
    def finite(self) -> bool:
        return self.kind in FINITE_KINDS


@dataclass(frozen=True)
class Hyperband:
    """W&B's early_terminate: stop a run whose metric is not in the top 1/eta at a band."""

    bands: tuple[int, ...]
    eta: float
    strict: bool = False


@dataclass(frozen=True)
class SweepSpec:
    path: Path
    name: str
    method: str  # a name in METHODS
    params: dict[str, Param]  # in YAML order
    metric: str | None = None
    goal: str = "minimize"
    hyperband: Hyperband | None = None
    run_cap: int | None = None
    program: str | None = None  # the YAML's program: and command:, as a W&B agent runs them
    command: tuple[str, ...] | None = None
    seeds: int = 1  # runs per configuration, seeds seed, seed + 1, ... (docs/sweeps.md)
    warnings: tuple[str, ...] = ()

    @property
    def search(self) -> Method:
        """The sweep method: what is planned, sampled and drawn (`methods.py`)."""
        return METHODS[self.method]

    @property
    def constants(self) -> dict[str, Any]:
        return {n: p.args["value"] for n, p in self.params.items() if p.kind == "constant"}

    @property
    def foreign(self) -> bool:
        """The sweep runs its own program, not our trainer (`engine/foreign.py`)."""
        return is_foreign(self.program, self.command)

    def program_params(self, point: dict[str, Any]) -> dict[str, Any]:
        """A point as W&B hands it to a program: nested parameters nested again
        (`{"optimizer.lr": 0.1}` -> `{"optimizer": {"lr": 0.1}}`), in the YAML's order."""
        nested: dict[str, Any] = {}
        for name, value in ({n: point[n] for n in self.params if n in point} | point).items():
            param = self.params.get(name)
            keys = param.keys if param is not None and param.keys else (name,)
            target = nested
            for key in keys[:-1]:
                target = target.setdefault(key, {})
            target[keys[-1]] = value
        return nested

    @property
    def unbounded(self) -> bool:
        """Nothing planned and no run_cap: trials are drawn until --count or Ctrl-C."""
        return self.run_cap is None and not self.search.plans(self)


def is_foreign(program: Any, command: Any) -> bool:
    """Not our trainer: a program: or command: given, and no word of the command (or the
    program) is vgg_sweep or vgg-sweep, as in our sweeps/*.yaml (`-m vgg_sweep train`)."""
    if program is None and command is None:
        return False
    words = [*(command if isinstance(command, list | tuple) else []), program]
    return not any(Path(str(word)).name in OUR_TRAINER for word in words if word is not None)


# --- loading -------------------------------------------------------------------------------------

def load_spec(path: Path | str, overrides: dict[str, str] | None = None) -> SweepSpec:
    """Read and validate a sweep YAML; `overrides` pin fields to constants (`epochs=1`)."""
    path = Path(path)
    try:
        with path.open("rb") as file:
            data = file.read(MAX_FILE_BYTES + 1)
    except OSError as error:
        raise UserError(f"{path}: cannot read the sweep file ({error.strerror})") from None
    if len(data) > MAX_FILE_BYTES:
        raise UserError(f"{path}: larger than {MAX_FILE_BYTES // 1024} KiB; a sweep file is a "
                        "few hundred bytes: pass a sweep YAML")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise UserError(f"{path}: not a text file (not UTF-8); pass a sweep YAML") from None
    spec = parse_spec(_read_yaml(text, path), path)
    spec = with_overrides(spec, overrides) if overrides else spec
    return dataclasses.replace(spec, warnings=spec.warnings + _metric_not_logged(spec)
                               + _bands_not_validated(spec))


def _read_yaml(text: str, path: Path) -> Any:
    """`yaml.safe_load`, refusing aliases that expand past MAX_NODES or MAX_DEPTH."""
    try:
        loader = yaml.SafeLoader(text)  # refuses characters YAML does not allow
        node = loader.get_single_node()
        if node is None:
            return None
        nodes, depth = _expanded_size(node, {}, path)
        if nodes > MAX_NODES or depth > MAX_DEPTH:
            raise SpecError(path, "yaml", f"expands to {nodes} nodes {depth} levels deep (limits "
                            f"{MAX_NODES}, {MAX_DEPTH}); write the sweep without nested aliases")
        return loader.construct_document(node)
    except yaml.YAMLError as error:
        raise SpecError(path, "yaml", _yaml_problem(error, text)) from None
    except RecursionError:
        raise SpecError(path, "yaml", f"nested more than {MAX_DEPTH} levels deep") from None


def _expanded_size(node: yaml.Node, sizes: dict, path: Path) -> tuple[int, int]:
    """(nodes, depth) of a node with its aliases expanded; each node is counted once."""
    if id(node) in sizes:
        if sizes[id(node)] is None:
            raise SpecError(path, "yaml", f"the alias at line {node.start_mark.line + 1} "
                            "contains itself; write the values out")
        return sizes[id(node)]
    sizes[id(node)] = None
    children = node.value if isinstance(node, yaml.SequenceNode) else (
        [n for pair in node.value for n in pair] if isinstance(node, yaml.MappingNode) else [])
    counts = [_expanded_size(child, sizes, path) for child in children]
    sizes[id(node)] = (1 + sum(n for n, _ in counts), 1 + max((d for _, d in counts), default=0))
    return sizes[id(node)]


def _yaml_problem(error: yaml.YAMLError, text: str) -> str:
    """The parser's problem with its line (and where the unclosed thing started)."""
    lines = text.splitlines()
    where = getattr(error, "problem_mark", None)
    problem = getattr(error, "problem", None) or getattr(error, "reason", "invalid YAML")
    if where is not None:
        line = where.line + 1
    elif isinstance(error, yaml.reader.ReaderError):  # a character YAML does not allow
        line = text.count("\n", 0, error.position) + 1
        problem = f"character {error.character!r}: {problem}"
    else:
        return problem
    line = min(line, max(len(lines), 1))  # the end of the file is its last line
    context, start = getattr(error, "context", None), getattr(error, "context_mark", None)
    if context and start is not None and start.line + 1 != line:
        problem += f" ({context} that starts at line {start.line + 1})"
    hint = ""
    if "${" in (lines[line - 1] if lines else ""):
        hint = ("; in a [...] list W&B macros need quotes: [\"${env}\", "
                "\"${interpreter}\", ...], or write one '- ${env}' item per line")
    return f"{problem} at line {line}{hint}"


def parse_spec(raw: Any, path: Path | str = "<sweep>") -> SweepSpec:
    """Validate an already-loaded sweep config (a dict as `yaml.safe_load` returns it)."""
    path = Path(path)
    if not isinstance(raw, dict):
        raise SpecError(path, "yaml", "a sweep file is a mapping with method: and parameters:")
    _check_plain(raw, "", path)
    for key in raw:
        if key not in TOP_LEVEL:
            raise SpecError(path, str(key), f"unknown top-level key{_did_you_mean(key, TOP_LEVEL)}"
                            f"; W&B sweep keys: {', '.join(TOP_LEVEL[:11])}")
    warnings: list[str] = []
    method = raw.get("method")
    if not isinstance(method, str) or method not in METHODS:
        raise SpecError(path, "method", f"{method!r} is not one of {', '.join(METHODS)}")
    metric, goal = _metric(raw.get("metric"), path)
    # A foreign program's parameters and metric are its own: W&B's schema only.
    foreign = is_foreign(raw.get("program"), raw.get("command"))
    params = _parameters(raw.get("parameters"), path, warnings, foreign)
    hyperband = _hyperband(raw.get("early_terminate"), path)
    if hyperband is not None and metric is None:
        raise SpecError(path, "early_terminate", "hyperband needs metric: {name: ..., goal: ...}")
    if metric is not None and not foreign:
        _check_metric(metric, goal, hyperband, path, warnings)
    run_cap = raw.get("run_cap")
    if run_cap is not None and (not _is_int(run_cap) or not 1 <= run_cap <= MAX_RUNS):
        raise SpecError(path, "run_cap", f"{_show(run_cap)} is not an integer in [1, {MAX_RUNS}]")
    _check_command(raw, path, warnings)
    name = raw.get("name", path.stem)
    if (not isinstance(name, str) or not name.strip() or not name.isprintable() or "/" in name
            or name in (".", "..") or len(name.encode()) > MAX_NAME_BYTES):
        raise SpecError(path, "name", f"{_show(name)} cannot name a folder (printable, no '/', "
                        f"at most {MAX_NAME_BYTES} bytes); write e.g. name: vgg6-lr")
    command = raw.get("command")
    spec = SweepSpec(path=path, name=name, method=method, params=params, metric=metric,
                     goal=goal, hyperband=hyperband, run_cap=run_cap, program=raw.get("program"),
                     command=None if command is None else tuple(map(str, command)),
                     warnings=tuple(warnings))
    spec = with_seeds(spec, raw.get("seeds", 1), "seeds")
    problem = spec.search.problem(spec)
    if problem is not None:
        raise SpecError(path, *problem)
    return spec


def with_seeds(spec: SweepSpec, seeds: Any, where: str = "--seeds") -> SweepSpec:
    """Train every configuration with `seeds` seeds (the `seeds:` key or `--seeds`)."""
    if not _is_int(seeds) or not 1 <= seeds <= MAX_SEEDS:
        raise SpecError(spec.path, where, f"{_show(seeds)} is not a number of seeds in "
                        f"[1, {MAX_SEEDS}]")
    swept = spec.params.get("seed")
    if seeds > 1 and swept is not None and swept.kind != "constant":
        raise SpecError(spec.path, where, "seed is swept in parameters: each configuration "
                        "already runs once per seed value; drop seeds, or set seed: {value: N}")
    if seeds > 1 and spec.foreign and swept is None:
        raise SpecError(spec.path, where, "your program gets each run's seed as its `seed` "
                        "parameter: add seed: {value: 0} to parameters (and read it), or drop "
                        "seeds")
    return dataclasses.replace(spec, seeds=seeds)


def with_overrides(spec: SweepSpec, overrides: dict[str, str]) -> SweepSpec:
    """Pin fields to constants (e.g. `epochs=1 dataset=synthetic` for a smoke run); a foreign
    program's parameters (any name, `optimizer.lr` for a nested one) to the value as YAML
    reads it (`1` a number, `adam` a string), as it would be written in the sweep file."""
    params = dict(spec.params)
    for key, value in overrides.items():
        where = "--override " + repr(f"{key}={value}")[1:-1]  # escapes NUL, newlines
        if spec.foreign:
            pinned = _yaml_value(value)
            _check_plain(pinned, where, spec.path)
            keys = params[key].keys if key in params else ()
            params[key] = Param(key, "constant", {"value": pinned}, keys)
            continue
        if key not in trial_config.FIELDS:
            raise SpecError(spec.path, where, _not_a_field(key))
        try:
            pinned = parse_value(key, value)
        except ConfigError as error:
            raise SpecError(spec.path, where, error.message) from None
        _check_plain(pinned, where, spec.path)
        params[key] = Param(key, "constant", {"value": pinned})
    return dataclasses.replace(spec, params=params)


def _yaml_value(text: str) -> Any:
    """`text` as YAML reads a value (a number, true, a string); as it is when YAML cannot."""
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return text


def fingerprint(spec: SweepSpec) -> dict[str, Any]:
    """What a study must keep to be resumed: the search space, the metric, the method, the
    seeds per configuration.
    Constants may differ between runs and machines (`--override data_dir=...` on each)."""
    return {"method": spec.method, "metric": spec.metric, "goal": spec.goal,
            "params": {name: [p.kind, p.args] for name, p in spec.params.items()
                       if p.kind != "constant"},
            "hyperband": None if spec.hyperband is None else list(spec.hyperband.bands),
            "run_cap": spec.run_cap, **({"seeds": spec.seeds} if spec.seeds > 1 else {})}


def settings(spec: SweepSpec) -> dict[str, Any]:
    """The fixed values every trial trains with (YAML constants and --override), which a
    resumed sweep must keep; fields that cannot change what is trained (`inert` in the
    config: data_dir, device, threads...) may differ between runs and machines; a foreign
    program's constants are all kept."""
    return {name: value for name, value in spec.constants.items()
            if spec.foreign or not trial_config.FIELDS[name].metadata.get("inert")}


def changed_settings(saved: dict[str, Any], spec: SweepSpec) -> list[str]:
    """`epochs=1 (now 2)` for each setting of `spec` that differs from the `saved` ones (a
    field left out is at its default)."""
    now = settings(spec)

    def value(given: dict[str, Any], name: str) -> Any:
        if spec.foreign:
            return given.get(name)
        return parse_value(name, given.get(name, trial_config.FIELDS[name].default))

    names = [name for name in dict.fromkeys([*saved, *now])
             if spec.foreign or name in trial_config.FIELDS]
    return [f"{name}={value(saved, name)} (now {value(now, name)})" for name in names
            if value(saved, name) != value(now, name)]


# --- sections ------------------------------------------------------------------------------------

def _metric(metric: Any, path: Path) -> tuple[str | None, str]:
    if metric is None:
        return None, "minimize"
    if not isinstance(metric, dict) or not isinstance(metric.get("name"), str):
        raise SpecError(path, "metric", "write metric: {name: val_acc, goal: maximize}")
    for key in metric:
        if key not in METRIC_KEYS:
            raise SpecError(path, f"metric.{key}", f"unknown key; metric keys: "
                            f"{', '.join(METRIC_KEYS)}")
    goal = metric.get("goal", "minimize")  # W&B's default
    if goal not in GOALS:
        raise SpecError(path, "metric.goal", f"{goal!r} is not minimize or maximize")
    return metric["name"], goal


def _hyperband(section: Any, path: Path) -> Hyperband | None:
    """Bands exactly as W&B's `hyperband_stopping.py` computes them."""
    if section is None:
        return None
    key = "early_terminate"
    if not isinstance(section, dict) or section.get("type") != "hyperband":
        raise SpecError(path, f"{key}.type", "the only W&B early_terminate type is hyperband")
    for name in section:
        if name not in HYPERBAND_KEYS:
            raise SpecError(path, f"{key}.{name}", f"unknown key; hyperband keys: "
                            f"{', '.join(HYPERBAND_KEYS)}")
    eta = section.get("eta", 3)
    if not _is_number(eta) or eta <= 1:
        raise SpecError(path, f"{key}.eta", f"{_show(eta)} must be a number > 1 (W&B default 3)")
    strict = section.get("strict", False)
    if not isinstance(strict, bool):
        raise SpecError(path, f"{key}.strict", f"{strict!r} must be true or false")
    if "max_iter" in section:
        max_iter, s = section["max_iter"], section.get("s")
        if not _is_int(max_iter) or max_iter < 1:
            raise SpecError(path, f"{key}.max_iter", f"{max_iter!r} is not a positive integer")
        if not _is_int(s) or not 1 <= s <= MAX_BANDS:
            raise SpecError(path, f"{key}.s", f"max_iter needs s: the number of bands, 1 to "
                            f"{MAX_BANDS}, e.g. 2")
        bands, band = [], max_iter
        for _ in range(s):
            band /= eta
            if band < 1:
                break
            bands.append(int(band))
        bands.sort()
    elif "min_iter" in section:
        min_iter = section["min_iter"]
        if not _is_int(min_iter) or min_iter < 1:
            raise SpecError(path, f"{key}.min_iter", f"{min_iter!r} is not a positive integer")
        bands, band = [], min_iter
        while len(bands) < MAX_BANDS and band <= MAX_INT:  # later bands are never reached
            bands.append(int(band))
            band *= eta
    else:
        raise SpecError(path, key, "hyperband needs min_iter, or max_iter and s")
    if not bands:
        raise SpecError(path, key, "no band left: raise max_iter or lower eta")
    return Hyperband(tuple(bands), float(eta), strict)


def _check_command(raw: dict, path: Path, warnings: list[str]) -> None:
    program = raw.get("program")
    if program is not None and (not isinstance(program, str) or not program.strip()):
        raise SpecError(path, "program", f"{_show(program)} is not a file name; write e.g. "
                        "program: train.py")
    command = raw.get("command")
    if command is None:
        return
    if not isinstance(command, list) or not all(isinstance(c, str | int) for c in command):
        raise SpecError(path, "command", "write a list, e.g. [${env}, ${interpreter}, -m, "
                        "vgg_sweep, train, ${args}]")
    if "${args}" not in command:
        warnings.append(f"{path}: command: no ${{args}}: a W&B agent then passes the "
                        "parameters only through wandb.config")


def _parameters(section: Any, path: Path, warnings: list[str], foreign: bool = False,
                keys: tuple[str, ...] = ()) -> dict[str, Param]:
    """The parameters by name; a foreign program's nested ones (W&B's `parameters:` inside a
    parameter) flattened to `outer.inner`, their keys kept to nest them again."""
    where = ".".join(("parameters", *keys))
    if not isinstance(section, dict) or not section:
        raise SpecError(path, where, "write at least one parameter, e.g. "
                        "parameters: {lr: {values: [0.1, 0.01]}}")
    params = {}
    for name, body in section.items():
        inner = (*keys, str(name))
        if foreign and isinstance(body, dict) and "parameters" in body:
            if len(body) > 1:
                raise SpecError(path, f"parameters.{'.'.join(inner)}", "a nested parameter "
                                "holds parameters: and nothing else")
            found = _parameters(body["parameters"], path, warnings, foreign, inner)
        else:
            param = _parameter(".".join(inner), body, path, warnings, foreign)
            found = {param.name: dataclasses.replace(param, keys=inner if keys else ())}
        for flat in found:
            if flat in params:
                raise SpecError(path, f"parameters.{flat}", "named twice (a nested parameter "
                                "and a top-level one); rename one")
        params.update(found)
    return params


def _parameter(name: str, body: Any, path: Path, warnings: list[str],
               foreign: bool = False) -> Param:
    key = f"parameters.{name}"
    if name not in trial_config.FIELDS and not foreign:
        raise SpecError(path, key, _not_a_field(name))
    if not isinstance(body, dict):
        raise SpecError(path, key, f"write {name}: {{value: {body!r}}} or {{values: [...]}}")
    if "parameters" in body:
        raise SpecError(path, key, "nested parameters: reach the trainer as one dict; "
                        "TrialConfig is flat: move each nested parameter to the top level")
    kind = body.get("distribution") or _infer_kind(name, body, path)
    if kind == "categorical" and "probabilities" in body:
        kind = "categorical_w_probabilities"
    if not isinstance(kind, str) or kind not in KINDS:
        raise SpecError(path, f"{key}.distribution", f"{_show(kind)} is not a W&B distribution"
                        f"{_did_you_mean(kind, KINDS)}; write one name, e.g. uniform")
    required, defaults = KINDS[kind]
    for arg in body:
        if arg != "distribution" and arg not in required and arg not in defaults:
            allowed = ", ".join((*required, *defaults)) or "none"
            raise SpecError(path, f"{key}.{arg}", f"not a key of {kind} (its keys: {allowed})")
    for arg in required:
        if arg not in body:
            raise SpecError(path, f"{key}.{arg}", f"{kind} needs {' and '.join(required)}")
    args = {**defaults, **{k: v for k, v in body.items() if k != "distribution"}}
    if kind in CHOICE_KINDS:
        _check_choices(name, kind, args, path, warnings, foreign)
    else:
        _check_numeric(name, kind, args, path, warnings, foreign)
    return Param(name, kind, args)


def _infer_kind(name: str, body: dict, path: Path) -> str:
    """W&B's inference: values -> categorical, value -> constant, min/max by their type."""
    if "values" in body:
        return "categorical"
    if "value" in body:
        return "constant"
    if "min" in body and "max" in body:
        low, high = body["min"], body["max"]
        for bound in ("min", "max"):
            _require_number(body[bound], f"parameters.{name}.{bound}", path)
        if _is_int(low) and _is_int(high):
            return "int_uniform"
        if isinstance(low, float) and isinstance(high, float):
            return "uniform"
        raise SpecError(path, f"parameters.{name}", f"min {low!r} and max {high!r} mix an "
                        "integer and a float, which W&B rejects as ambiguous; write both as "
                        "floats (0.0) or add distribution:")
    raise SpecError(path, f"parameters.{name}", "no distribution: write value:, values:, "
                    "min: and max:, or distribution:")


def _check_choices(name: str, kind: str, args: dict, path: Path, warnings: list[str],
                   foreign: bool = False) -> None:
    key = f"parameters.{name}"
    values = [args["value"]] if kind == "constant" else args["values"]
    if kind != "constant" and (not isinstance(values, list) or not values):
        raise SpecError(path, f"{key}.values", "write a non-empty list, e.g. values: [1, 2]")
    for value in values:
        if isinstance(value, dict | list):
            raise SpecError(path, key, f"{_show(value)} is a nested list or mapping; write "
                            "one plain value for each item")
        if foreign:
            continue
        try:
            parse_value(name, value)
        except ConfigError:
            raise SpecError(path, key, f"{_show(value)} is not {describe_allowed(name)}"
                            ) from None
        if isinstance(value, str) and field_type(name) in (int, float):
            warnings.append(f"{path}: {key}: {value!r} is a string to YAML, and W&B will log "
                            f"it as text; write {float(value)!r} or !!float {value}")
    if kind == "categorical_w_probabilities":
        probabilities = args["probabilities"]
        if (not isinstance(probabilities, list) or len(probabilities) != len(values)
                or not all(_is_number(p) and p >= 0 for p in probabilities)):
            raise SpecError(path, f"{key}.probabilities", f"write {len(values)} numbers >= 0, "
                            "one per value")
        if not math.isclose(sum(probabilities), 1.0, abs_tol=1e-8):
            raise SpecError(path, f"{key}.probabilities", f"they sum to {sum(probabilities):g}, "
                            "not 1")


def _check_numeric(name: str, kind: str, args: dict, path: Path, warnings: list[str],
                   foreign: bool = False) -> None:
    """W&B's rules for a numeric distribution; for our trainer, the field's type and range."""
    key = f"parameters.{name}"
    kind_of_field = None if foreign else field_type(name)
    if kind_of_field not in (int, float, None):
        raise SpecError(path, key, f"{kind} draws numbers but {name} takes "
                        f"{describe_allowed(name)}; write values: [...]")
    for arg, value in args.items():
        _require_number(value, f"{key}.{arg}", path)
    if kind == "int_uniform" and not (_is_int(args["min"]) and _is_int(args["max"])):
        raise SpecError(path, key, "int_uniform needs integer min and max")
    if "min" in args and args["min"] >= args["max"]:
        raise SpecError(path, key, f"min {args['min']!r} is not less than max {args['max']!r}")
    if "min" in args and kind.endswith("_values") and args["min"] <= 0:
        raise SpecError(path, f"{key}.min", f"{kind} needs min > 0 (values, not exponents)")
    for arg in ("q", "sigma", "a", "b"):  # numpy's beta needs a, b > 0; a sigma of 0 is fixed
        if arg in args and (args[arg] < 0 if arg == "sigma" else args[arg] <= 0):
            raise SpecError(path, f"{key}.{arg}", f"{args[arg]!r} must be positive")
    integral = kind == "int_uniform" or ("q" in args and float(args["q"]).is_integer())
    if kind_of_field is int and not integral:
        raise SpecError(path, key, f"{name} is an integer but {kind} draws fractions; use "
                        "int_uniform, or a q_ distribution with an integer q")
    low, high = support(Param(name, kind, args))
    if not (_storable_number(low) and _storable_number(high)):
        raise SpecError(path, key, f"{kind} draws from [{low:g}, {high:g}], beyond what a float "
                        "holds; narrow it (min/max are exponents for log_uniform, not values)")
    if foreign:  # its range is the program's business
        return
    if not (_allowed(name, low) and _allowed(name, high)):
        hint = _exponent_hint(kind) or ("; a normal draws negatives: for a positive parameter "
                                        "use log_normal or log_uniform_values"
                                        if kind.endswith("normal") and low < 0 else "")
        raise SpecError(path, key, f"{kind} draws from [{low:g}, {high:g}] but {name} takes "
                        f"{describe_allowed(name)}{hint}")
    trap = _trap(Param(name, kind, args))
    if trap:
        warnings.append(f"{path}: {key}: {trap}")


def _check_metric(name: str, goal: str, hyperband: Hyperband | None, path: Path,
                  warnings: list[str]) -> None:
    """The metric is one the trainer logs (`registry.METRICS`), per epoch where hyperband
    reads it; a goal that seeks the worst runs is warned of."""
    info = METRICS.get(name)
    if info is None:
        raise SpecError(path, "metric.name", f"{name!r} is not logged by the trainer"
                        f"{_did_you_mean(name, METRICS)}; trials log {', '.join(METRICS)}")
    if hyperband is not None and not info.per_epoch:
        per_epoch = ", ".join(m.name for m in METRICS.values() if m.per_epoch and m.better)
        raise SpecError(path, "early_terminate", f"hyperband compares {name} after every epoch "
                        f"but trials log it only at their end; use a per-epoch metric: {per_epoch}")
    wanted = {"max": "maximize", "min": "minimize"}.get(info.better or "", goal)
    if goal != wanted:
        warnings.append(f"{path}: metric.goal: {goal} {name} seeks the worst runs ("
                        f"minimize is W&B's default when goal: is left out); write goal: {wanted}")


def _metric_not_logged(spec: SweepSpec) -> tuple[str, ...]:
    """A warning naming the models (after --override) whose trials never log the metric."""
    if spec.metric is None or spec.foreign:
        return ()
    families = METRICS[spec.metric].families
    silent = [model for model in field_values(spec, "model") or ()
              if MODELS[model].family not in families]
    if not silent:
        return ()
    return (f"{spec.path}: metric.name: {', '.join(silent)} trials do not log {spec.metric}; "
            "they will end 'no metric'",)


def _bands_not_validated(spec: SweepSpec) -> tuple[str, ...]:
    """A warning when hyperband reads a validation metric after epochs that `eval_every`
    skips (the last epoch always validates): a band without a value prunes nothing there."""
    if (spec.hyperband is None or spec.foreign or "eval_every" not in spec.params
            or spec.metric is None or not spec.metric.startswith("val_")):
        return ()
    every, epochs = field_values(spec, "eval_every"), field_values(spec, "epochs")
    if every is None or epochs is None:
        return (f"{spec.path}: eval_every: drawn from a distribution, it may skip epochs at "
                f"which hyperband judges {spec.metric}: those bands prune nothing; keep "
                "eval_every: 1 with hyperband",)
    missed = sorted({band for band in spec.hyperband.bands for k in every
                     if band < max(epochs) and band % k})
    if not missed:
        return ()
    return (f"{spec.path}: eval_every: hyperband judges {spec.metric} after epochs "
            f"{', '.join(map(str, missed))}, which eval_every {'/'.join(map(str, every))} does "
            "not validate: those bands prune nothing; keep eval_every: 1 with hyperband",)


def field_values(spec: SweepSpec, name: str) -> list[Any] | None:
    """The values TrialConfig field `name` takes in the sweep, parsed (its default when not
    swept); None when it is drawn from a distribution."""
    param = spec.params.get(name)
    if param is None:
        return [trial_config.FIELDS[name].default]
    if param.kind not in ("constant", "categorical"):
        return None
    values = [param.args["value"]] if param.kind == "constant" else param.args["values"]
    return list(dict.fromkeys(parse_value(name, value) for value in values))


# W&B's legacy log distributions take exponents; the _values ones take the values themselves.
EXPONENT_KINDS = {"log_uniform": "log_uniform_values", "q_log_uniform": "q_log_uniform_values",
                  "inv_log_uniform": "inv_log_uniform_values"}
RARE = 1e-6  # a share of draws outside the field's range worth a warning


def _trap(param: Param) -> str | None:
    """What a distribution draws that its writer most likely did not mean, or None: bounds of
    an exponent distribution that read like values (the W&B exponent trap), a normal whose
    draws may leave the field's range (a negative learning rate)."""
    name, kind, args = param.name, param.kind, param.args
    if (kind in EXPONENT_KINDS and args["min"] > 0
            and _allowed(name, args["min"]) and _allowed(name, args["max"])):
        return (f"{kind} takes exponents: it draws {_span(param)}, not "
                f"{args['min']:g}..{args['max']:g}{_exponent_hint(kind)}")
    if kind in ("normal", "q_normal"):
        outside = _mass_outside(name, args["mu"], args["sigma"])
        if outside >= RARE:
            return (f"{kind} may draw any number and {name} takes {describe_allowed(name)}: "
                    f"{100 * outside:.2g} % of draws fall outside and fail; for a positive "
                    "parameter use log_normal or log_uniform_values")
    return None


def _exponent_hint(kind: str) -> str:
    if kind not in EXPONENT_KINDS:
        return ""
    return (f"; min and max of {kind} are exponents (W&B's exponent trap): for values write "
            f"distribution: {EXPONENT_KINDS[kind]}")


def _mass_outside(name: str, mu: float, sigma: float) -> float:
    """The share of normal(mu, sigma) draws outside the field's bounds."""
    meta = trial_config.FIELDS[name].metadata
    if sigma == 0:
        return 0.0
    below = _tail((mu - meta["low"]) / sigma) if meta["low"] is not None else 0.0
    above = _tail((meta["high"] - mu) / sigma) if meta["high"] is not None else 0.0
    return below + above


def _tail(z: float) -> float:
    """P(Z > z) of a standard normal."""
    return 0.5 * math.erfc(z / math.sqrt(2))


def describe_draws(spec: SweepSpec) -> list[str]:
    """What each swept parameter draws, in the values the trials get (`lr: log_uniform ->
    e^-9.21..e^-2.303 = 0.0001..0.1`)."""
    return [f"{name}: {_draws(param)}" for name, param in spec.params.items()
            if param.kind != "constant"]


def _draws(param: Param) -> str:
    kind, args = param.kind, param.args
    if kind == "categorical":
        return f"{kind} -> one of {', '.join(map(str, args['values']))}"
    if kind == "categorical_w_probabilities":
        return f"{kind} -> " + ", ".join(f"{value} ({p:g})" for value, p in
                                         zip(args["values"], args["probabilities"], strict=True))
    return f"{kind} -> {_span(param)}"


def _span(param: Param) -> str:
    """The numbers a numeric distribution draws (`e^-9.21..e^-2.303 = 0.0001..0.1`)."""
    kind, args = param.kind, param.args
    low, high = support(param)
    span = f"{low:.5g}..{high:.5g}"
    base = kind.removeprefix("q_")
    if base in ("log_uniform", "inv_log_uniform"):
        sign = "-" if base == "inv_log_uniform" else ""
        first, last = ("max", "min") if sign else ("min", "max")
        span = f"e^{sign}{args[first]:.4g}..e^{sign}{args[last]:.4g} = {span}"
    if base in ("normal", "log_normal", "beta"):
        span += f" (the central {100 * math.erf(TAIL_Z / math.sqrt(2)):.2f} % of draws)"
    if "q" in args:
        span += f" in steps of {args['q']:g}"
    return span


# --- helpers -------------------------------------------------------------------------------------

def _allowed(name: str, value: Any) -> bool:
    try:
        parse_value(name, value)
    except ConfigError:
        return False
    return True


def _storable_number(value: int | float) -> bool:
    """Finite, and an integer only up to MAX_INT: what a study stores and gives back."""
    if isinstance(value, int):
        return abs(value) <= MAX_INT
    return math.isfinite(value)


def _check_plain(value: Any, key: str, path: Path) -> None:
    """Every value is plain data a study stores as it is: str (no NUL), bool, None,
    a storable number, or lists and mappings of those."""
    where = key or "yaml"
    if isinstance(value, dict):
        for name, item in value.items():
            _check_plain(name, where, path)
            _check_plain(item, f"{key}.{name}" if key else str(name), path)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _check_plain(item, f"{where}[{index}]", path)
    elif isinstance(value, str):
        if "\0" in value or not value.isascii() and not _encodable(value):
            raise SpecError(path, where, f"{_show(value)} holds a NUL or an unpaired surrogate "
                            "character, which no file or process argument takes; remove it")
    elif isinstance(value, datetime.date):
        raise SpecError(path, where, f"YAML reads {value} as a date; quote it: '{value}'")
    elif isinstance(value, bytes):
        raise SpecError(path, where, "a !!binary value; write plain text")
    elif isinstance(value, float) and not _storable_number(value):
        raise SpecError(path, where, f"{value} is not a finite number; write a number")
    elif isinstance(value, int) and not _storable_number(value):
        raise SpecError(path, where, f"{_show(value)} is beyond +-2**53, the integers a study "
                        "stores exactly; write a smaller number")
    elif not (value is None or isinstance(value, bool | int | float)):
        raise SpecError(path, where, f"a YAML {type(value).__name__} is not plain data; write "
                        "a value, a [...] list or a {...} mapping")


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _not_a_field(name: Any) -> str:
    """Why a name cannot be swept, with the closest TrialConfig field."""
    return (f"not a TrialConfig field{_did_you_mean(name, trial_config.FIELDS)}; "
            "see vgg-sweep train --help")


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _require_number(value: Any, key: str, path: Path) -> None:
    if _is_number(value) and math.isfinite(value):
        return
    if isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            pass
        else:
            raise SpecError(path, key, f"YAML reads {value!r} as a string, which W&B rejects "
                            f"here; write {number!r} or !!float {value}")
    raise SpecError(path, key, f"{value!r} is not a number")


def _did_you_mean(word: Any, candidates) -> str:
    close = difflib.get_close_matches(str(word), list(candidates), n=1)
    return f" (did you mean {close[0]}?)" if close else ""
