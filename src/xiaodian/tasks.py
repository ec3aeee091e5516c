"""Background work on huey: one queue, jobs that are idempotent service calls.

Every job is a thin wrapper around a service function that takes a session and does its
work in one transaction, safe to run twice or after a crash (it selects what is due, and
each row's change is guarded by its state). Tests call those service functions directly
under the frozen clock; the worker only decides *when* they run.

The queue lives in SQLite (``DATA_DIR/tasks.db``) by default and in Redis when
``XIAODIAN_REDIS_URL`` is set. ``xiaodian worker`` runs a consumer; ``xiaodian demo`` runs
one in-process (threads, no signal handlers of its own).

Domains register jobs in their ``jobs.py`` with ``@huey.periodic_task(...)`` or
``@huey.task(...)`` and open sessions with :func:`job_session`.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from huey import Huey
from huey.consumer import Consumer
from huey.storage import MemoryStorage, RedisStorage, SqliteStorage
from sqlalchemy.orm import Session

from xiaodian.db import Database
from xiaodian.settings import Settings

log = logging.getLogger(__name__)

JOB_MODULES = (
    "xiaodian.orders.jobs",
    "xiaodian.payments.jobs",
    "xiaodian.logistics.jobs",
    "xiaodian.aftersales.jobs",
    "xiaodian.ledger.jobs",
    "xiaodian.content.jobs",
    "xiaodian.content.live.jobs",
    "xiaodian.health.jobs",
    "xiaodian.violations.jobs",
    "xiaodian.wechat.jobs",
    "xiaodian.campaigns.jobs",
)

huey = Huey("xiaodian", results=False, utc=True, storage_class=MemoryStorage)

_database: Database | None = None


def configure(settings: Settings, *, database: Database | None = None) -> Huey:
    """Point the queue at its storage and the jobs at the database; import every job."""
    global _database
    if settings.redis_url:
        # The queue's keys carry the deployment's prefix, as realtime's channels do: two
        # shops (or two test runs) on one Redis never take each other's jobs.
        huey.name = f"{settings.redis_prefix}tasks"
        huey.storage_class = RedisStorage
        huey.storage_kwargs = {"url": settings.redis_url, "clean_name": False}
    else:
        huey.name = "xiaodian"
        assert settings.data_dir is not None
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        huey.storage_class = SqliteStorage
        huey.storage_kwargs = {"filename": str(settings.data_dir / "tasks.db")}
    huey.storage = huey.create_storage()
    _database = database or settings.database()
    load_jobs()
    return huey


def reset() -> None:
    """Back to the in-memory queue and no database (tests that ran a real worker)."""
    global _database
    huey.name = "xiaodian"
    huey.storage_class = MemoryStorage
    huey.storage_kwargs = {}
    huey.storage = huey.create_storage()
    _database = None


def load_jobs() -> None:
    for name in JOB_MODULES:
        importlib.import_module(name)


@contextmanager
def job_session() -> Iterator[Session]:
    """A write session for one job; commit is the job's own business (one transaction)."""
    if _database is None:
        raise RuntimeError("xiaodian.tasks.configure() was not called")
    with _database.session() as session:
        yield session


def enqueue(task: Any, *args: Any, **kwargs: Any) -> None:
    """Queue a task; if the queue cannot be reached, log it (periodic jobs catch up)."""
    try:
        task(*args, **kwargs)
    except Exception:  # pragma: no cover - storage outage
        log.exception("could not enqueue %s", getattr(task, "name", task))


class _InProcessConsumer(Consumer):  # type: ignore[misc]
    """A consumer that runs beside the web server: the server owns the signals."""

    def _set_signal_handlers(self) -> None:
        return None


def start_in_process(workers: int = 2) -> Consumer:
    consumer = _InProcessConsumer(huey, workers=workers, worker_type="thread", periodic=True)
    consumer.start()
    return consumer


def run_worker(workers: int = 2) -> None:
    """Run the consumer in the foreground until interrupted (``xiaodian worker``)."""
    consumer = huey.create_consumer(workers=workers, worker_type="thread", periodic=True)
    consumer.run()
