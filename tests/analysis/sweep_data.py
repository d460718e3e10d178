"""Test data for the analysis tests: the real W&B exports and fabricated runs directories.

(A module with its own name, not conftest, so that `from sweep_data import ...` cannot pick
up another directory's conftest.)
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

from vgg_sweep.record import write_record

# Two real W&B UI exports (R4's 111-run bayes sweep, in percent; a 32-run project, fractions).
REAL = Path(__file__).resolve().parents[1] / "fixtures" / "real"
SWEEP_111 = REAL / "vgg6_cifar10_sweep_111_runs.csv"
EXPORT_32 = REAL / "vgg6_cifar10_runs_32_wandb_export.csv"
SPACE = {"activation": ["ReLU", "GELU", "SiLU", "Tanh"], "optimizer": ["SGD", "Adam", "Nadam"],
         "lr": [0.01, 0.001, 0.0001], "batch_size": [64, 128, 256], "batch_norm": [True, False]}
START = datetime(2025, 10, 1, tzinfo=UTC)


def synthetic_record(index: int, rng: np.random.Generator, epochs: int = 5) -> dict:
    """One plausible VGG6 run record: val_acc depends on the config (Adam and GELU help, lr
    0.01 with SGD hurts) plus noise; about 5 % of the runs crash."""
    config = {key: values[rng.integers(len(values))] for key, values in SPACE.items()}
    config = {key: (value.item() if hasattr(value, "item") else value)
              for key, value in config.items()}
    config.update(dataset="cifar10", model="vgg6", epochs=epochs, seed=42)
    final = (60 + 10 * (config["optimizer"] != "SGD") + 5 * (config["activation"] == "GELU")
             - 8 * (config["lr"] == 0.0001) + rng.normal(0, 2))
    history = [{"epoch": e, "train_loss": 2.0 / e, "train_acc": final * e / epochs + 3,
                "val_loss": 2.2 / e, "val_acc": final * e / epochs, "lr": config["lr"],
                "epoch_time_sec": 1.0, "images_per_sec": 1000.0}
               for e in range(1, epochs + 1)]
    state = "crashed" if rng.random() < 0.05 else "finished"
    summary = {key: history[-1][key] for key in ("train_loss", "train_acc", "val_loss",
                                                  "val_acc")}
    summary.update(best_val_acc=max(row["val_acc"] for row in history), epoch=epochs,
                   params=262_000, macs=96_100_000, flops=192_200_000)
    return {"id": f"r{index:05d}", "name": f"run-{index}", "sweep": "synthetic", "state": state,
            "created": (START + timedelta(minutes=index)).isoformat(), "runtime": 10.0 + index,
            "config": config, "summary": summary, "history": history}


def write_runs(root: Path, count: int, seed: int = 0, epochs: int = 5) -> Path:
    rng = np.random.default_rng(seed)
    for index in range(count):
        record = synthetic_record(index, rng, epochs)
        write_record(root / record["id"], record)
    return root


def make_runs_dir(root: Path) -> Path:
    """A 40-run sweep directory with histories, one unreadable record, a study.log beside the
    runs, and the best run named like an HTML tag (so the report must print it, escaped)."""
    write_runs(root, 40)
    record = synthetic_record(99, np.random.default_rng(99))
    record.update(id="evil", name="<script>alert(1)</script>", state="finished")
    record["summary"]["val_acc"] = 99.0
    record["config"]["activation"] = "<b>GELU</b>"
    write_record(root / "evil", record)
    (root / "broken").mkdir()
    (root / "broken" / "record.json").write_text("{not json")
    (root / "study.log").write_text("optuna journal\n")
    return root
