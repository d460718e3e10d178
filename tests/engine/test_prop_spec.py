"""Property tests of sweep validation: whatever a sweep file or --override holds, `validate`
keeps the CLI contract (exit 0 or 2, one error line, no traceback, bounded time), and
whatever it accepts is usable: every point the engine draws from it (grid, random, bayes) is
stored in an Optuna study, read back, and turned into a trial config.
"""

from __future__ import annotations

import dataclasses
import math
import tempfile
from pathlib import Path

import yaml
from contract import assert_contract, examples, run_cli
from hypothesis import given
from hypothesis import strategies as st

from vgg_sweep.config import FIELDS, ConfigError, make_config, parse_value
from vgg_sweep.engine import work_queue
from vgg_sweep.engine.commands import parse_overrides
from vgg_sweep.engine.grid import grid_points
from vgg_sweep.engine.methods import METHODS
from vgg_sweep.engine.spec import GOALS, KINDS, load_spec
from vgg_sweep.engine.storage import open_storage, quiet_optuna

SWEEPS = sorted((Path(__file__).resolve().parents[2] / "sweeps").glob("*.yaml"))
STORED_TRIALS = 3  # trials per accepted spec that go through the study and back
UNBOUNDED = ("normal", "log_normal", "beta")  # a draw may leave the field's range (by design)


# --- the "validated means usable" check ----------------------------------------------------------

def assert_usable(spec) -> None:
    """Every grid point makes a config; STORED_TRIALS trials are claimed (or asked) as a
    worker claims them, their points stored in a journal file and read back into configs."""
    quiet_optuna()
    if spec.method == "grid":
        for point in grid_points(spec):
            make_config(point)
    if spec.search.plans(spec):  # the real queue, cut to a few points
        spec = dataclasses.replace(spec, run_cap=min(spec.run_cap or STORED_TRIALS,
                                                     STORED_TRIALS))
    with tempfile.TemporaryDirectory() as folder:
        study, created = work_queue.open_study(spec, open_storage(f"{folder}/study.log"),
                                               create=True)
        work_queue.fill_queue(study, spec, created)
        for _ in range(STORED_TRIALS):
            trial = work_queue.next_trial(study, spec, grace=1e9)
            if trial is None:
                break
            seed = work_queue.study_seed(study)
            trial.set_user_attr("params", spec.search.point(spec, trial, seed))
            study.tell(trial, 0.0)
        for frozen in study.get_trials():
            _assert_config(spec, frozen.user_attrs["params"])


def _assert_config(spec, params: dict) -> None:
    """Each value is the field's, unless drawn from an unbounded law; a grid point also
    passes the fields' combination rules (random and bayes fail such a draw's trial)."""
    for key, value in params.items():
        try:
            parse_value(key, value)
        except ConfigError as error:
            assert spec.params[key].kind.removeprefix("q_") in UNBOUNDED, (error, params)
    if spec.method == "grid":
        make_config(params)


def check_validate(path: Path, overrides: tuple[str, ...] = ()) -> None:
    argv = ["validate", path, *[arg for o in overrides for arg in ("--override", o)]]
    result = run_cli(argv)
    assert_contract(result, allowed=(0, 2))
    if result.code == 0:
        assert_usable(load_spec(path, parse_overrides(overrides)))


# --- (a) text mutations of the shipped sweep files ---------------------------------------------

TOKENS = [".nan", ".inf", "-.inf", "1e999", "1.0e+308", "-1", "0", "0.0", "2",
          "99999999999999999999",
          "[", "]", "{", "}", "'", '"', ":", "- ", "*a", "&a ", "!!binary aGk=", "!!set {a}",
          "2024-01-01", "2024-01-01 10:00:00", "~", "true", "[uniform]", "{a: 1}", '"a\\0b"',
          "!!python/object:os.system", "\t", "#", "${env}", "log_uniform", "q_uniform",
          "grid", "random", "bayes", "hyperband", "values: [1, 2]", "min: 0", "max: 1000",
          "q: 1e-300", "eta: 1.0000001", "distribution: normal", "\x00", "\ud800", "\u2028"]

