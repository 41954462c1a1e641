"""SQLite WAL checkpoints in a background thread, not inside a request's COMMIT.

By default SQLite checkpoints on the connection whose COMMIT takes the WAL past 1,000
pages: it copies the pages into the database file and fsyncs it, inside that COMMIT. The
requests' connection lives on the event loop, so every request waited for that disk
flush: a ``POST /Users`` took 1.8 ms of wall time for 1.3 ms of CPU (docs/benchmarks.md).
The connections that serve requests therefore turn automatic checkpoints off, and this
thread runs a PASSIVE checkpoint (which never blocks readers or writers) after every
``every`` commits of theirs, and ``interval`` seconds after a last few. The sqlite3 driver
releases the GIL while SQLite works, so the event loop keeps serving meanwhile.

Every other connection (the pool's, other processes') keeps SQLite's default, so the
WAL stays bounded even where no checkpointer runs.
"""

import threading
from dataclasses import dataclass
from typing import Any

import structlog
from sqlalchemy.engine import Engine

log = structlog.get_logger("gateway.store.checkpoints")

#: What the connections serving requests set: no checkpoint inside their commits.
NO_AUTOMATIC_CHECKPOINT = "PRAGMA wal_autocheckpoint=0"


class Checkpointer:
    """Checkpoints one SQLite file's WAL from a daemon thread, started on first use."""

    def __init__(self, engine: Engine, *, every: int = 64, interval: float = 1.0) -> None:
        self.engine, self.every, self.interval = engine, every, interval
        self._commits = _Commits()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def committed(self) -> None:
        """Count a commit of a connection without automatic checkpoints."""
        self._commits.count += 1
        if self._thread is None:
            self._start()
        if self._commits.count % self.every == 0:
            self._wake.set()

    def stop(self) -> None:
        """Stop the thread (it finishes the checkpoint it is running, if any)."""
        self._stop.set()
        self._wake.set()

    def _start(self) -> None:
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(
                    target=_run,
                    args=(self.engine, self._commits, self._wake, self._stop, self.interval),
                    name="scimgw-wal-checkpoint",
                    daemon=True,
                )
                self._thread.start()


@dataclass
class _Commits:
    """The commits counted so far, shared with the thread."""

    count: int = 0


def _run(
    engine: Engine,
    commits: _Commits,
    wake: threading.Event,
    stop: threading.Event,
    interval: float,
) -> None:
    """The thread's loop; it holds no reference to its Checkpointer, which may go away."""
    connection = engine.raw_connection()
    checkpointed = 0
    try:
        while True:
            wake.wait(interval)
            if stop.is_set():
                return
            wake.clear()
            if commits.count != checkpointed:  # an idle server does not touch the file
                checkpointed = commits.count
                _checkpoint(connection)
    finally:
        connection.close()


def _checkpoint(connection: Any) -> None:
    try:
        cursor = connection.cursor()
        try:
            cursor.execute("PRAGMA wal_checkpoint(PASSIVE)")
            cursor.fetchall()
        finally:
            cursor.close()
    except Exception as exc:  # the next round tries again
        log.warning("wal_checkpoint_failed", error=str(exc))
