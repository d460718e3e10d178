"""Preflight (vgg_sweep/preflight.py): every swept value of our sweeps reaches the trainer;
a trainer patched to drop a flag gets exactly that flag named and the sweep refused; every
training field of TrialConfig moves some fingerprint part, so a future dead flag in our own
trainer fails here."""

from __future__ import annotations

import dataclasses
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from contract import assert_contract, run_cli

from vgg_sweep import train
from vgg_sweep.cli import main
from vgg_sweep.config import FIELDS, TrialConfig, choices, field_type, inert, make_config
from vgg_sweep.engine.spec import Param, load_spec
from vgg_sweep.fake_data import write_cifar10, write_mnist
from vgg_sweep.fingerprint import STEPS, differing
from vgg_sweep.preflight import Prober, check, context, probe_values
from vgg_sweep.record import RECORD_FILE

ROOT = Path(__file__).resolve().parents[1]
SWEEPS = sorted((ROOT / "sweeps").glob("*.yaml"))
DEAD = re.compile(r"(\w+)=\S+ trains exactly as")
# A small sweep over the four flags R4 never delivered, and lr, on 16x16 synthetic images.
FLAGS_SWEEP = """\
name: flags
method: grid
parameters:
  dataset: {value: synthetic}
  model: {value: vgg6}
  batch_size: {value: 16}
  epochs: {value: 1}
  train_subset: {value: 64}
  use_cutout: {values: [false, true]}
  batch_norm: {values: [true, false]}
  autoaugment: {values: [false, true]}
  lr: {values: [0.001, 0.01]}
  optimizer: {values: [Adam, SGD]}
"""


@pytest.fixture(autouse=True)
def _preflight_on(monkeypatch):
    monkeypatch.delenv("VGG_SWEEP_NO_PREFLIGHT")


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> Path:
    """Every data set our sweeps name, in its real format: CIFAR-10 pickles (270 training
    images after a 10 % split: enough for batch sizes 64, 128 and 256 to differ), MNIST and
    Fashion-MNIST idx files where torchvision's layout puts them."""
    root = tmp_path_factory.mktemp("data")
    write_cifar10(root, per_batch=60)
    write_mnist(root / "MNIST" / "raw", train=300)
    write_mnist(root / "FashionMNIST" / "raw", train=300, seed=1)
    return root


@pytest.fixture
def flags_sweep(tmp_path) -> Path:
    path = tmp_path / "flags.yaml"
    path.write_text(FLAGS_SWEEP)
    return path


# --- our sweeps --------------------------------------------------------------------------------

@pytest.mark.slow
def test_vgg6_sweep_passes_with_every_parameter_live_and_its_evidence(data_dir):
    result = run_cli(["preflight", ROOT / "sweeps/vgg6.yaml", "--override",
                      f"data_dir={data_dir}"])
    assert_contract(result, allowed=(0,))
    lines = result.out.splitlines()
    spec = load_spec(ROOT / "sweeps/vgg6.yaml")
    swept = [name for name, param in spec.params.items() if param.kind != "constant"]
    evidence = {line.split(":")[0].strip(): line.split(": ", 1)[1] for line in lines[1:-1]}
    # every value but the base one (the first) is probed and changes something
    assert list(evidence) == [f"{name}={value}" for name in swept
                              for value in spec.params[name].args["values"][1:]]
    assert evidence["epochs=80"] == "changes the lr schedule and the planned steps"
    # the augmentation flags build the same Trial: the probes trained to tell them apart
    for flag in ("autoaugment=False", "use_cutout=False"):
        assert evidence[flag] == "changes the training batches, the loss and the weights"
    assert evidence["batch_norm=False"] == "changes the model"
    assert evidence["lr=0.001"] == "changes the optimizer and the lr schedule"
    assert evidence["weight_decay=0.0005"] == "changes the optimizer"
    # 21 configurations built, the base and the two flags trained as well
    assert re.fullmatch(rf"preflight: 9 of 9 swept parameters reach the trainer; 24 probes "
                        rf"\(3 trained {STEPS} steps\) in [\d.]+ s", lines[-1]), lines[-1]


def _cheap(spec_path: Path) -> dict[str, str]:
    """Where batch_size is a constant, a smaller one: the same parameters are probed, at a
    base point that trains faster."""
    batch_size = load_spec(spec_path).params.get("batch_size")
    return {"batch_size": "8"} if batch_size is None or batch_size.kind == "constant" else {}


