"""Engines for SQLite (embedded default) and PostgreSQL (production).

Nothing here connects at import time: :func:`create_engine` is called by the app factory
and the CLI with the URL from settings.
"""

import time
from pathlib import Path
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from gateway.store.folding import fold

SQLITE_BUSY_TIMEOUT_MS = 10_000
#: PostgreSQL connections kept open: one for each of the request threads
#: (gateway.store.calls.REQUEST_THREADS, 40) and the delivery worker's own (4). A connection
#: beyond ``pool_size`` is closed when it returns, so a smaller pool under a steady load
#: of 32 concurrent requests opened a new connection every ~6 requests (issue 11).
POSTGRES_POOL_SIZE = 44
POSTGRES_MAX_OVERFLOW = 10
#: A pooled connection idle longer than this is pinged before use; one in steady use is
#: not (``pool_pre_ping`` cost a round trip on every request, a third of a GET's).
PING_AFTER_IDLE_S = 10.0


def normalize_url(url: str) -> str:
    """Map the URLs operators write to the drivers we ship.

    ``postgresql://`` and ``postgres://`` mean psycopg 3, not psycopg2.
    """
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def _json_dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


def create_engine(url: str, **kwargs: Any) -> Engine:
    """Create an engine; on SQLite, WAL mode, a busy timeout and foreign keys.

    JSON documents go through orjson: the stdlib's json.loads was a fifth of a
    100-resource list (benchmarks/).
    """
    url = normalize_url(url)
    kwargs.setdefault("json_serializer", _json_dumps)
    kwargs.setdefault("json_deserializer", orjson.loads)
    if url.startswith("sqlite"):
        return _sqlite_engine(url, **kwargs)
    if "poolclass" not in kwargs:
        kwargs.setdefault("pool_size", POSTGRES_POOL_SIZE)
        kwargs.setdefault("max_overflow", POSTGRES_MAX_OVERFLOW)
    engine = sa.create_engine(url, **kwargs)
    if not kwargs.get("pool_pre_ping"):
        sa.event.listen(engine, "checkin", _checked_in)
        sa.event.listen(engine, "checkout", _ping_if_idle)
    return engine


def _checked_in(_dbapi_connection: Any, record: Any) -> None:
    if record is not None:
        record.info["checked_in"] = time.monotonic()


def _ping_if_idle(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
    """Ping a connection that sat idle (the server may have restarted, a firewall may
    have dropped it): a dead one is replaced before the caller sees it.

    Raising ``DisconnectionError`` here makes the pool discard the connection and check
    out another (SQLAlchemy's "pessimistic" disconnect handling). A connection in steady
    use is not pinged; if the server restarts under load, the first statement on each
    dead connection fails, and SQLAlchemy then invalidates the whole pool.
    """
    idle_since = record.info.get("checked_in")
    if idle_since is None or time.monotonic() - idle_since < PING_AFTER_IDLE_S:
        return
    try:
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("SELECT 1")
        finally:
            cursor.close()
        if not dbapi_connection.autocommit:
            dbapi_connection.rollback()  # the ping's transaction: back to idle
    except Exception as exc:
        raise sa.exc.DisconnectionError(str(exc)) from exc


def _sqlite_engine(url: str, **kwargs: Any) -> Engine:
    # ``sqlite://`` names no database file: SQLite then opens one in memory.
    database = sa.engine.make_url(url).database or ":memory:"
    in_memory = database == ":memory:"
    if not in_memory:
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    if "poolclass" not in kwargs and not in_memory:
        # Connections beyond pool_size are closed on return, and a new one pays for the
        # PRAGMAs below: keep as many as there can be concurrent callers (anyio's
        # thread limiter allows 40), so none is opened per request.
        kwargs.setdefault("pool_size", 40)
        kwargs.setdefault("max_overflow", 10)
    engine = sa.create_engine(
        url, connect_args={"check_same_thread": False, "timeout": 30}, **kwargs
    )
    sa.event.listen(engine, "connect", _configure_sqlite)
    sa.event.listen(engine, "begin", _begin_immediate)
    return engine


def _fold(value: Any) -> Any:
    return fold(value) if isinstance(value, str) else value


def fold_sql(value: Any, dialect: str) -> sa.ColumnElement[Any]:
    """Case-fold a SQL string the way :func:`gateway.scim.kinds.fold` folds Python ones.

    SQLite's own ``lower()`` only knows ASCII, so SQLite gets the Python function,
    registered on every connection; PostgreSQL's ``lower()`` is Unicode-aware.
    """
    if dialect == "sqlite":
        return sa.func.scimgw_fold(value)
    return sa.func.lower(value)


def _configure_sqlite(dbapi_connection: Any, _record: Any) -> None:
    # The driver's own transaction handling is turned off so that "begin" below can
    # take the write lock up front: a deferred transaction that upgrades to a writer
    # later fails with SQLITE_BUSY instead of waiting for the busy timeout.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    # Index lookups at 1M users: the 2 MB default page cache made them 5x slower than at
    # 1k; memory-mapped reads and a 64 MB cache keep them flat (docs/benchmarks.md).
    cursor.execute("PRAGMA mmap_size=1073741824")
    cursor.execute("PRAGMA cache_size=-65536")
    cursor.close()
    dbapi_connection.create_function("scimgw_fold", 1, _fold, deterministic=True)


def is_sqlite_file(engine: Engine) -> bool:
    """Whether the engine's database is a SQLite file (not in memory)."""
    database = engine.url.database
    return engine.dialect.name == "sqlite" and bool(database) and database != ":memory:"


def _begin_immediate(connection: sa.Connection) -> None:
    mode = connection.get_execution_options().get("sqlite_begin", "DEFERRED")
    if mode != "NONE":
        # Straight to the driver: exec_driver_sql would run SQLAlchemy's whole statement
        # machinery for a constant, on every write (about 5 % of a POST).
        connection.connection.dbapi_connection.execute(f"BEGIN {mode}")  # type: ignore[union-attr]


def reader(engine: Engine) -> Engine:
    """The engine to use for read-only work.

    On SQLite no BEGIN is sent: each SELECT then reads its own consistent snapshot, which
    saves a statement per request on the hottest path (GET).
    """
    if engine.dialect.name == "sqlite":
        return engine.execution_options(sqlite_begin="NONE")
    return engine


def writer(engine: Engine) -> Engine:
    """The engine to use for read-write transactions.

    On SQLite this begins transactions IMMEDIATE (take the write lock at BEGIN, waiting
    up to the busy timeout), so concurrent writers queue instead of failing.
    """
    if engine.dialect.name == "sqlite":
        return engine.execution_options(sqlite_begin="IMMEDIATE")
    return engine
