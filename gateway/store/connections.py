"""The connections a :class:`~gateway.service.ResourceService` runs its statements on.

On a SQLite file, each thread keeps one connection for itself: checking a connection out
of the pool and resetting it on return took 70 µs, twice as long as ``BEGIN IMMEDIATE``
and ``COMMIT`` themselves and more than the index lookup a ``GET`` needs
(docs/benchmarks.md). Reads run on it outside any transaction: the driver is in
autocommit mode, so each statement reads its own snapshot of what is committed now, by
this process or any other (``serve --workers N``), and nothing read is kept between
statements. Writes begin a transaction on it. SQLite calls run on the event loop's thread
(gateway.store.calls), so that is one connection per process. Its commits leave WAL
checkpoints to a background thread (gateway.store.checkpoints).

Every other database (PostgreSQL, whose calls run in a thread pool) gets a pooled
connection per call. On PostgreSQL the reads run in autocommit mode: a statement reads one
snapshot by itself, and psycopg then sends neither BEGIN nor, when the pool takes the
connection back, ROLLBACK: one round trip per read instead of three.
"""

import os
import threading
import weakref
from collections.abc import Iterator
from contextlib import AbstractContextManager, closing, contextmanager
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from gateway.store.checkpoints import NO_AUTOMATIC_CHECKPOINT, Checkpointer
from gateway.store.database import is_sqlite_file, writer


class Connections:
    """Cursors for reads and transactions for writes on one engine; thread-safe."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.writer = writer(engine)
        self.kept = is_sqlite_file(engine)
        self._local = threading.local()
        self._opened: list[sa.Connection] = []
        self._lock = threading.Lock()
        self.checkpointer = Checkpointer(engine)
        # Close the kept connections and stop the checkpoints when this object goes.
        weakref.finalize(self, _close_all, self._opened, self.checkpointer)

    def cursor(self) -> AbstractContextManager[Any]:
        """A DBAPI cursor outside any transaction, for one statement or a few."""
        if self.kept:
            return closing(self._kept()[1].cursor())
        return _pooled_cursor(self.engine)

    @contextmanager
    def transaction(self) -> Iterator[sa.Connection]:
        """A read-write transaction, committed when the block ends, else rolled back.

        On SQLite it begins IMMEDIATE (gateway.store.database.writer).
        """
        if not self.kept:
            with self.writer.begin() as connection:
                yield connection
            return
        connection = self._kept()[0]
        with connection.begin():
            yield connection
        self.checkpointer.committed()

    def close(self) -> None:
        """Close the kept connections (of every thread) and stop the checkpoints."""
        with self._lock:
            opened = list(self._opened)
            self._opened.clear()
        _close_all(opened, self.checkpointer)
        self._local = threading.local()

    def _kept(self) -> tuple[sa.Connection, Any]:
        """This thread's connection, and its DBAPI connection (for cursors, directly)."""
        kept = getattr(self._local, "kept", None)
        # A forked child must not use its parent's connection (SQLite forbids it); one
        # that a failure closed or invalidated is replaced.
        if kept is None or kept[0] != os.getpid() or kept[1].closed or kept[1].invalidated:
            connection = self.writer.connect()
            # Out of the pool for good: its checkpoint setting must not reach other users.
            connection.detach()
            dbapi = connection.connection.dbapi_connection
            dbapi.execute(NO_AUTOMATIC_CHECKPOINT)  # type: ignore[union-attr]
            with self._lock:
                self._opened.append(connection)
            self._local.kept = kept = (os.getpid(), connection, dbapi)
        return kept[1], kept[2]


def _close_all(connections: list[sa.Connection], checkpointer: Checkpointer) -> None:
    checkpointer.stop()
    for connection in connections:
        connection.close()


@contextmanager
def _pooled_cursor(engine: Engine) -> Iterator[Any]:
    connection = engine.raw_connection()
    autocommit = engine.dialect.name == "postgresql"
    try:
        if autocommit:
            connection.driver_connection.autocommit = True  # type: ignore[union-attr]
        with closing(connection.cursor()) as cursor:
            yield cursor
    finally:
        try:
            if autocommit:
                connection.driver_connection.autocommit = False  # type: ignore[union-attr]
        finally:
            connection.close()  # back to the pool, which ends any driver transaction
