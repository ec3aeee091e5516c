"""Engine, sessions and the declarative base.

SQLite is the embedded default (WAL, foreign keys on, a busy timeout); PostgreSQL is the
production database. On SQLite a write transaction starts with ``BEGIN IMMEDIATE`` so two
writers queue for the lock instead of failing when one upgrades a read to a write, and the
writers of one process queue in the process first (``_WriterQueue``): SQLite's own busy
handler polls with growing sleeps, which under a crowd starves some writers for the whole
timeout. Reads never take the write lock.

Connection pools are sized from the settings (``XIAODIAN_DB_POOL_SIZE``,
``XIAODIAN_DB_MAX_OVERFLOW``) and a request waits at most ``XIAODIAN_DB_POOL_TIMEOUT`` seconds
for a connection, then gets ``DatabaseBusy`` (503 with ``Retry-After``), never a 500.
"""

from __future__ import annotations

import enum
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DateTime, Engine, Enum, MetaData, create_engine, event, text
from sqlalchemy.orm import DeclarativeBase, Session, make_transient_to_detached, sessionmaker
from sqlalchemy.pool import QueuePool
from sqlalchemy.types import TypeDecorator

from xiaodian.errors import DomainError, _

# The largest value of an INTEGER column (every id, amount and count is one): a bigger
# number names no row, and a driver refuses to send it (a 500 instead of an answer).
MAX_ID = 2**31 - 1

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in, aware UTC datetimes out, on every backend."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def str_enum(cls: type[enum.Enum]) -> Enum:
    """Store an enum as its string value (a VARCHAR, portable and readable in SQL)."""
    return Enum(cls, native_enum=False, length=30, values_callable=lambda e: [m.value for m in e])


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {datetime: UTCDateTime()}  # noqa: RUF012 (SQLAlchemy API)


class DatabaseBusy(DomainError):
    """No connection (or, on SQLite, no turn to write) within the bounded wait: try again."""

    status_code = 503
    code = "busy"
    retry_after = 1


@dataclass(frozen=True)
class Pool:
    """How many connections one process may hold and how long a request waits for one.

    PostgreSQL's default ``max_connections`` is 100 (3 kept for superusers): the defaults
    (10 + 5 per process) let 4 server processes and a worker (75) fit with room to spare.
    """

    size: int = 10
    max_overflow: int = 5
    timeout: float = 5.0
    recycle: int = 1800  # seconds; instead of a ping on every checkout


SQLITE_BUSY_SECONDS = 30


def loaded(model: Any, values: dict[str, Any]) -> Any:
    """An ORM object for a row the caller has just written with ``values`` (every column,
    its id included), e.g. by one multi-row INSERT: add it to the session and it is
    persistent, with nothing left to load and nothing to write again."""
    missing = {c.key for c in model.__table__.columns} - set(values)
    if missing:
        raise ValueError(f"{model.__name__} built without {sorted(missing)}")
    obj = model(**values)
    make_transient_to_detached(obj)
    return obj


def make_engine(url: str, *, pool: Pool | None = None) -> Engine:
    pool = pool or Pool()
    if url.startswith("sqlite"):
        # A pool of open connections: opening a SQLite file and setting its pragmas costs
        # more than most queries, so a connection per request would dominate hot paths.
        # At least as many as the server's worker threads (40): a thread never waits for a
        # connection, only for its turn to write (the writer queue).
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_SECONDS},
            poolclass=QueuePool,
            pool_size=max(pool.size, 20),
            max_overflow=max(pool.max_overflow, 20),
            pool_timeout=SQLITE_BUSY_SECONDS,
        )
        _configure_sqlite(engine)
        return engine
    # No pool_pre_ping (a round trip on every checkout): connections are recycled instead,
    # and one that broke meanwhile is invalidated by the error it raises.
    return create_engine(
        url,
        pool_size=pool.size,
        max_overflow=pool.max_overflow,
        pool_timeout=pool.timeout,
        pool_recycle=pool.recycle,
    )


class _WriterQueue:
    """One writer at a time per process on SQLite, taken at ``BEGIN IMMEDIATE`` and given
    back when the transaction ends (commit, rollback, or the connection going back to the
    pool). Python's lock hands the turn over at once; SQLite's busy handler would poll."""

    def __init__(self) -> None:
        self._lock = threading.Lock()

    def take(self, record: dict[str, Any]) -> None:
        if record.get("writer"):
            return
        if not self._lock.acquire(timeout=SQLITE_BUSY_SECONDS):
            raise DatabaseBusy(_("The shop is very busy right now. Try again in a moment."))
        record["writer"] = True

    def give_back(self, record: dict[str, Any]) -> None:
        if record.pop("writer", False):
            self._lock.release()


def _configure_sqlite(engine: Engine) -> None:
    writers = _WriterQueue()

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event, not the driver, open transactions.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.close()

    # BEGIN straight on the driver's connection: through ``exec_driver_sql`` it cost as
    # much as the transaction's first query (a cursor, a result, the execute events).
    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        immediate = conn.get_execution_options().get("sqlite_immediate", False)
        driver = conn.connection.driver_connection
        if not immediate:
            driver.execute("BEGIN")
            return
        record = conn.connection.record_info
        writers.take(record)
        try:
            driver.execute("BEGIN IMMEDIATE")
        except BaseException:
            writers.give_back(record)
            raise

    # The turn goes back once COMMIT or ROLLBACK has run, not at the engine's "commit" /
    # "rollback" events, which fire before them: the next writer's BEGIN IMMEDIATE would
    # then find the database still locked and wait in SQLite's busy handler, which sleeps.
    dialect = engine.dialect
    commit, rollback = dialect.do_commit, dialect.do_rollback

    def _after(end: Any) -> Any:
        def ended(dbapi_connection: Any) -> None:
            try:
                end(dbapi_connection)
            finally:
                record = getattr(dbapi_connection, "record_info", None)
                if record is not None:
                    writers.give_back(record)

        return ended

    dialect.do_commit = _after(commit)  # type: ignore[method-assign]
    dialect.do_rollback = _after(rollback)  # type: ignore[method-assign]

    @event.listens_for(engine, "checkin")
    def _on_checkin(_dbapi_conn: Any, record: Any) -> None:
        writers.give_back(record.info)  # a connection never goes back holding the turn

    @event.listens_for(engine, "close")
    def _on_close(_dbapi_conn: Any, record: Any) -> None:
        writers.give_back(record.info)


class Database:
    """One engine and two session factories: reads, and writes (immediate on SQLite)."""

    def __init__(self, url: str, *, pool: Pool | None = None) -> None:
        self.url = url
        self.engine = make_engine(url, pool=pool)
        self.is_sqlite = self.engine.dialect.name == "sqlite"
        write_bind = (
            self.engine.execution_options(sqlite_immediate=True) if self.is_sqlite else self.engine
        )
        self._read = sessionmaker(self.engine, expire_on_commit=False)
        self._write = sessionmaker(write_bind, expire_on_commit=False)

    def session(self, *, write: bool = True) -> Session:
        return (self._write if write else self._read)()

    @contextmanager
    def begin(self, *, write: bool = True) -> Iterator[Session]:
        """A session for scripts and jobs; commits on success, rolls back on error."""
        with self.session(write=write) as db, db.begin():
            yield db

    def ping(self) -> bool:
        with self.engine.connect() as conn:
            return conn.execute(text("SELECT 1")).scalar() == 1

    def dispose(self) -> None:
        self.engine.dispose()
