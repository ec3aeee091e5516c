"""When the database has no connection to spare, a request waits a bounded time and is told
to try again (503 with Retry-After), never 500; the pool is sized from the settings."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy.engine import make_url

from tests.factories import make_product, make_shop
from xiaodian.app import create_app
from xiaodian.db import Database, Pool
from xiaodian.settings import Settings


def test_the_pool_is_sized_from_the_settings(settings: Settings) -> None:
    conf = settings.model_copy(
        update={"db_pool_size": 3, "db_max_overflow": 2, "db_pool_timeout": 1.5}
    )
    assert conf.db_pool() == Pool(size=3, max_overflow=2, timeout=1.5)
    if not conf.is_sqlite:
        database = conf.database()
        try:
            pool: Any = database.engine.pool
            assert (pool.size(), pool._max_overflow, pool._timeout) == (3, 2, 1.5)
            assert not pool._pre_ping  # recycled instead of a ping per checkout
        finally:
            database.dispose()


@pytest.fixture
def tiny_pool(backend: str, database: Database, settings: Settings) -> Iterator[TestClient]:
    if backend == "sqlite":
        pytest.skip("SQLite's pool is never smaller than the server's threads (writers queue)")
    small = Database(database.url, pool=Pool(size=1, max_overflow=0, timeout=0.3))
    app = create_app(settings, database=small)
    try:
        with TestClient(app) as client:
            yield client
    finally:
        small.dispose()


def test_no_connection_within_the_timeout_is_503_with_retry_after(
    tiny_pool: TestClient, db: Any, make_user: Any
) -> None:
    shop = make_shop(db, make_user())
    product = make_product(db, shop)
    db.rollback()
    app_db: Database = tiny_pool.app.state.db  # type: ignore[attr-defined]
    held = app_db.engine.connect()  # the pool's only connection
    try:
        r = tiny_pool.get(f"/api/v1/products/{product.id}")
        assert r.status_code == 503, r.text
        assert r.headers["retry-after"] == "1"
        assert r.json()["error"]["code"] == "busy"
        page = tiny_pool.get(f"/p/{product.id}", headers={"Accept-Language": "en"})
        assert page.status_code == 503 and "text/html" in page.headers["content-type"]
    finally:
        held.close()
    assert tiny_pool.get(f"/api/v1/products/{product.id}").status_code == 200


def test_a_database_refusing_connections_is_503(
    backend: str, database: Database, settings: Settings
) -> None:
    """PostgreSQL's "too many connections" (here a role allowed no connection at all)."""
    if backend == "sqlite":
        pytest.skip("PostgreSQL's connection limit")
    role = f"xd_limited_{secrets.token_hex(4)}"
    admin = sa.create_engine(database.url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE ROLE "{role}" LOGIN CONNECTION LIMIT 0'))
    limited = Database(make_url(database.url).set(username=role).render_as_string(False))
    try:
        with TestClient(create_app(settings, database=limited)) as client:
            r = client.get("/api/v1/products/1")
        assert r.status_code == 503 and r.headers["retry-after"] == "1", r.text
    finally:
        limited.dispose()
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP ROLE "{role}"'))
        admin.dispose()
