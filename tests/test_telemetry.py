"""Gradient flow, weight-update flow, the test-set report and its plots, in a real trial."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

from vgg_sweep.complexity import count_macs
from vgg_sweep.config import make_config
from vgg_sweep.data import load_synthetic
from vgg_sweep.models import build_model
from vgg_sweep.record import RECORD_FILE
from vgg_sweep.telemetry import Telemetry, confusion_matrix, per_class_accuracy
from vgg_sweep.telemetry_plots import FILES, SAMPLE_FILE, redraw_test_set
from vgg_sweep.train import run_trial

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
SYNTHETIC = load_synthetic(None)
TEST_SIZE = len(SYNTHETIC.test_y)


def two_layer_model() -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(3, 4, bias=True), nn.Linear(4, 2, bias=False))


def hand_grads(model: nn.Sequential, x: torch.Tensor) -> list[torch.Tensor]:
    """Gradients of loss = sum(model(x)) without autograd: dL/dout = 1 everywhere, so
    dL/dW2[i, j] = sum_b h[b, j] and dL/dW1[j, k] = (sum_i W2[i, j]) * sum_b x[b, k]."""
    w1, b1, w2 = model[0].weight.detach(), model[0].bias.detach(), model[1].weight.detach()
    hidden = x @ w1.T + b1
    grad_w2 = hidden.sum(0).expand(2, 4)
    grad_w1 = w2.sum(0)[:, None] * x.sum(0)[None, :]
    return [grad_w1, grad_w2]


def one_step(model, x, scaler=None) -> None:
    optimizer = torch.optim.SGD(model.parameters(), lr=0.0)
    loss = model(x).sum()
    if scaler is None:
        loss.backward()
        optimizer.step()
    else:  # fp16-style: scaled backward; step() unscales the grads in place
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()


X = torch.tensor([[1.0, -2.0, 0.5], [0.0, 3.0, -1.0]])


@pytest.mark.parametrize("scale", [None, 2.0 ** 12])
def test_grad_flow_equals_the_hand_computed_gradients(scale):
    model = two_layer_model()
    telemetry = Telemetry(model, make_config({"grad_flow_every": 1, "epochs": 1}))
    assert [name for name, _ in telemetry.layers] == ["fc1", "fc2"]  # no biases
    scaler = None if scale is None else torch.amp.GradScaler("cpu", init_scale=scale)
    expected = hand_grads(model, X)
    telemetry.start_epoch()
    one_step(model, X, scaler)
    telemetry.after_step(epoch=1, batch=0)
    scalars = telemetry.end_epoch(1)
    rows = telemetry.tables["grad_flow"]
    assert [(r["epoch"], r["batch"], r["layer"]) for r in rows] == [
        (1, 0, "fc1"), (1, 0, "fc2")]
    for row, grad in zip(rows, expected, strict=True):
        assert row["mean"] == pytest.approx(float(grad.abs().mean()), rel=1e-6)
        assert row["max"] == pytest.approx(float(grad.abs().max()), rel=1e-6)
        assert scalars[f"grad_mean/{row['layer']}"] == row["mean"]


def test_grad_flow_cadence_batches_and_epochs():
    model = two_layer_model()
    config = make_config({"grad_flow_every": 2, "grad_flow_epochs": 2, "epochs": 4,
                          "weight_flow": False})
    telemetry = Telemetry(model, config)
    for epoch in range(1, 5):
        telemetry.start_epoch()
        for batch in range(5):
            one_step(model, X)
            telemetry.after_step(epoch, batch)
        telemetry.end_epoch(epoch)
    sampled = sorted({(r["epoch"], r["batch"]) for r in telemetry.tables["grad_flow"]})
    # epochs 1 and 3 (every 2nd) and 4 (the last); batches 0, 2, 4
    assert sampled == [(e, b) for e in (1, 3, 4) for b in (0, 2, 4)]
    assert telemetry.tables["weight_updates"] == []


def test_grad_flow_off():
    model = two_layer_model()
    telemetry = Telemetry(model, make_config({"grad_flow_every": 0}))
    telemetry.start_epoch()
    one_step(model, X)
    telemetry.after_step(1, 0)
    scalars = telemetry.end_epoch(1)
    assert telemetry.tables["grad_flow"] == []
    assert sorted(scalars) == ["weight_update/fc1", "weight_update/fc2"]


def test_weight_update_flow_by_hand():
    model = two_layer_model()
    telemetry = Telemetry(model, make_config({"grad_flow_every": 0}))
    telemetry.start_epoch()
    before = model[0].weight.detach().clone()
    with torch.no_grad():
        model[0].weight += 0.25  # every entry moves by 0.25; layer 2 stays
    telemetry.end_epoch(1)
    first, second = telemetry.tables["weight_updates"]
    assert first["mean_abs"] == pytest.approx(0.25)
    assert first["relative"] == pytest.approx(float(0.25 * 12 ** 0.5 / before.norm()), rel=1e-6)
    assert second == {"epoch": 1, "layer": "fc2", "mean_abs": 0.0, "relative": 0.0}


def test_confusion_matrix_and_per_class_accuracy():
    labels = torch.tensor([0, 0, 1, 1, 1, 2])
    predicted = torch.tensor([0, 1, 1, 1, 0, 1])
    matrix = confusion_matrix(predicted, labels, 3)
    assert matrix.tolist() == [[1, 1, 0], [1, 2, 0], [0, 1, 0]]
    accuracy = per_class_accuracy(matrix, ("a", "b", "c"))
    assert accuracy == {"a": 50.0, "b": pytest.approx(200 / 3), "c": 0.0}
    assert per_class_accuracy(confusion_matrix(labels[:2], labels[:2], 3), ("a", "b", "c")) == {
        "a": 100.0, "b": None, "c": None}


# --- a real trial ------------------------------------------------------------------------------

def tiny_trial(tmp_path, name: str, **values):
    config = make_config({"dataset": "synthetic", "data_dir": str(tmp_path / "data"),
                          "train_subset": 128, "epochs": 2, "batch_size": 64,
                          "precision": "fp32", "device": "cpu", "grad_flow_every": 1,
                          **values})
    run_dir = tmp_path / name
    result = run_trial(config, run_dir, run_id=name)
    assert result.state == "finished", result.reason
    return result, json.loads((run_dir / RECORD_FILE).read_text()), run_dir


def test_trial_records_telemetry_and_plots(tmp_path):
    from matplotlib.image import imread

    result, record, run_dir = tiny_trial(tmp_path, "learning", lr=0.01, plots=True)
    assert list(record) == ["id", "name", "sweep", "state", "created", "runtime", "config",
                            "summary", "history", "telemetry"]
    summary = result.summary
    expected = count_macs(build_model("vgg6", SYNTHETIC.shape, 10), SYNTHETIC.shape)
    assert {key: summary[key] for key in expected} == expected  # the data's actual shape
    assert summary["flops"] == 2 * summary["macs"]
    assert summary["params"] == summary["params_total"] == 261_834
    telemetry = record["telemetry"]
    layers = ["conv1", "conv2", "conv3", "conv4", "fc"]  # module kinds, not 0.0.weight
    # two batches per epoch, both sampled (grad_flow_every=1)
    assert [(r["epoch"], r["batch"], r["layer"]) for r in telemetry["grad_flow"]] == [
        (e, b, layer) for e in (1, 2) for b in (0, 1) for layer in layers]
    assert all(0 < r["mean"] <= r["max"] for r in telemetry["grad_flow"])
    updates = telemetry["weight_updates"]
    assert [(r["epoch"], r["layer"]) for r in updates] == [(e, n) for e in (1, 2) for n in layers]
    assert all(r["mean_abs"] > 0 and r["relative"] > 0 for r in updates)
    # the confusion matrix covers the test set and its diagonal is the test accuracy
    matrix = torch.tensor(telemetry["confusion_matrix"])
    assert matrix.shape == (10, 10) and int(matrix.sum()) == TEST_SIZE
    assert 100.0 * int(matrix.trace()) / TEST_SIZE == pytest.approx(summary["test_acc"],
                                                                    abs=1e-9)
    rows = matrix.sum(1)
    assert list(telemetry["per_class_accuracy"]) == [f"class{i}" for i in range(10)]
    assert [telemetry["per_class_accuracy"][f"class{i}"] for i in range(10)] == pytest.approx(
        [100.0 * int(matrix[i, i]) / int(rows[i]) for i in range(10)])
    for file in FILES.values():
        path = run_dir / "artifacts" / file
        data = path.read_bytes()
        assert data[:8] == PNG_SIGNATURE and len(data) > 0, file
        image = imread(path)
        assert image.ndim == 3 and image.shape[0] > 100 and image.shape[1] > 100
    # drawn later from the record and the saved sample (what the report does for a run
    # trained without plots): the same three pictures, pixel for pixel
    redrawn = redraw_test_set(run_dir, tmp_path / "redrawn")
    assert sorted(redrawn) == ["confusion_matrix", "per_class_accuracy", "predictions"]
    for name, path in redrawn.items():
        assert (imread(path) == imread(run_dir / "artifacts" / FILES[name])).all(), name


def test_lr_zero_switches_off_and_resume(tmp_path):
    """lr = 0: no weight moves; grad flow, plots and FLOPs off; the tables survive a resume."""
    _, first, run_dir = tiny_trial(tmp_path, "frozen", lr=0.0, epochs=1, grad_flow_every=0,
                                   plots=False, count_flops=False)
    assert len(first["telemetry"]["weight_updates"]) == 5
    result = run_trial(make_config({**first["config"], "epochs": 2}), run_dir,
                       run_id="frozen", resume=True)
    assert result.state == "finished"
    telemetry = json.loads((run_dir / RECORD_FILE).read_text())["telemetry"]
    assert telemetry["grad_flow"] == []
    assert [r["epoch"] for r in telemetry["weight_updates"]] == [1] * 5 + [2] * 5
    assert all(r["mean_abs"] == 0.0 and r["relative"] == 0.0
               for r in telemetry["weight_updates"])
    assert "macs" not in result.summary and "flops" not in result.summary
    # no PNG drawn: only the predictions sample the report draws from
    assert [path.name for path in (run_dir / "artifacts").iterdir()] == [SAMPLE_FILE]
    assert int(torch.tensor(telemetry["confusion_matrix"]).sum()) == TEST_SIZE


def test_wandb_media_uses_native_pieces(tmp_path, monkeypatch):
    import wandb

    from vgg_sweep.telemetry import wandb_media

    monkeypatch.setattr(wandb.Table, "MAX_ROWS", 3)
    tables = {"grad_flow": [{"epoch": 1, "batch": b, "layer": "w", "mean": m, "max": m}
                            for b, m in ((0, 1.0), (1, 3.0), (2, 2.0), (3, 2.0))],
              "weight_updates": [{"epoch": 1, "layer": "w", "mean_abs": 0.1, "relative": 0.2}],
              "per_class_accuracy": {"a": 50.0, "b": None}}
    images = torch.zeros(2, 1, 8, 8, dtype=torch.uint8)
    media = wandb_media(tables, ("a", "b"), [0, 1, 0], [0, 0, 1],
                        (images, [0, 1], [0, 0]), {})
    assert type(media["confusion_matrix"]).__name__ == "CustomChart"
    assert media["predictions"].columns == ["image", "true", "predicted", "correct"]
    assert isinstance(media["predictions"].data[0][0], wandb.Image)
    assert media["per_class_accuracy"].data == [["a", 50.0], ["b", None]]
    # over W&B's row limit: one row per epoch and layer instead of a silently cut table
    assert media["grad_flow"].data == [[1, -1, "w", 2.0, 3.0]]


def test_prediction_grid_says_which_label_is_predicted(tmp_path, monkeypatch):
    from vgg_sweep import telemetry_plots

    figures = []
    monkeypatch.setattr(telemetry_plots, "_save",
                        lambda figure, path: figures.append(figure) or path)
    images = torch.zeros(2, 1, 8, 8, dtype=torch.uint8)
    telemetry_plots.predictions(images, [0, 1], [0, 0], ("cat", "dog"), tmp_path / "p.png")
    titles = [ax.get_title() for ax in figures[0].axes if ax.get_title()]
    assert titles == ["pred: cat\ntrue: cat", "pred: cat\ntrue: dog"]
