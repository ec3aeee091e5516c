"""Fixtures every test can use: a fresh database per test (SQLite always, PostgreSQL when
``XIAODIAN_TEST_POSTGRES_URL`` is set), a frozen clock, settings, an app and clients, and
``count_queries`` for the tests that prove a page's number of SQL statements does not grow.

Each test run creates its own PostgreSQL database with a random name and drops it at the
end; each test starts from empty tables (reference data such as categories kept).
"""

from __future__ import annotations

import os
import secrets
import shutil
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from argon2 import PasswordHasher
from fastapi.testclient import TestClient
from sqlalchemy import event
from sqlalchemy.engine import make_url

from xiaodian import clock as clock_module
from xiaodian import domains, migrate
from xiaodian import settings as settings_module
from xiaodian.accounts import security
from xiaodian.db import Base, Database, Pool
from xiaodian.settings import Settings

domains.load()  # every domain's listeners registered, as in the app and the worker

PG_URL = os.environ.get("XIAODIAN_TEST_POSTGRES_URL", "")
REDIS_URL = os.environ.get("XIAODIAN_TEST_REDIS_URL", "")
KEEP_TABLES = {"categories", "alembic_version"}
# Append-only tables whose trigger refuses DELETE (the ledger's postings): emptied with
# TRUNCATE, which row triggers do not see.
APPEND_ONLY_TABLES = {"ledger_postings"}

# argon2 at full strength makes every sign-in 50+ ms; tests check behaviour, not cost.
security._hasher = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)

BACKENDS = [
    "sqlite",
    pytest.param(
        "postgresql",
        marks=[
            pytest.mark.postgres,
            pytest.mark.skipif(
                not PG_URL, reason="XIAODIAN_TEST_POSTGRES_URL is not set (PostgreSQL tests)"
            ),
        ],
    ),
]


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "template.db"
    database = Database(f"sqlite:///{path}")
    migrate.upgrade(database.engine)
    database.dispose()
    return path