mutation = st.one_of(
    st.tuples(st.just("delete"), st.integers(0, 2000), st.integers(1, 40)),
    st.tuples(st.just("insert"), st.integers(0, 2000), st.sampled_from(TOKENS) | st.text()),
    st.tuples(st.just("replace"), st.integers(0, 2000), st.sampled_from(TOKENS) | st.text()),
    st.tuples(st.just("value"), st.integers(0, 60), st.sampled_from(TOKENS)),
    st.tuples(st.just("line"), st.integers(0, 60), st.sampled_from(["drop", "dup", "swap"])),
    st.tuples(st.just("bytes"), st.integers(0, 2000), st.binary(min_size=1, max_size=8)),
)


def mutate(data: bytes, steps) -> bytes:
    for kind, where, what in steps:
        if kind == "bytes":
            at = where % (len(data) + 1)
            data = data[:at] + what + data[at:]
            continue
        text = data.decode("utf-8", "surrogateescape")
        lines = text.split("\n")
        line = where % len(lines)
        if kind == "delete":
            at = where % (len(text) + 1)
            text = text[:at] + text[at + what:]
        elif kind in ("insert", "replace"):
            at = where % (len(text) + 1)
            text = text[:at] + what + text[at + (kind == "replace"):]
        elif kind == "value":  # the value after a line's first colon
            key, colon, _ = lines[line].partition(":")
            lines[line] = f"{key}{colon} {what}" if colon else what
            text = "\n".join(lines)
        elif what == "drop":
            text = "\n".join(lines[:line] + lines[line + 1:])
        elif what == "dup":
            text = "\n".join(lines[:line + 1] + lines[line:])
        else:
            other = (line * 7 + 3) % len(lines)
            lines[line], lines[other] = lines[other], lines[line]
            text = "\n".join(lines)
        data = text.encode("utf-8", "surrogatepass")
    return data


@examples(60)
@given(source=st.sampled_from(SWEEPS), steps=st.lists(mutation, min_size=1, max_size=4))
def test_mutated_sweep_files_keep_the_contract(source, steps):
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / source.name
        path.write_bytes(mutate(source.read_bytes(), steps))
        check_validate(path)


# --- (b) generated sweep structures --------------------------------------------------------------

extreme = st.sampled_from([math.nan, math.inf, -math.inf, 1e308, -1e308, 5e-324, 2**53,
                           2**53 + 1, 2**64, -(2**70), 709.0, 710.0, 1000.0, -1000.0])
number = st.one_of(st.integers(-3, 300), st.floats(-3, 3), st.sampled_from([1e-4, 0.1, 0.9]),
                   extreme, st.floats(), st.integers())
wrong = st.one_of(st.text(max_size=6), st.booleans(), st.none(), st.dates(),
                  st.lists(st.integers(0, 3), max_size=2), st.binary(max_size=3),
                  st.dictionaries(st.text(max_size=2), st.integers(0, 3), max_size=2))
choice = st.one_of(number, wrong, st.sampled_from(["SGD", "adam", "ReLU", "swish", "cosine",
                                                    "synthetic", "true", "1e-3", "a\0b"]))


FIELD_NAMES = [n for n in FIELDS if n != "data_dir"] + ["data_dir"]


def _range(name: str) -> tuple[float, float]:
    meta = FIELDS[name].metadata
    low = meta["low"] if meta["low"] is not None else 0
    high = meta["high"] if meta["high"] is not None else low + 1000
    return low, min(high, low + 1000)