@pytest.mark.slow
@pytest.mark.parametrize("path", [p for p in SWEEPS if p.name != "vgg6.yaml"], ids=lambda p: p.stem)
def test_every_sweep_passes_preflight(path, data_dir):
    spec = load_spec(path, {"data_dir": str(data_dir), **_cheap(path)})
    result = check(spec, allow_dead=False, echo=lambda line: None)
    assert not result.dead
    probed = {item.name for item in result.evidence}
    assert probed | set(result.inert) == {name for name, p in spec.params.items()
                                          if p.kind != "constant"}


def test_a_missing_data_set_is_one_line_naming_the_fix(tmp_path):
    result = run_cli(["preflight", ROOT / "sweeps/vgg6.yaml", "--override",
                      f"data_dir={tmp_path}"])
    assert_contract(result, allowed=(2,))
    assert "preflight needs the sweep's data set: CIFAR10 not found in" in result.err
    assert "--override data_dir=FOLDER" in result.err


# --- mutations: a trainer that drops a flag --------------------------------------------------

def _fixed(function, **pinned):
    """`function(config, ...)` as called with some fields of the config pinned."""
    def wrapper(config, *args, **kwargs):
        return function(dataclasses.replace(config, **pinned), *args, **kwargs)
    return wrapper


MUTATIONS = {
    "use_cutout": lambda m: m.setattr(train, "cutout", lambda x, size, generator: x),
    "batch_norm": lambda m, build=train.build_model: m.setattr(
        train, "build_model", lambda *args, **kw: build(*args, **{**kw, "batch_norm": True})),
    "autoaugment": lambda m: m.setattr(train, "BatchAutoAugment", lambda: None),
    "lr": lambda m: (m.setattr(train, "build_optimizer", _fixed(train.build_optimizer,
                                                                lr=0.001)),
                     m.setattr(train, "build_scheduler", _fixed(train.build_scheduler,
                                                                lr=0.001))),
}


@pytest.mark.parametrize("flag", MUTATIONS)
def test_a_trainer_that_drops_a_flag_has_that_flag_named_and_the_sweep_refused(
        flag, flags_sweep, tmp_path, monkeypatch):
    MUTATIONS[flag](monkeypatch)
    result = run_cli(["sweep", flags_sweep, "--runs-dir", tmp_path / "runs"])
    assert_contract(result, allowed=(2,))
    assert DEAD.findall(result.error_lines[0]) == [flag]
    assert "--allow-dead" in result.error_lines[0]
    assert not list((tmp_path / "runs").rglob(RECORD_FILE))  # no trial ran
    assert "sweep 'flags':" not in result.out  # the sweep never started


def test_with_nothing_patched_nothing_is_flagged(flags_sweep):
    result = run_cli(["preflight", flags_sweep])
    assert_contract(result, allowed=(0,))
    assert not DEAD.findall(result.out)
    assert "5 of 5 swept parameters reach the trainer; 9 probes (3 trained" in result.out


def test_allow_dead_reports_and_goes_on(flags_sweep, monkeypatch):
    MUTATIONS["use_cutout"](monkeypatch)
    result = run_cli(["preflight", flags_sweep, "--allow-dead"])
    assert_contract(result, allowed=(0,))
    assert DEAD.findall(result.err) == ["use_cutout"]


class Started(Exception):
    """Raised by a stand-in for run_sweep: the sweep got past preflight."""


def _start(*args, **kwargs):
    raise Started


@pytest.mark.parametrize("option", ["--no-preflight", "--allow-dead"])
def test_the_options_let_a_sweep_with_a_dead_flag_start(option, flags_sweep, tmp_path,
                                                        monkeypatch, capsys):
    from vgg_sweep.engine import local

    MUTATIONS["autoaugment"](monkeypatch)
    monkeypatch.setattr(local, "run_sweep", _start)
    with pytest.raises(Started):
        main(["sweep", str(flags_sweep), "--runs-dir", str(tmp_path / "runs"), option])
    said = capsys.readouterr()
    assert ("preflight" in said.out) == (option == "--allow-dead")
    # the warning that lets it through names the dead flag
    assert DEAD.findall(said.err) == (["autoaugment"] if option == "--allow-dead" else [])


