"""`vgg-sweep train` that kill -9s itself once, at a planned moment (fault injection).

Used as a sweep's trial command: `python kill_trial.py --key=value ... --run_id=ID`. The plan
comes from $REL_KILL_PLAN (JSON: {lr value as passed: [kind, n]}); the first attempt of a
planned trial dies with SIGKILL, the retry (marker file in the run directory) runs clean.

Kinds: `load` (while loading the data set), `batch` (at the n-th training batch),
`checkpoint` (half-way through writing the n-th checkpoint's temporary file), `record`
(half-way through the n-th record.json write).
"""

from __future__ import annotations

import json
import os
import signal
import sys
import tempfile
from pathlib import Path


def _die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def _half_write(path: Path, data: bytes) -> None:
    """What a kill during an atomic write leaves: half a temporary file beside `path`."""
    from vgg_sweep.record import TEMP_SUFFIX

    fd, _ = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=TEMP_SUFFIX)
    os.write(fd, data[:len(data) // 2])
    os.fsync(fd)
    _die()


def _arm(kind: str, n: int) -> None:
    import vgg_sweep.record as record
    import vgg_sweep.train as train

    calls = {"count": 0}

    def counted() -> bool:
        calls["count"] += 1
        return calls["count"] == n

    if kind == "load":
        real_load = train.load_dataset

        def load(*args, **kwargs):
            real_load(*args, **kwargs)
            _die()

        train.load_dataset = load
    elif kind == "batch":
        real_prepare = train.Trial._prepare

        def prepare(self, images, generator):
            if generator is not None and counted():
                _die()
            return real_prepare(self, images, generator)

        train.Trial._prepare = prepare
    elif kind == "checkpoint":
        real_write = train.atomic_write_bytes

        def write_checkpoint(path, data):
            if counted():
                _half_write(Path(path), data)
            real_write(path, data)

        train.atomic_write_bytes = write_checkpoint
    elif kind == "record":
        real_write = record.atomic_write_bytes

        def write_record(path, data):
            if Path(path).name == record.RECORD_FILE and counted():
                _half_write(Path(path), data)
            real_write(path, data)

        record.atomic_write_bytes = write_record


def main(argv: list[str]) -> int:
    options = dict(arg[2:].split("=", 1) for arg in argv if "=" in arg)
    plan = json.loads(os.environ.get("REL_KILL_PLAN", "{}"))
    run_dir = Path(options["runs_dir"]) / options["sweep"] / options["run_id"]
    marker = run_dir / ".kill-injected"
    if options.get("lr") in plan and not marker.exists():
        run_dir.mkdir(parents=True, exist_ok=True)
        marker.write_text(json.dumps(plan[options["lr"]]))
        _arm(*plan[options["lr"]])
    from vgg_sweep.cli import main as cli_main

    return cli_main(["train", *argv])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
