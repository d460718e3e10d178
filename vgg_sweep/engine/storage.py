"""Where a local study lives: a journal file on one machine, PostgreSQL across machines.

Optuna's journal file (`runs/<sweep>/study.log`) is append-only with a file lock, safe for
many processes on one machine and needs no server. An append that fails (a full disk) is cut
off again, so the journal stays readable and the sweep resumes once there is space. Across
machines, a PostgreSQL (or MySQL) server through `RDBStorage`; while the server cannot be
reached (a restart, a failover) every call is retried with backoff for RECONNECT_SECONDS,
after one warning line. SQLite is refused with more than one process: its locking loses or
duplicates trials under concurrent writers.

`STORAGES` maps a URL scheme to its kind (how to open it, whether it needs `runs/<sweep>/` on
this machine, whether several workers may share it); anything else is a journal file's path.
A new storage is one entry there.
"""

from __future__ import annotations

import abc
import json
import os
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna
from optuna.storages import BaseStorage, JournalStorage, RDBStorage, _CachedStorage
from optuna.storages.journal import JournalFileBackend, JournalFileSymlinkLock

from vgg_sweep.errors import UserError, warn

JOURNAL_FILE = "study.log"
# A writer killed while holding the journal's lock (kill -9 mid-append) blocks the others until
# the lock is this old; appends take milliseconds, so Optuna's default of 30 s is only delay.
JOURNAL_LOCK_GRACE = 10
RECONNECT_SECONDS = 60.0  # how long a worker waits for a database server to come back


def default_journal(runs_dir: Path, sweep: str) -> str:
    return str(Path(runs_dir) / sweep / JOURNAL_FILE)


def check_storage(url: str, workers: int) -> None:
    """Refuse what would corrupt a study, before any worker starts."""
    alone = storage_kind(url).one_worker_only
    if workers > 1 and alone:
        raise UserError(f"--storage {url}: {alone}; drop --storage (journal file) or use "
                        "postgresql://")


def open_storage(url: str) -> BaseStorage:
    """A storage for `url`: a database URL, or else the path of a journal file."""
    return storage_kind(url).open(url)


def _open_journal(path: str) -> BaseStorage:
    try:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        return JournalStorage(_JournalFile(path))
    except OSError as error:
        raise _journal_error(path, error) from None


def _open_database(url: str) -> BaseStorage:
    if url.startswith("postgres://"):  # SQLAlchemy knows only the long name
        url = "postgresql://" + url.removeprefix("postgres://")
    try:
        return _Reconnecting(_CachedStorage(RDBStorage(url, engine_kwargs={"pool_pre_ping": True})),
                             url)
    except (ImportError, ModuleNotFoundError) as error:
        raise UserError(f"--storage {redact(url)}: {error}; pip install "
                        "'vgg-sweep[postgres]'") from None
    except Exception as error:  # the driver's own error names the cause (auth, host, db)
        raise UserError(f"--storage {redact(url)}: cannot connect ({_first_line(error)})"
                        ) from None


@dataclass(frozen=True)
class StorageKind:
    open: Callable[[str], BaseStorage]
    local_dir: bool  # lives in runs/<sweep>/ on this machine, which must be writable
    one_worker_only: str | None = None  # why several workers may not share it


JOURNAL = StorageKind(_open_journal, local_dir=True)
DATABASE = StorageKind(_open_database, local_dir=False)
STORAGES = {  # URL scheme (before any +driver) -> kind; no scheme: a journal file's path
    "postgresql": DATABASE,
    "postgres": DATABASE,
    "mysql": DATABASE,
    "sqlite": StorageKind(_open_database, local_dir=False, one_worker_only="SQLite loses or "
                          "duplicates trials with several workers"),
}


def storage_kind(url: str) -> StorageKind:
    return STORAGES.get(url.split(":", 1)[0].split("+", 1)[0], JOURNAL)


def redact(url: str) -> str:
    """The URL with its password hidden, for messages."""
    return re.sub(r"(//[^:/@]+:)[^@]*@", r"\1***@", url)