def test_a_resumed_sweep_is_not_preflighted(flags_sweep, tmp_path, monkeypatch, capsys):
    import optuna

    from vgg_sweep.engine import local
    from vgg_sweep.engine.storage import default_journal, open_storage

    MUTATIONS["autoaugment"](monkeypatch)
    monkeypatch.setattr(local, "run_sweep", _start)
    url = default_journal(tmp_path / "runs", "flags")
    optuna.create_study(study_name="flags", storage=open_storage(url))
    with pytest.raises(Started):
        main(["sweep", str(flags_sweep), "--runs-dir", str(tmp_path / "runs")])
    assert "preflight" not in capsys.readouterr().out


# --- every training field reaches a probe ------------------------------------------------------

def _alternatives(name: str, default) -> list:
    """Other valid values of a field, most telling first."""
    if choices(name):
        return [value for value in choices(name) if value != default]
    if field_type(name) is bool:
        return [not default]
    meta = FIELDS[name].metadata
    low, high = meta["low"] or 0, meta["high"] if meta["high"] is not None else 2 * default + 2
    if field_type(name) is int:
        return [value for value in (default // 2, default + 1) if low <= value <= high
                and value != default][:1]
    return [value for value in (default / 2, (low + high) / 2) if low < value <= high
            and value != default][:1]


# Fields declared inert that a probe cannot vary here: data_dir needs a second copy of the
# data, device a GPU, compile is never done in a probe, threads may reorder float sums.
NOT_VARIED_HERE = {"data_dir", "device", "compile", "threads"}


@pytest.fixture(scope="module")
def base_point(data_dir) -> dict:
    return {"dataset": "synthetic", "batch_size": 16, "train_subset": 96,
            "data_dir": str(data_dir)}


@pytest.mark.slow
def test_every_training_field_reaches_a_probe(base_point):
    prober, unreached = Prober(), []
    every = {name: [getattr(TrialConfig(), name), *_alternatives(name, base_point.get(
        name, getattr(TrialConfig(), name)))] for name in FIELDS if not inert(name)}
    for name in every:
        point = {**base_point, **context(name, base_point, every)}
        here = make_config(point)
        others = _alternatives(name, getattr(here, name))
        assert others, name
        if not any(prober.compare(here, make_config({**point, name: other}))[0]
                   for other in others):
            unreached.append(name)
    assert not unreached, f"no probe sees these fields: {unreached}"


def test_inert_fields_change_no_fingerprint(base_point):
    prober = Prober()
    here = make_config(base_point)
    for name in FIELDS:
        if inert(name) and name not in NOT_VARIED_HERE:
            for other in _alternatives(name, getattr(here, name)):
                changed = differing(prober.fingerprint(here),
                                    prober.fingerprint(dataclasses.replace(here, **{name: other})))
                assert not changed, (name, other, changed)


def test_sweeping_an_inert_field_is_a_warning_not_a_probe(tmp_path):
    path = tmp_path / "plots.yaml"
    path.write_text(FLAGS_SWEEP.replace("name: flags", "name: plots").split("  use_cutout")[0]
                    + "  plots: {values: [true, false]}\n  seed: {values: [1, 2]}\n"
                    + "metric: {name: val_acc, goal: maximize}\n")
    result = run_cli(["preflight", path])
    assert_contract(result, allowed=(0,))
    assert "vgg-sweep: warning: sweeping `plots` cannot change what is trained (telemetry only)" \
        in result.err
    assert "plots=" not in result.out and "seed=2: changes" in result.out


def test_a_distribution_is_probed_at_its_ends_and_middle():
    log = Param("lr", "log_uniform_values", {"min": 1e-4, "max": 1e-2})
    assert probe_values(log) == pytest.approx([1e-3, 1e-4, 1e-2])
    assert probe_values(Param("epochs", "int_uniform", {"min": 2, "max": 9})) == [6, 2, 9]
    assert probe_values(Param("dropout", "q_uniform", {"min": 0.0, "max": 0.5, "q": 0.1})) \
        == pytest.approx([0.2, 0.0, 0.5])
    assert probe_values(Param("optimizer", "categorical", {"values": ["SGD", "Adam"]})) \
        == ["SGD", "Adam"]


def test_momentum_is_probed_with_an_optimizer_that_uses_it():
    swept = {"optimizer": ["Adam", "SGD"], "momentum": [0.9, 0.5]}
    assert context("momentum", {"optimizer": "Adam"}, swept) == {"optimizer": "SGD"}
    assert context("degree", {"model": "vgg6"}, {"model": ["vgg6", "svm"],
                                                  "kernel": ["rbf", "poly"]}) \
        == {"model": "svm", "kernel": "poly"}


# --- the run record ----------------------------------------------------------------------------

TINY = {"dataset": "synthetic", "epochs": 1, "train_subset": 64, "batch_size": 16,
        "plots": False}


def _train_cli(tmp_path: Path, values: dict) -> dict:
    args = [f"--{key}={value}" for key, value in values.items()]
    done = subprocess.run([sys.executable, "-m", "vgg_sweep", "train", *args,
                           "--runs_dir", str(tmp_path)], capture_output=True, text=True,
                          timeout=300, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    return json.loads(next(tmp_path.rglob(RECORD_FILE)).read_text())


def test_the_run_record_holds_the_fingerprint_a_probe_takes(tmp_path):
    from vgg_sweep.data import load_dataset
    from vgg_sweep.preflight import probe

    record = _train_cli(tmp_path, TINY)
    stored = record["summary"]["fingerprint"]
    assert set(stored) == {"model", "optimizer", "schedule", "steps", "batch", "loss",
                           "weights"}
    assert stored["steps"] == 4  # 64 images in batches of 16, one epoch
    # the trial and a probe of its config took the same fingerprint: the probe trains
    # through the trainer's own code
    config = make_config(TINY)
    assert probe(config, load_dataset("synthetic", "data")) == stored


def test_an_svm_run_record_holds_its_fingerprint(tmp_path):
    record = _train_cli(tmp_path, {"model": "svm", "dataset": "synthetic",
                                   "train_subset": 100})
    assert set(record["summary"]["fingerprint"]) == {"model", "images", "batch", "weights"}
    assert record["summary"]["fingerprint"]["images"] == 100


def test_the_report_says_a_dead_flag_never_reached_the_trainer(tmp_path, monkeypatch):
    """Real runs of a trainer that drops use_cutout: the metric alone says "no effect", the
    fingerprints in their records say why; with the flag used, their fingerprints differ."""
    from vgg_sweep.train import run_trial

    def fingerprints(folder: Path) -> list[dict]:
        for cutout in (False, True):
            config = make_config({**TINY, "use_cutout": cutout, "count_flops": False})
            run_trial(config, folder / f"cutout-{cutout}", run_id=f"cutout-{cutout}",
                      sweep="dead", wandb_mode="disabled")
        return [json.loads(path.read_text())["summary"]["fingerprint"]
                for path in sorted(folder.rglob(RECORD_FILE))]

    assert differing(*fingerprints(tmp_path / "live")) == ["batch", "loss", "weights"]
    MUTATIONS["use_cutout"](monkeypatch)
    assert not differing(*fingerprints(tmp_path / "dead"))
    result = run_cli(["report", tmp_path / "dead", "-o", tmp_path / "report"])
    assert_contract(result, allowed=(0,))
    assert ("[no-effect parameter] use_cutout: never reached the trainer (identical "
            "fingerprints in every comparison") in (tmp_path / "report" / "report.md").read_text()


def test_the_lint_tells_never_arrived_from_no_effect_by_the_fingerprints():
    from analysis.lints import no_effect_params
    from analysis.sources import table_from_records

    def record(name, flag, metric, print_):
        return {"id": name, "name": name, "state": "finished", "config": {"flag": flag},
                "summary": {"val_acc": metric, "fingerprint": print_}}

    same = {"model": "m", "batch": "b", "weights": "w"}
    moved = {**same, "weights": "v"}
    cases = {  # runs -> the verdict
        "never reached the trainer": [record("a", 0, 70.0, same), record("b", 1, 71.5, same)],
        "reached the trainer, no effect": [record("a", 0, 70.0, same),
                                           record("b", 1, 70.0, moved)],
        "no effect (no fingerprint)": [record("a", 0, 70.0, {}), record("b", 1, 70.0, {})],
    }
    for verdict, records in cases.items():
        frame = table_from_records(records, "test").frame
        finding = no_effect_params(frame, ["flag"], "val_acc")
        assert list(finding.evidence["verdict"]) == [verdict], verdict
    # fingerprints that differ and a metric that moved: nothing to say
    frame = table_from_records([record("a", 0, 70.0, same), record("b", 1, 72.0, moved)],
                               "test").frame
    assert no_effect_params(frame, ["flag"], "val_acc") is None
