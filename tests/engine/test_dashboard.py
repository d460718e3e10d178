"""`vgg-sweep dashboard`: optuna-dashboard on a finished sweep, read back over HTTP from its
JSON API: the study, its metric's name, each trial's value per epoch, its run id and record,
and its swept values as Optuna parameters (the parameter plots and importances). The study
is written by the real engine; its trials are fake_trial's (records in the trainer's format,
in milliseconds: the real trainer's rows reach the study alike, test_engine_with_trainer.py)."""

import json
import signal
import subprocess
import sys
import urllib.request

import pytest
from contract import assert_contract, run_cli
from fake_trial import run_trial

from vgg_sweep.engine.local import run_sweep
from vgg_sweep.engine.spec import load_spec
from vgg_sweep.record import read_record

SWEEP = """
    name: dash
    method: random
    run_cap: 2
    metric: {name: val_acc, goal: maximize}
    parameters:
      optimizer: {values: [Adam, SGD]}
      lr: {distribution: log_uniform_values, min: 0.001, max: 0.1}
      epochs: {value: 2}
"""


def get(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=30) as response:
        return json.load(response)


def test_the_dashboard_serves_the_sweep_with_its_metric_curves_and_records(
        write_sweep, tmp_path):
    pytest.importorskip("optuna_dashboard")
    runs = tmp_path / "runs"
    summary = run_sweep(load_spec(write_sweep(SWEEP)), runs_dir=runs, in_process=True,
                        trial_fn=run_trial)
    assert summary.states["finished"] == 2
    # SIGINT at its default (stopped by Ctrl-C below) even where the test runs in a background
    # job, which inherits it ignored
    server = subprocess.Popen([sys.executable, "-m", "vgg_sweep", "dashboard",
                               f"{runs / 'dash'}/", "--port", "0"], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True,
                              preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        line = server.stdout.readline()  # printed once it listens
        assert line.startswith(f"optuna-dashboard on {runs / 'dash' / 'study.log'}: "
                               "http://127.0.0.1:"), line + server.stderr.read()
        page = line.split()[3]
        base, study_id = page.split("/dashboard/studies/")
        studies = get(f"{base}/api/studies")["study_summaries"]
        assert [(s["study_id"], s["study_name"], s["directions"]) for s in studies] == [
            (int(study_id), "dash", ["maximize"])]
        study = get(f"{base}/api/studies/{study_id}")
        importances = get(f"{base}/api/studies/{study_id}/param_importances")
    finally:
        server.send_signal(signal.SIGINT)  # Ctrl-C
        out, err = server.communicate(timeout=30)
    assert server.returncode == 0 and out == "dashboard stopped\n", err
    assert study["objective_names"] == ["val_acc"]  # not "Objective 0"
    assert study["has_intermediate_values"] is True
    assert len(study["trials"]) == 2
    for trial in study["trials"]:
        attrs = {a["key"]: a["value"] for a in trial["user_attrs"]}
        record = read_record(runs / "dash" / attrs["run_id"])
        assert attrs["record"] == str((runs / "dash" / attrs["run_id"] / "record.json").resolve())
        assert record["id"] == attrs["run_id"] and attrs["state"] == "finished"
        assert json.loads(attrs["params"])["optimizer"] == record["config"]["optimizer"]
        assert trial["state"] == "Complete"
        assert trial["values"] == [pytest.approx(record["summary"]["val_acc"])]
        assert trial["intermediate_values"] == [
            {"step": row["epoch"], "value": pytest.approx(row["val_acc"])}
            for row in record["history"]]
        assert [row["epoch"] for row in record["history"]] == [1, 2]
        params = {p["name"]: p["param_external_value"] for p in trial["params"]}
        assert params["optimizer"] == record["config"]["optimizer"]
        assert float(params["lr"]) == pytest.approx(record["config"]["lr"])
    assert {p["name"]: p["distribution"]["type"] for p in study["union_search_space"]} == {
        "optimizer": "CategoricalDistribution", "lr": "FloatDistribution"}
    assert {p["name"] for p in importances["param_importances"][0]} == {"optimizer", "lr"}


def test_without_the_extra_one_line_names_the_install_command(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "optuna_dashboard", None)  # import fails, as uninstalled
    result = run_cli(["dashboard", tmp_path])
    assert_contract(result)
    assert result.code == 2
    assert result.error_lines == ["vgg-sweep: error: optuna-dashboard is not installed; "
                                  "pip install 'vgg-sweep[dashboard]'"]


@pytest.mark.parametrize("args, says", [
    (["{tmp}/nowhere"], "{tmp}/nowhere/study.log not found: {tmp}/nowhere is not a local "
                        "sweep's folder"),
    ([], "name the sweep's folder (vgg-sweep dashboard runs/SWEEP) or give --storage"),
    (["{tmp}", "--port", "70000"], "70000 is not in the range 0<=x<=65535"),
])
def test_mistakes_are_one_line(args, says, tmp_path):
    pytest.importorskip("optuna_dashboard")
    result = run_cli(["dashboard", *(a.format(tmp=tmp_path) for a in args)])
    assert_contract(result)
    assert result.code == 2 and says.format(tmp=tmp_path) in result.error_lines[0]


def test_a_port_in_use_is_one_line(write_sweep, tmp_path):
    pytest.importorskip("optuna_dashboard")
    import socket

    runs = tmp_path / "runs"
    (runs / "dash").mkdir(parents=True)
    (runs / "dash" / "study.log").write_text("")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_cli(["dashboard", runs / "dash", "--port", port])
    assert_contract(result)
    assert result.code == 2 and result.error_lines == [
        f"vgg-sweep: error: cannot listen on 127.0.0.1:{port} (Address already in use); "
        "choose another with --port"]
