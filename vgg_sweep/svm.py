"""SVM trials (R5): scikit-learn's SVC on raw pixels, recorded like any CNN trial.

The images are flattened and scaled to [0, 1]; `train_subset` bounds the training set (SVC
is quadratic in it: 5,000 images fit in seconds, 60,000 take an hour). One history row
holds the fit, so the analysis side treats SVMs and CNNs alike.
"""

from __future__ import annotations

import time

import numpy as np

from vgg_sweep.config import TrialConfig
from vgg_sweep.data import load_dataset, split
from vgg_sweep.fingerprint import digest
from vgg_sweep.outcome import State
from vgg_sweep.phases import Phases
from vgg_sweep.registry import MODELS
from vgg_sweep.tracking import Tracker


def _pixels(images) -> np.ndarray:
    return images.flatten(1).numpy().astype(np.float32) / 255.0


def _accuracy(model, images, labels) -> tuple[float, float]:
    """Accuracy in percent and prediction time in milliseconds."""
    start = time.perf_counter()
    predicted = model.predict(_pixels(images))
    elapsed_ms = 1000 * (time.perf_counter() - start)
    return 100.0 * float((predicted == labels.numpy()).mean()), elapsed_ms


def build_svc(config: TrialConfig):
    """The `svm` model (its entry in `vgg_sweep.registry.MODELS`): an SVC as configured."""
    from sklearn.svm import SVC

    return SVC(kernel=config.kernel, degree=config.degree, C=config.C, gamma=config.gamma,
               random_state=config.seed)


def fit_svc(config: TrialConfig, train_x, train_y):
    """The config's model (family "svm") fitted on these images."""
    model = MODELS[config.model].load()(config)
    model.fit(_pixels(train_x), train_y.numpy())
    return model


def svm_fingerprint(model, train_x, train_y) -> dict:
    """What a fit reached (`vgg_sweep.fingerprint`): the estimator and its settings, the
    training set (its size and content) and the fitted model."""
    return {"model": digest(type(model).__name__, sorted(model.get_params().items())),
            "images": len(train_x), "batch": digest(train_x, train_y),
            "weights": digest(model.support_, model.dual_coef_, model.intercept_)}


def run_svm_trial(config: TrialConfig, tracker: Tracker, phases: Phases) -> tuple[str, dict]:
    """Fit, validate (on the first val_subset images of the validation split: all by default)
    and test the config's model (family "svm"); returns (state, summary) after writing the
    record. With val_split = 0 and no val_subset the validation set is the whole test set: it
    is predicted once."""
    with phases.timed("data"):
        data = load_dataset(config.dataset, config.data_dir)
        splits = split(data, config)
    start = time.perf_counter()
    with phases.timed("train"):
        model = fit_svc(config, splits.train_x, splits.train_y)
    train_time_ms = 1000 * (time.perf_counter() - start)
    with phases.timed("validation"):
        val_acc, val_time_ms = _accuracy(model, splits.val_x, splits.val_y)
    if splits.val_is_test:
        test_acc, predict_time_ms = val_acc, val_time_ms
    else:
        with phases.timed("test"):
            test_acc, predict_time_ms = _accuracy(model, splits.test_x, splits.test_y)
    row = {"epoch": 1, "val_acc": val_acc, "train_time_ms": train_time_ms}
    with phases.timed("tracking"):
        tracker.log_epoch(row)
    summary = {**row, "test_acc": test_acc, "best_val_acc": val_acc, "best_epoch": 1,
               "train_time_ms": train_time_ms, "predict_time_ms": predict_time_ms,
               "support_vectors": int(model.n_support_.sum()),
               "train_size": len(splits.train_x), "val_size": len(splits.val_y),
               "fingerprint": svm_fingerprint(model, splits.train_x, splits.train_y),
               "seconds": phases.summary()}
    tracker.finish(State.FINISHED, summary)
    return "finished", summary