@pytest.fixture(scope="session")
def pg_database_url() -> Iterator[str]:
    """One randomly named database for this run (per xdist worker), dropped at the end.
    Skips without ``XIAODIAN_TEST_POSTGRES_URL``, also for a test that asks for the
    PostgreSQL backend alone (its own parametrize has no skip mark)."""
    if not PG_URL:
        pytest.skip("XIAODIAN_TEST_POSTGRES_URL is not set (PostgreSQL tests)")
    name = f"xd_test_{secrets.token_hex(6)}"
    admin = sa.create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    database = Database(url)
    migrate.upgrade(database.engine)
    database.dispose()
    try:
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def database(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    if backend == "sqlite":
        template = request.getfixturevalue("sqlite_template")
        path = tmp_path / "xiaodian.db"
        shutil.copy(template, path)
        database = Database(f"sqlite:///{path}")
        yield database
        database.dispose()
        return
    url = request.getfixturevalue("pg_database_url")
    database = Database(url, pool=Pool(size=10))
    yield database
    _truncate(database)
    database.dispose()


def _truncate(database: Database) -> None:
    """Empty the tables a test wrote to and restart every id sequence at 1 (the tables in
    KEEP_TABLES keep their rows and sequences).

    TRUNCATE costs about as much for an empty table as for a full one: half a second per
    test for all of them. Asking which tables have rows, deleting those few (children
    first) and resetting the sequences takes milliseconds."""
    domains.load_models()
    children_first = [t.name for t in reversed(Base.metadata.sorted_tables)]
    with database.engine.begin() as conn:
        tables = [t for t in sa.inspect(conn).get_table_names() if t not in KEEP_TABLES]
        if not tables:
            return
        probe = " UNION ALL ".join(
            f"SELECT '{t}' WHERE EXISTS (SELECT 1 FROM \"{t}\")" for t in tables
        )
        written = set(conn.execute(sa.text(probe)).scalars())
        for table in (t for t in children_first if t in written):
            verb = "TRUNCATE" if table in APPEND_ONLY_TABLES else "DELETE FROM"
            conn.execute(sa.text(f'{verb} "{table}"'))
        unknown = written - set(children_first)  # made by a migration only (a search index)
        if unknown:
            conn.execute(sa.text("TRUNCATE " + ", ".join(f'"{t}"' for t in unknown)))
        sequences = conn.execute(
            sa.text(
                "SELECT s.oid::regclass::text FROM pg_class s"
                " JOIN pg_depend d ON d.objid = s.oid AND d.deptype IN ('a', 'i')"
                " JOIN pg_class t ON t.oid = d.refobjid"
                " WHERE s.relkind = 'S' AND t.relname = ANY(:tables)"
            ),
            {"tables": tables},
        ).scalars()
        restarts = ", ".join(f"setval('{s}', 1, false)" for s in sequences)
        if restarts:
            conn.execute(sa.text(f"SELECT {restarts}"))


# --- counting SQL statements ---------------------------------------------------------------------

# Transaction control: how many of these a block sends depends on how sessions are opened
# (and SQLite's BEGIN is sent by our "begin" hook), not on the data, so they are not counted.
_TRANSACTION_CONTROL = {"BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE"}


def _is_the_tests_own(statement: str) -> bool:
    words = statement.split(None, 1)
    if not words or words[0].upper() in _TRANSACTION_CONTROL:
        return False
    # The live rooms' event outbox is polled every 0.2 s on a thread of its own while the app
    # runs (SELECT ... FROM live_events, now and then a DELETE): not the block's statements.
    return "live_events" not in statement.lower()


class QueryCounter:
    """The SQL statements sent while a ``count_queries()`` block ran: ``statements`` (their
    text, in order) and ``count`` (how many)."""

    def __init__(self, only: Callable[[str], bool] | None = None) -> None:
        self.statements: list[str] = []
        self._only = only

    def __call__(self, _conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if _is_the_tests_own(statement) and (self._only is None or self._only(statement)):
            self.statements.append(statement)

    @property
    def count(self) -> int:
        return len(self.statements)


@pytest.fixture
def count_queries(database: Database) -> Callable[..., AbstractContextManager[QueryCounter]]:
    """Count the SQL statements a block sends, to show a page costs the same number of
    queries whatever the amount of data (no N+1)::

        with count_queries() as counter:
            client.get(url)
        assert counter.count == 5, counter.statements

    Every statement on ``database.engine`` is seen (``before_cursor_execute``), from any
    thread, so two kinds are left out because they are not the block's own work and would
    make a count vary from run to run:

    - transaction control (BEGIN, COMMIT, ROLLBACK, SAVEPOINT, RELEASE SAVEPOINT);
    - any statement that names the ``live_events`` table: an app started by the test polls
      that event outbox on its own thread every 0.2 s, so a request that takes a little
      longer would otherwise count the poll's statements too.

    The token cache (``accounts.authcache``) is emptied when a block starts, so a block's
    first request of each token counts its one lookup, however many ran before it.

    ``count_queries(only=lambda statement: ...)`` keeps, of the rest, only the statements the
    predicate accepts (e.g. only SELECTs, or only those that read one domain's tables).
    """

    @contextmanager
    def _count(only: Callable[[str], bool] | None = None) -> Iterator[QueryCounter]:
        from xiaodian.accounts import authcache

        authcache.clear()  # each block looks its tokens up once, whatever ran before it
        counter = QueryCounter(only)
        event.listen(database.engine, "before_cursor_execute", counter)
        try:
            yield counter
        finally:
            event.remove(database.engine, "before_cursor_execute", counter)

    return _count


@dataclass(frozen=True)
class RedisTarget:
    """The test's Redis: ``url`` (the database number of ``XIAODIAN_TEST_REDIS_URL``), a
    ``prefix`` of its own for every key and channel, and a ``client`` to look at them."""

    url: str
    prefix: str
    client: Any


@pytest.fixture
def redis_target() -> Iterator[RedisTarget]:
    """Skips without ``XIAODIAN_TEST_REDIS_URL``. Each test gets a random key prefix (its
    ``[sqlite]`` and ``[postgresql]`` runs, and other runs on the same server, never meet)
    and its keys are deleted after it."""
    if not REDIS_URL:
        pytest.skip("XIAODIAN_TEST_REDIS_URL is not set (Redis tests)")
    import redis

    prefix = f"xdtest:{secrets.token_hex(6)}:"
    client = redis.Redis.from_url(REDIS_URL)
    try:
        yield RedisTarget(REDIS_URL, prefix, client)
    finally:
        keys = list(client.scan_iter(match=prefix + "*", count=1000))
        for start in range(0, len(keys), 500):
            client.delete(*keys[start : start + 500])
        client.close()


@pytest.fixture(autouse=True)
def clock() -> Iterator[clock_module.FrozenClock]:
    frozen = clock_module.FrozenClock(datetime.now(UTC).replace(microsecond=0))
    previous = clock_module.use(frozen)
    yield frozen
    clock_module.use(previous)


@pytest.fixture
def settings(tmp_path: Path, database: Database) -> Iterator[Settings]:
    conf = Settings(
        data_dir=tmp_path / "data",
        database_url=database.url,
        secret_key="test-secret-key-" + "x" * 32,
        max_image_bytes=512 * 1024,
        max_video_bytes=2 * 1024 * 1024,
    ).resolved()
    previous = settings_module._current
    settings_module.install(conf)
    yield conf
    settings_module._current = previous


@pytest.fixture
def db(database: Database, settings: Settings) -> Iterator[Any]:
    """A session for the test itself. Deferred (not IMMEDIATE) on SQLite: in WAL mode its
    reads do not block the app's writers while a test calls the app between statements."""
    with database.session(write=False) as session:
        yield session


@pytest.fixture
def app(settings: Settings, database: Database) -> Any:
    from xiaodian.app import create_app

    return create_app(settings, database=database)


@pytest.fixture
def client(app: Any) -> Iterator[TestClient]:
    with TestClient(app) as test_client:
        yield test_client


@pytest.fixture
def app_saw(client: TestClient) -> Iterator[list[str]]:
    """The paths of the requests that went past the web fast path into the app (a request
    answered on the fast path is not in it)."""
    from xiaodian.web.fastpath import FastPath

    client.get("/healthz")  # builds the middleware stack
    stack = client.app.middleware_stack  # type: ignore[attr-defined]
    assert isinstance(stack, FastPath)
    inner, seen = stack.app, []

    async def counting(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            seen.append(scope["path"])
        await inner(scope, receive, send)

    stack.app = counting
    yield seen
    stack.app = inner


@pytest.fixture
def make_user(database: Database, settings: Settings) -> Any:
    """make_user(login=..., password=..., operator=False, creator=False) -> User."""
    from xiaodian.accounts import service

    counter = iter(range(10_000_000))

    def _make(
        login: str | None = None,
        password: str = "secret123",
        display_name: str = "",
        *,
        operator: bool = False,
        creator: bool = False,
    ) -> Any:
        login = login or f"1{next(counter) + 3500000000:010d}"
        with database.session() as session:
            user = service.register(
                session, login=login, password=password, display_name=display_name
            )
            user.is_operator = operator
            user.is_creator = creator
            session.commit()
            return user

    return _make


@pytest.fixture
def login_client(app: Any) -> Any:
    """login_client(user, password="secret123") -> a TestClient signed in by cookie."""
    clients: list[TestClient] = []

    def _login(user: Any, password: str = "secret123") -> TestClient:
        c = TestClient(app)
        c.__enter__()
        clients.append(c)
        c.get("/login")
        r = c.post(
            "/login",
            data={
                "login": user.login_name,
                "password": password,
                "csrf_token": c.cookies.get("xd_csrf", ""),
            },
            follow_redirects=False,
        )
        assert r.status_code == 303, r.text
        return c

    yield _login
    for c in clients:
        c.__exit__(None, None, None)


@pytest.fixture
def api_client(app: Any, database: Database) -> Any:
    """api_client(user) -> a TestClient that sends a bearer token for ``user``."""
    from xiaodian.accounts import service

    def _client(user: Any) -> TestClient:
        with database.session() as session:
            token = service.issue_token(session, user_id=user.id)
        return TestClient(app, headers={"Authorization": f"Bearer {token}"})

    return _client
