"""`vgg-sweep dashboard runs/<sweep>`: optuna-dashboard on a sweep's study, live.

A local sweep's study is an Optuna study (the journal file `runs/<sweep>/study.log`, or
PostgreSQL), which optuna-dashboard reads while workers write it. What makes it useful is
written by the engine: the metric's name (`run_sweep` sets it, so the objective is `val_acc`,
not "Objective 0"), every epoch's value (`worker._report`, for every method: the learning
curves) and each trial's `run_id`, `params`, `state` and `record` (the path of its
record.json) as user attributes. optuna-dashboard is an optional extra:
`pip install 'vgg-sweep[dashboard]'`.
"""

from __future__ import annotations

import errno
import signal
from pathlib import Path
from socketserver import ThreadingMixIn
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import click

from vgg_sweep.engine.storage import JOURNAL_FILE, open_storage, quiet_optuna, redact
from vgg_sweep.errors import UserError

INSTALL = "pip install 'vgg-sweep[dashboard]'"


class _Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True  # a browser's open request does not hold up Ctrl-C


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, *args) -> None:  # one line per request would bury the URL
        pass


@click.command()
@click.argument("sweep_dir", required=False, type=click.Path(file_okay=False))
@click.option("--storage", default=None, help="postgresql://USER:PASS@HOST/DB of a sweep on "
              "several machines [default: SWEEP_DIR/study.log]")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="address to listen on (0.0.0.0: reachable from other machines)")
@click.option("--port", type=click.IntRange(0, 65535), default=8080, show_default=True,
              help="port to listen on; 0: any free one")
def dashboard(sweep_dir, storage, host, port):
    """Serve optuna-dashboard on a sweep's study (live while it runs) until Ctrl-C.

    SWEEP_DIR is runs/<sweep>, whose study.log holds the study; with --storage it only names
    the sweep to open first."""
    try:
        from optuna_dashboard import wsgi
    except ImportError:
        raise UserError(f"optuna-dashboard is not installed; {INSTALL}") from None
    if sweep_dir is None and storage is None:
        raise click.UsageError("name the sweep's folder (vgg-sweep dashboard runs/SWEEP) or "
                               "give --storage postgresql://...")
    name = Path(sweep_dir).name if sweep_dir else None
    if storage is None:
        journal = Path(sweep_dir) / JOURNAL_FILE
        if not journal.is_file():
            raise UserError(f"{journal} not found: {sweep_dir} is not a local sweep's folder "
                            "(vgg-sweep sweep SWEEP.yaml writes runs/<name>/study.log)")
        storage = str(journal)
    quiet_optuna()
    opened = open_storage(storage)
    try:
        server = make_server(host, port, wsgi(opened), server_class=_Server,
                             handler_class=_QuietHandler)
    except OSError as error:
        hint = "; choose another with --port" if error.errno == errno.EADDRINUSE else ""
        raise UserError(f"cannot listen on {host}:{port} ({error.strerror or error}){hint}"
                        ) from None
    click.echo(f"optuna-dashboard on {redact(storage)}: "
               f"http://{host}:{server.server_port}/dashboard/{_page(opened, name)}  "
               "(Ctrl-C stops it)")
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # stop alike on SIGTERM
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        click.echo("dashboard stopped")
    finally:
        server.server_close()


def _page(storage, name: str | None) -> str:
    """The sweep's own page, when the storage holds a study of that name."""
    try:
        return f"studies/{storage.get_study_id_from_name(name)}" if name else ""
    except KeyError:
        return ""
