"""Where a local study lives: a journal file on one machine, PostgreSQL across machines.

Optuna's journal file (`runs/<sweep>/study.log`) is append-only with a file lock, safe for
many processes on one machine and needs no server. Across machines, a PostgreSQL (or MySQL)
server through `RDBStorage`. SQLite is refused with more than one process: its locking loses
or duplicates trials under concurrent writers.
"""

from __future__ import annotations

import re
from pathlib import Path

import optuna
from optuna.storages import BaseStorage, JournalStorage, RDBStorage
from optuna.storages.journal import JournalFileBackend, JournalFileSymlinkLock

from vgg_sweep.errors import UserError

JOURNAL_FILE = "study.log"
# A writer killed while holding the journal's lock (kill -9 mid-append) blocks the others until
# the lock is this old; appends take milliseconds, so Optuna's default of 30 s is only delay.
JOURNAL_LOCK_GRACE = 10
RDB_SCHEMES = ("postgresql", "postgres", "mysql", "sqlite")


def default_journal(runs_dir: Path, sweep: str) -> str:
    return str(Path(runs_dir) / sweep / JOURNAL_FILE)


def is_rdb(url: str) -> bool:
    return url.split(":", 1)[0].split("+", 1)[0] in RDB_SCHEMES


def check_storage(url: str, workers: int) -> None:
    """Refuse what would corrupt a study, before any worker starts."""
    if url.startswith("sqlite") and workers > 1:
        raise UserError(f"--storage {url}: SQLite loses or duplicates trials with several "
                        "workers; drop --storage (journal file) or use postgresql://")


def open_storage(url: str) -> BaseStorage:
    """A storage for `url`: an RDB URL, or else the path of a journal file."""
    if not is_rdb(url):
        Path(url).parent.mkdir(parents=True, exist_ok=True)
        lock = JournalFileSymlinkLock(url, grace_period=JOURNAL_LOCK_GRACE)
        return JournalStorage(JournalFileBackend(url, lock_obj=lock))
    if url.startswith("postgres://"):  # SQLAlchemy knows only the long name
        url = "postgresql://" + url.removeprefix("postgres://")
    try:
        return RDBStorage(url, engine_kwargs={"pool_pre_ping": True})
    except (ImportError, ModuleNotFoundError) as error:
        raise UserError(f"--storage {redact(url)}: {error}; pip install "
                        "'vgg-sweep[postgres]'") from None
    except Exception as error:  # the driver's own error names the cause (auth, host, db)
        reason = str(error).strip().splitlines()[0] if str(error).strip() else repr(error)
        raise UserError(f"--storage {redact(url)}: cannot connect ({reason})") from None


def redact(url: str) -> str:
    """The URL with its password hidden, for messages."""
    return re.sub(r"(//[^:/@]+:)[^@]*@", r"\1***@", url)


def quiet_optuna() -> None:
    """Our own lines report trials; Optuna's per-trial logging would repeat them."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