@st.composite
def valid_param(draw, name: str, method: str) -> dict:
    """A parameter W&B and TrialConfig accept, of a kind the method allows."""
    meta, kind = FIELDS[name].metadata, FIELDS[name].type
    if meta["choices"] or kind in ("bool", "str"):
        pool = (st.sampled_from(list(meta["choices"])) if meta["choices"] else
                st.booleans() if kind == "bool" else st.text("abc/_-.", min_size=1, max_size=6))
        return draw(st.sampled_from(["value", "values"]).flatmap(
            lambda key: st.fixed_dictionaries(
                {key: pool if key == "value" else st.lists(pool, min_size=1, max_size=3)})))
    low, high = _range(name)
    integral = kind == "int"
    value = st.integers(int(low), int(high)) if integral else st.floats(low, high)
    a, b = sorted(draw(st.tuples(value, value)))
    positive = max(a, 1 if integral else 1e-6)
    bodies = [{"value": a}, {"values": [a, b]}, {"min": a, "max": b},
              {"distribution": "q_uniform", "min": a, "max": b,
               "q": draw(st.integers(1, 5)) if integral else draw(st.floats(0.01, 1))}]
    if method != "grid":
        q = {"q": draw(st.integers(1, 4))} if integral else {}
        prefix = "q_" if integral else ""
        bodies += [{"distribution": f"{prefix}log_uniform_values", "min": positive,
                    "max": max(b, positive * 2), **q},
                   {"distribution": f"{prefix}normal", "mu": (a + b) / 2,
                    "sigma": (b - a) / 8, **q}]
        if not integral:
            bodies += [{"distribution": "log_uniform", "min": math.log(positive),
                        "max": math.log(max(b, positive * 2))},
                       {"distribution": "inv_log_uniform_values", "min": positive,
                        "max": max(b, positive * 2)},
                       {"distribution": "beta", "a": draw(st.floats(0.5, 9)),
                        "b": draw(st.floats(0.5, 9))}]
    return draw(st.sampled_from(bodies))


bad = st.one_of(extreme, wrong, st.sampled_from([*KINDS, "loguniform", ["uniform"], -1, 0]))


@st.composite
def sweeps(draw) -> dict:
    """A mostly valid sweep, then 0-2 of its values replaced by something bad."""
    method = draw(st.sampled_from(list(METHODS)))
    names = draw(st.lists(st.sampled_from(FIELD_NAMES), min_size=1, max_size=4, unique=True))
    raw = {"method": method, "parameters": {n: draw(valid_param(n, method)) for n in names}}
    if method == "bayes" or draw(st.booleans()):
        raw["metric"] = {"name": "val_acc", "goal": draw(st.sampled_from(GOALS))}
        if draw(st.booleans()):
            raw["early_terminate"] = draw(st.fixed_dictionaries(
                {"type": st.just("hyperband"), "eta": st.floats(1.01, 5)},
                optional={"strict": st.booleans()}) | st.fixed_dictionaries(
                {"type": st.just("hyperband"), "min_iter": st.integers(1, 5)}) |
                st.fixed_dictionaries({"type": st.just("hyperband"),
                                       "max_iter": st.integers(1, 81), "s": st.integers(1, 4)}))
    if draw(st.booleans()):
        raw["run_cap"] = draw(st.integers(1, 30))
    if draw(st.booleans()):
        raw["command"] = ["${env}", "${interpreter}", "-m", "vgg_sweep", "train", "${args}"]
    for _ in range(draw(st.integers(0, 2))):
        holders = list(_holders(raw))
        holder, key = draw(st.sampled_from(holders))
        holder[key] = draw(bad)
    return raw


def _holders(value):
    """(container, key) of every value in a nested structure, and new keys to add."""
    if isinstance(value, dict):
        yield value, "name"
        for key, item in value.items():
            yield value, key
            yield from _holders(item)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield value, index
            yield from _holders(item)


@examples(100)
@given(raw=sweeps())
def test_generated_sweeps_validate_and_accepted_ones_are_usable(raw):
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "generated.yaml"
        path.write_text(yaml.safe_dump(raw, allow_unicode=True))
        check_validate(path)


# --- (c) --override strings ------------------------------------------------------------------

override_key = st.one_of(st.sampled_from(FIELD_NAMES),
                         st.sampled_from(FIELD_NAMES).map(lambda n: n[:-1]),
                         st.text(max_size=8))
override_value = st.one_of(st.sampled_from(["1", "0", "-1", "nan", "inf", "1e999", "2" * 30,
                                            "true", "SGD", "adma", "", " ", "a\x00b", "1.5"]),
                           number.map(str), st.text(max_size=10))
override = st.one_of(st.tuples(override_key, override_value).map("=".join), st.text(max_size=12))


@examples(60)
@given(source=st.sampled_from([p for p in SWEEPS if p.stem in ("smoke", "vgg6")]),
       overrides=st.lists(override, min_size=1, max_size=3))
def test_overrides_keep_the_contract(source, overrides):
    check_validate(source, tuple(overrides))