def quiet_optuna() -> None:
    """Our own lines report trials and storage trouble; Optuna's logging would repeat them
    (and, while a database server restarts, print its errors with their SQL)."""
    optuna.logging.set_verbosity(optuna.logging.ERROR)


# --- the journal file ----------------------------------------------------------------------------

class _JournalFile(JournalFileBackend):
    """Optuna's journal file, except that an append that fails half-way is cut off again: a
    half line followed by other processes' appends would make the whole journal unreadable.
    (Optuna appends one line per call, and readers skip a line without its newline.)"""

    def __init__(self, path: str):
        self.path = path
        self.lock = JournalFileSymlinkLock(path, grace_period=JOURNAL_LOCK_GRACE)
        super().__init__(path, lock_obj=self.lock)

    def append_logs(self, logs: list[dict[str, Any]]) -> None:
        data = "".join(json.dumps(log, separators=(",", ":")) + "\n" for log in logs).encode()
        try:
            self.lock.acquire()
            try:
                self._append(data)
            finally:
                self.lock.release()
        except OSError as error:
            raise _journal_error(self.path, error) from None

    def _append(self, data: bytes) -> None:
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            size = os.fstat(fd).st_size
            try:
                written = 0
                while written < len(data):
                    written += os.write(fd, data[written:])
            except OSError:
                os.ftruncate(fd, size)
                raise
            os.fsync(fd)
        finally:
            os.close(fd)


def _journal_error(path: str, error: OSError) -> UserError:
    return UserError(f"{path}: cannot write the sweep's journal ({error.strerror or error}); "
                     "free space or fix that, then run the same command again to resume")


# --- a database server that goes away ------------------------------------------------------------

class _Reconnecting(BaseStorage):
    """Every call of the wrapped storage, retried with backoff while the server cannot be
    reached, for up to RECONNECT_SECONDS; one warning line per outage."""

    def __init__(self, inner: BaseStorage, url: str):
        self.inner, self.url = inner, url
        self._warned = threading.Event()

    def call(self, method: Callable, *args, **kwargs) -> Any:
        deadline, delay = time.monotonic() + RECONNECT_SECONDS, 0.5
        while True:
            try:
                result = method(*args, **kwargs)
            except Exception as error:
                if not _connection_lost(error):
                    raise
                if time.monotonic() + delay > deadline:
                    raise UserError(f"--storage {redact(self.url)}: the server has not answered "
                                    f"for {RECONNECT_SECONDS:g} s ({_first_line(error)}); "
                                    "start it, then run the same command again to resume"
                                    ) from None
                if not self._warned.is_set():
                    self._warned.set()
                    warn(f"--storage {redact(self.url)}: connection lost "
                         f"({_first_line(error)}); retrying for up to {RECONNECT_SECONDS:g} s")
                time.sleep(delay)
                delay = min(2 * delay, 2.0)
                continue
            self._warned.clear()
            return result


def _delegate(name: str) -> Callable:
    def method(self: _Reconnecting, *args, **kwargs):
        return self.call(getattr(self.inner, name), *args, **kwargs)

    method.__name__ = name
    return method


for _name in [n for n, v in vars(BaseStorage).items() if callable(v) and not n.startswith("_")]:
    setattr(_Reconnecting, _name, _delegate(_name))
abc.update_abstractmethods(_Reconnecting)


def _connection_lost(error: BaseException | None) -> bool:
    """A dropped or refused connection, anywhere in the chain of errors (Optuna wraps
    SQLAlchemy's, which wraps the driver's; a session left by one names it as context)."""
    from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError, PendingRollbackError

    for _ in range(8):
        if error is None:
            return False
        if isinstance(error, OperationalError | InterfaceError | PendingRollbackError) or (
                isinstance(error, DBAPIError) and error.connection_invalidated):
            return True
        error = error.__cause__ or error.__context__
    return False


def _first_line(error: BaseException) -> str:
    cause = error.__cause__ or error
    lines = [line.strip() for line in str(cause).splitlines() if line.strip()]
    return lines[0][:200] if lines else type(cause).__name__
