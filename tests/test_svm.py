"""SVM trials write the same run record as CNN trials."""


from vgg_sweep.config import make_config
from vgg_sweep.fake_data import write_mnist
from vgg_sweep.record import read_record
from vgg_sweep.train import run_trial


def test_svm_trial_record(tmp_path):
    config = make_config({"dataset": "synthetic", "model": "svm", "kernel": "rbf", "C": 1.0,
                          "train_subset": 300, "val_split": 0.1})
    result = run_trial(config, tmp_path / "svm", run_id="svm")
    record = read_record(tmp_path / "svm")
    assert result.state == "finished" == record["state"]
    summary = record["summary"]
    assert summary["train_size"] == 300 and summary["val_size"] == 102
    assert summary["test_acc"] > 50  # learnable synthetic data, 10 classes
    assert summary["train_time_ms"] > 0 and summary["predict_time_ms"] > 0
    assert record["history"][0]["epoch"] == 1 and record["config"]["kernel"] == "rbf"


def test_svm_poly_on_idx_files(tmp_path):
    write_mnist(tmp_path / "mnist", train=80, test=40)
    config = make_config({"dataset": "mnist", "data_dir": str(tmp_path / "mnist"),
                          "model": "svm", "kernel": "poly", "degree": 2, "C": 0.1,
                          "gamma": "auto", "val_split": 0})
    result = run_trial(config, tmp_path / "p", run_id="p")
    assert result.state == "finished"
    assert result.summary["val_acc"] == result.summary["test_acc"]  # val_split 0: test set
    assert 0 <= result.summary["test_acc"] <= 100
